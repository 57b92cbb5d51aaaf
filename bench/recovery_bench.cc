// recovery_bench: how long txcoordd takes from process start to /readyz with N unfinished
// transactions in its WAL, and what each one costs in memory (docs/performance.md).
//
//  1. Writes the WAL with the real engine (TransactionManager, WAL with fdatasync): N one-shot
//     2PC transactions of two branches whose participants vote yes and then stay unreachable
//     (Commit answers Unavailable), so every transaction stays in phase 2 (COMMIT durable,
//     no END). Unless --no-checkpoint, a final checkpoint holds them all (what a coordinator
//     that ran for a while has: a checkpoint and a short tail), written while a thread submits
//     probe transactions one after another (they finish): the slowest of them is how long the
//     checkpoint held transactions up.
//  2. Starts txcoordd on an empty WAL (same config) → time to /readyz and RSS: the baseline.
//  3. Starts txcoordd on the written WAL → time from fork to /readyz, RSS, in-flight count.
//     Its participants are `remote` ones pointing at a closed port: unreachable for good.
// Options: --transactions N (default 100000), --no-checkpoint, --keep (leave the directory with
// the WAL, configs and logs, to profile a restart by hand). Last line:
//   recovery: transactions=N checkpoint=1 wal_mb=W ready_ms=T empty_ready_ms=E rss_mb=R
//             empty_rss_mb=B bytes_per_txn=P in_flight=F checkpoint_ms=C checkpoint_stall_ms=S
// (C: how long the final checkpoint of N in flight took; S: the slowest of the transactions
// submitted one after another meanwhile, i.e. how long it held transactions up. 0 with
// --no-checkpoint.)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "txbench_util.h"
#include "txcoord/adapters/config.h"
#include "txcoord/adapters/factory.h"
#include "txcoord/coordinator/transaction_manager.h"

