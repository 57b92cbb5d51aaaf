// chaos_bank --rounds N --seed S: the chaos bank workload (bank.h) under a seeded fault schedule,
// with the invariants of checks.h after every round. Needs TXC_PG_DSN, TXC_REDIS_URL and
// TXC_SERVICES (scripts/services env). The last line is
//   chaos: rounds=N faults=F transfers=T violations=V seed=S
// and the exit code is 0 iff V == 0 (2 for bad arguments or a missing environment).
// The same seed replays the same schedule (fault kinds, times, transfers); thread timing is not
// replayed.
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bank.h"
#include "checks.h"

namespace txcoord::chaos {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr int kAccounts = 8;
constexpr long long kBalance = 1000;
constexpr int kClients = 4;
constexpr int kTransfersPerClient = 6;
constexpr int kMaxTransfersPerClient = 500;

bool ParseCount(const std::string& s, unsigned long long max, unsigned long long& out) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  out = std::stoull(s);
  return out <= max;
}

const char* kFaultNames[] = {"kill-coordinator", "kill-participant", "restart-postgres",
                             "restart-redis", "pause-participant"};

bool Inject(Bank& bank, int kind, std::chrono::milliseconds pause) {
  switch (kind) {
    case 0:
      return bank.KillCoordinator();
    case 1:
      return bank.KillParticipant();
    case 2:
      return bank.RestartPostgres();
    case 3:
      return bank.RestartRedis();
    default:
      return bank.PauseParticipant(pause);
  }
}

TransferRecord PlanTransfer(Bank& bank, int round, int client, int k, std::mt19937_64& rng) {
  TransferRecord t;
  t.tid = bank.cid() + "-r" + std::to_string(round) + "-c" + std::to_string(client) + "-" +
          std::to_string(k);
  t.pg_to_redis = rng() % 2 == 0;
  t.saga = rng() % 2 == 0;
  t.account = bank.accounts()[rng() % bank.accounts().size()];
  t.wallet = bank.wallets()[rng() % bank.wallets().size()];
  t.amount = 1 + static_cast<long long>(rng() % 60);
  // About 1 in 10 is refused by the target store (no such wallet / account).
  if (rng() % 10 == 0) (t.pg_to_redis ? t.wallet : t.account) = bank.cid() + "-missing";
  return t;
}

// One round: clients and the fault schedule run concurrently; then quiesce and check.
int RunRound(Bank& bank, int round, std::uint64_t seed, int& faults,
             std::vector<TransferRecord>& transfers) {
  const std::uint64_t round_seed = seed * 1000003ULL + static_cast<std::uint64_t>(round);
  std::mt19937_64 rng(round_seed);
  const int nfaults = 1 + static_cast<int>(rng() % 2);
  std::vector<std::pair<int, std::chrono::milliseconds>> schedule;
  for (int f = 0; f < nfaults; ++f) {
    // The first fault of round r is kind (seed + r) % 5, so 5 rounds cover every kind.
    const int kind = f == 0 ? static_cast<int>((seed + static_cast<std::uint64_t>(round)) % 5)
                            : static_cast<int>(rng() % 5);
    schedule.emplace_back(kind, std::chrono::milliseconds(100 + rng() % 1200));
  }
  const auto pause = std::chrono::milliseconds(800 + rng() % 1700);
  int violations = 0;
  const auto deadline = SteadyClock::now() + 90s;
  // Each client sends at least kTransfersPerClient transfers and goes on until the faults of
  // the round are over, so the faults hit transfers in flight.
  std::atomic<bool> faults_over{false};
  std::vector<std::vector<TransferRecord>> sent(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937_64 client_rng(round_seed * 31 + static_cast<std::uint64_t>(c) + 1);
      auto& mine = sent[static_cast<std::size_t>(c)];
      for (int k = 0;
           k < kMaxTransfersPerClient && (k < kTransfersPerClient || !faults_over.load()); ++k) {
        mine.push_back(PlanTransfer(bank, round, c, k, client_rng));
        bank.Transfer(mine.back(), deadline);
      }
    });
  }
  for (const auto& [kind, delay] : schedule) {
    std::this_thread::sleep_for(delay);  // the schedule's time offset, not a wait for state
    std::cout << "chaos: round " << round << " fault " << kFaultNames[kind] << " after "
              << delay.count() << "ms" << std::endl;
    ++faults;
    if (!Inject(bank, kind, pause)) {
      std::cerr << "chaos: VIOLATION recovery from " << kFaultNames[kind]
                << " failed: " << bank.error() << "\n";
      ++violations;
    }
  }
  faults_over = true;
  for (auto& t : clients) t.join();
  for (auto& mine : sent) transfers.insert(transfers.end(), mine.begin(), mine.end());
  // The WAL must replay cleanly: restart the coordinator on it, then wait for phase 2 to end.
  if (!bank.WaitQuiet(60s) || !bank.RestartCoordinatorOnWal() || !bank.WaitQuiet(60s)) {
    std::cerr << "chaos: VIOLATION not quiet / no clean WAL replay: " << bank.error() << "\n";
    return violations + 1;
  }
  if (!bank.Reconnect()) {
    std::cerr << "chaos: cannot reach the stores to check: " << bank.error() << "\n";
    return violations + 1;
  }
  return violations + CheckInvariants(bank, transfers);
}

