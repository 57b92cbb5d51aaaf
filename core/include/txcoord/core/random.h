#pragma once
// Injectable randomness (jitter, ids, chaos schedules). Tests pass a SeededRandom so runs
// replay exactly; production uses Random::System().
// Thread-safety: every Random is safe to call from any thread.
#include <cstdint>
#include <mutex>
#include <random>

namespace txcoord {

class Random {
 public:
  virtual ~Random() = default;
  virtual std::uint64_t Next() = 0;  // uniform over all 64-bit values

  // Uniform in [0, bound); bound 0 returns 0.
  std::uint64_t Below(std::uint64_t bound);
  // Uniform in [0.0, 1.0).
  double Unit();

  // Process-wide generator seeded from std::random_device. Never destroyed.
  static Random& System();
};

class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t Next() override {
    std::lock_guard<std::mutex> lock(mu_);
    return engine_();
  }

 private:
  std::mutex mu_;
  std::mt19937_64 engine_;
};

}  // namespace txcoord