namespace txcoord::bench {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// Votes yes, then is gone: phase 2 never gets through.
class GoneAfterPrepare final : public participant::Participant {
 public:
  explicit GoneAfterPrepare(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  Status Validate(std::string_view, const participant::Payload&) const override {
    return Status::Ok();
  }
  Result<participant::PrepareResult> Prepare(const participant::BranchCall&) override {
    return participant::PrepareResult{participant::Vote::kYes, ""};
  }
  Status Commit(const participant::BranchId&) override { return Unavailable("gone"); }
  Status Abort(const participant::BranchId&) override { return Unavailable("gone"); }
  Result<participant::ExecuteResult> Execute(const participant::BranchCall&) override {
    return Unavailable("gone");
  }
  Status Compensate(const participant::BranchCall&) override { return Unavailable("gone"); }
  Result<std::vector<participant::InDoubtBranch>> InDoubt(std::string_view) override {
    return Unavailable("gone");
  }

 private:
  std::string name_;
};

const char* const kParticipants[] = {"bank-pg", "wallet-redis"};

// What a transaction submitted while the final checkpoint is written waits.
struct CheckpointCost {
  double checkpoint_ms = 0;  // CheckpointNow, from call to return
  double probe_max_ms = 0;   // the slowest probe transaction during it
  std::atomic<std::size_t> probes{0};
};

Status WriteWal(const std::string& wal_dir, std::size_t n, bool checkpoint, CheckpointCost* cost) {
  coordinator::RecoveredState state;
  wal::Options wo;
  wo.dir = wal_dir;
  auto log = wal::Log::Open(wo, state.Visitor());
  if (!log.ok()) return log.status();
  coordinator::Config cfg;
  cfg.coordinator_id = "bench-r";
  cfg.max_in_flight = n + 1000;
  cfg.checkpoint_every_records = 0;  // one checkpoint at the end (below), not O(n) of them
  cfg.checkpoint_interval = 0ms;
  cfg.orphan_scan_interval = 0ms;
  cfg.breaker_failures = 1u << 30;  // commits fail by design; prepares must still go through
  cfg.max_queued_per_participant = 2 * n + 1000;
  cfg.phase2_backoff = {std::chrono::hours(1), std::chrono::hours(1)};  // no retries while writing
  coordinator::Participants parts;
  for (const char* p : kParticipants) parts.push_back(std::make_shared<GoneAfterPrepare>(p));
  // The probe transactions (below) go to a participant of kind noop: they finish.
  auto probe_config = adapters::ParseJsonConfig(R"({"name":"probe","kind":"noop"})");
  if (!probe_config.ok()) return probe_config.status();
  auto probe = adapters::CreateParticipant(**probe_config);
  if (!probe.ok()) return probe.status();
  parts.push_back(*probe);
  auto tm = coordinator::TransactionManager::Start(cfg, parts, std::move(*log), std::move(state),
                                                   Clock::Real(), Random::System());
  if (!tm.ok()) return tm.status();
  std::atomic<std::size_t> next{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 32; ++t) {
    threads.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < n;) {
        coordinator::TxnRequest r;
        r.gid = "rb-" + std::to_string(i);
        r.branches = {
            {"bank-pg", "debit", {{"account", "a" + std::to_string(i)}, {"amount", "1"}}, ""},
            {"wallet-redis",
             "credit",
             {{"account", "w" + std::to_string(i)}, {"amount", "1"}},
             ""}};
        auto reply = (*tm)->Submit(r);
        if (!reply.ok() || reply->txn.state != coordinator::TxnState::kCommitting) {
          if (failed++ == 0) {
            std::cerr << "recovery_bench: " << r.gid << ": "
                      << (reply.ok() ? std::string(TxnStateName(reply->txn.state)) + " " +
                                           reply->txn.reason
                                     : reply.status().ToString())
                      << "\n";
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failed > 0) return Internal(std::to_string(failed.load()) + " submissions did not commit");
  if (!checkpoint) return Status::Ok();
  // One probe transaction after another (on the noop participant: they finish) while the
  // checkpoint of n in flight is written: the slowest is how long appends were held up.
  std::atomic<bool> done{false}, stopped{false};
  Status failed_probe;  // set before `stopped`
  std::thread prober([&] {
    for (std::size_t i = 0; !done.load(); ++i) {
      coordinator::TxnRequest r;
      r.gid = "probe-" + std::to_string(i);
      r.branches = {{"probe", "noop", {}, ""}};
      const auto t0 = SteadyClock::now();
      auto reply = (*tm)->Submit(r);
      const double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
      if (!reply.ok()) {
        failed_probe = reply.status();
        stopped = true;
        break;
      }
      cost->probe_max_ms = std::max(cost->probe_max_ms, ms);
      ++cost->probes;
    }
  });
  while (cost->probes.load() < 10 && !stopped.load()) std::this_thread::yield();  // going
  const auto c0 = SteadyClock::now();
  Status s = (*tm)->CheckpointNow();
  cost->checkpoint_ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - c0).count();
  done = true;
  prober.join();
  if (!s.ok()) return s;
  if (!failed_probe.ok()) return failed_probe.Annotate("a probe transaction");
  // Again, after the probes: their lazy ENDs go with it, so the WAL holds exactly the n.
  return (*tm)->CheckpointNow();
}

std::uint64_t DirBytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

void WriteConfig(const std::string& path, const std::string& wal_dir, std::uint16_t port,
                 std::uint16_t dead_port, std::size_t n) {
  std::ofstream c(path, std::ios::trunc);
  c << "{\"coordinator_id\":\"bench-r\",\"listen\":\"127.0.0.1:" << port << "\",\"wal_dir\":\""
    << wal_dir << "\",\"max_in_flight\":" << n + 1000 << ",\"participants\":[";
  for (int i = 0; i < 2; ++i) {
    c << (i ? "," : "") << "{\"name\":\"" << kParticipants[i]
      << "\",\"kind\":\"remote\",\"url\":\"http://127.0.0.1:" << dead_port
      << "\",\"token\":\"t\",\"connect_timeout_ms\":100,\"call_timeout_ms\":200}";
  }
  c << "]}";
}

struct Started {
  double ready_ms = -1;
  long long rss = -1;
  std::string metrics;
};

// Starts txcoordd on `config`, waits for /readyz (the clock starts before fork), lets it run
// `settle` more, then reads its RSS and /metrics and kills it.
Started StartDaemon(const std::string& config, const std::string& log_path, std::uint16_t port,
                    std::chrono::milliseconds settle) {
  Started s;
  Child d;
  const auto t0 = SteadyClock::now();
  if (!d.Start({TXC_TXCOORDD_PATH, "--config=" + config}, log_path)) return s;
  if (!WaitHttp(port, "/readyz", 120s)) return s;
  s.ready_ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
  std::this_thread::sleep_for(settle);  // measuring the steady state, not waiting for one
  s.rss = RssBytes(d.pid());
  HttpClient http(port);
  http.Request("GET", "/metrics", "", s.metrics);
  d.Kill();
  return s;
}

long long Gauge(const std::string& metrics, const std::string& name) {
  const auto at = metrics.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::atoll(metrics.c_str() + at + name.size() + 2);
}

int Main(int argc, char** argv) {
  std::size_t n = 100'000;
  bool checkpoint = true;
  bool keep = false;  // leave the WAL, configs and logs (to profile a restart by hand)
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--transactions" && i + 1 < argc) {
      char* end = nullptr;
      const long long v = std::strtoll(argv[++i], &end, 10);
      if (*end == '\0' && v >= 1 && v <= 10'000'000) {
        n = static_cast<std::size_t>(v);
        continue;
      }
    } else if (a == "--no-checkpoint") {
      checkpoint = false;
      continue;
    } else if (a == "--keep") {
      keep = true;
      continue;
    }
    std::cerr << "recovery_bench: bad argument \"" << a
              << "\"; usage: recovery_bench [--transactions N] [--no-checkpoint] [--keep]\n";
    return 2;
  }
  const char* base = std::getenv("TXC_BENCH_DIR");
  const std::string dir =
      std::string(base ? base : "/tmp") + "/recovery-bench-" + std::to_string(::getpid());
  fs::create_directories(dir + "/wal");
  fs::create_directories(dir + "/empty-wal");
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      if (dir.empty()) return;
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{keep ? "" : dir};
  if (keep) std::cout << "recovery_bench: keeping " << dir << std::endl;