int Main(int argc, char** argv) {
  unsigned long long rounds = 3, seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--rounds" && has_value && ParseCount(argv[i + 1], 100000, rounds) && rounds > 0) {
      ++i;
    } else if (a == "--seed" && has_value && ParseCount(argv[i + 1], ~0ULL >> 1, seed)) {
      ++i;
    } else {
      std::cerr << "chaos_bank: bad argument \"" << a
                << "\"; usage: chaos_bank --rounds N(1..100000) --seed S(>=0)\n";
      return 2;
    }
  }
  const char* pg = std::getenv("TXC_PG_DSN");
  const char* redis = std::getenv("TXC_REDIS_URL");
  const char* services = std::getenv("TXC_SERVICES");
  if (!pg || !redis || !services) {
    std::cerr << "chaos_bank: TXC_PG_DSN, TXC_REDIS_URL and TXC_SERVICES must be set "
                 "(eval \"$(scripts/services env --export)\")\n";
    return 2;
  }
  std::cout << "chaos: seed=" << seed << " rounds=" << rounds << std::endl;
  Bank bank(pg, redis, services);
  int faults = 0, violations = 0;
  long long transfers = 0;
  if (!bank.Setup(kAccounts, kBalance)) {
    std::cerr << "chaos: VIOLATION set-up failed: " << bank.error() << "\n";
    violations = 1;
  } else {
    for (unsigned long long r = 0; r < rounds; ++r) {
      std::vector<TransferRecord> round_transfers;
      const int v = RunRound(bank, static_cast<int>(r), seed, faults, round_transfers);
      int committed = 0, aborted = 0, unknown = 0;
      for (const auto& t : round_transfers) {
        if (t.outcome == Outcome::kUnknown) {
          std::cerr << "chaos: no final answer for " << t.tid << ": " << t.note.substr(0, 200)
                    << "\n";
        }
        (t.outcome == Outcome::kCommitted ? committed
         : t.outcome == Outcome::kAborted ? aborted
                                          : unknown)++;
      }
      std::cout << "chaos: round " << r << " committed=" << committed << " aborted=" << aborted
                << " unknown=" << unknown << " violations=" << v << std::endl;
      transfers += static_cast<long long>(round_transfers.size());
      violations += v;
    }
  }
  if (violations == 0) bank.Cleanup();  // on failure keep the state (and logs) for inspection
  std::cout << "chaos: rounds=" << rounds << " faults=" << faults << " transfers=" << transfers
            << " violations=" << violations << " seed=" << seed << std::endl;
  return violations == 0 ? 0 : 1;
}

}  // namespace
}  // namespace txcoord::chaos

int main(int argc, char** argv) {
  return txcoord::chaos::Main(argc, argv);
}
