# txcoord — the commands a person types. `make test` and `make demo` do all the set-up.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
BUILD_TYPE ?= RelWithDebInfo
# CI builds with -Werror.
WERROR ?= $(if $(filter true,$(CI)),ON,OFF)
export BUILD_DIR

.PHONY: all deps configure build test chaos sim demo bench services-start services-stop format clean

all: build

deps:
	scripts/install-deps

configure: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTXC_WERROR=$(WERROR) $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	scripts/run-tests

# Long chaos run: make chaos ROUNDS=50 SEED=7 (fresh servers, started and stopped).
chaos: build
	ROUNDS=$(ROUNDS) SEED=$(SEED) scripts/run-chaos

# The deterministic 2PC simulation: make sim SEEDS=100000 FROM=1 (a failing seed prints its
# replay command: build/bin/sim --seed S -v). No servers needed.
SEEDS ?= 10000
FROM ?= 1
sim: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) -t sim
	$(BUILD_DIR)/bin/sim --seeds $(SEEDS) --from $(FROM)

demo: build
	scripts/demo

bench: build
	scripts/run-bench

services-start:
	scripts/services start

services-stop:
	scripts/services stop

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