  const auto w0 = SteadyClock::now();
  CheckpointCost cost;
  if (Status s = WriteWal(dir + "/wal", n, checkpoint, &cost); !s.ok()) {
    std::cerr << "recovery_bench: writing the WAL: " << s.ToString() << "\n";
    return 1;
  }
  const double write_s = std::chrono::duration<double>(SteadyClock::now() - w0).count();
  const double wal_mb = static_cast<double>(DirBytes(dir + "/wal")) / 1048576.0;
  std::cout << "recovery_bench: wrote " << n << " in-flight transactions in " << std::fixed
            << std::setprecision(1) << write_s << " s; WAL " << wal_mb << " MB (preallocated)"
            << std::endl;
  if (checkpoint) {
    std::cout << "recovery_bench: the final checkpoint took " << cost.checkpoint_ms
              << " ms; the slowest of " << cost.probes << " transactions during it "
              << cost.probe_max_ms << " ms" << std::endl;
  }

  const std::uint16_t port = FreePort();
  const std::uint16_t dead = FreePort();  // nobody listens: the participants are gone
  WriteConfig(dir + "/empty.json", dir + "/empty-wal", port, dead, n);
  WriteConfig(dir + "/full.json", dir + "/wal", port, dead, n);
  const Started empty = StartDaemon(dir + "/empty.json", dir + "/empty.log", port, 1s);
  const Started full = StartDaemon(dir + "/full.json", dir + "/full.log", port, 1s);
  if (empty.ready_ms < 0 || full.ready_ms < 0 || empty.rss < 0 || full.rss < 0) {
    std::cerr << "recovery_bench: txcoordd did not get ready (logs in " << dir << ")\n";
    cleanup.dir.clear();
    return 1;
  }
  const long long in_flight = Gauge(full.metrics, "txcoord_transactions_in_flight");
  const double per_txn = static_cast<double>(full.rss - empty.rss) / static_cast<double>(n);
  std::cout << std::fixed << std::setprecision(1) << "recovery: transactions=" << n
            << " checkpoint=" << (checkpoint ? 1 : 0) << " wal_mb=" << wal_mb
            << " ready_ms=" << full.ready_ms << " empty_ready_ms=" << empty.ready_ms
            << " rss_mb=" << static_cast<double>(full.rss) / 1048576.0
            << " empty_rss_mb=" << static_cast<double>(empty.rss) / 1048576.0
            << std::setprecision(0) << " bytes_per_txn=" << per_txn << " in_flight=" << in_flight
            << std::setprecision(1) << " checkpoint_ms=" << cost.checkpoint_ms
            << " checkpoint_stall_ms=" << cost.probe_max_ms << std::endl;
  return in_flight == static_cast<long long>(n) ? 0 : 1;
}

}  // namespace
}  // namespace txcoord::bench

int main(int argc, char** argv) {
  return txcoord::bench::Main(argc, argv);
}
