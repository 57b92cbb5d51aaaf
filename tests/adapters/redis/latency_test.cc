// Prepare + Commit latency of the Redis participant against the real server, one thread, and
// the server's own cost per script (INFO commandstats, INFO cpu, AOF bytes).
// Prints the figures; asserts only that every call succeeded (timings are never asserted: the
// shared machine is too noisy). TXC_LATENCY_ITERATIONS overrides the iteration count (500).
// TXC_COST_CALLGRIND_PID=<pid of a redis-server under valgrind --tool=callgrind> makes
// ServerCostPerScript zero the server's counters before each phase and dump them after it
// (callgrind_control -z / -d <phase>): instructions per call, deterministic unlike the CPU
// times (docs/adapters-redis.md, "Server cost per script").
#include <cstdio>
#include <functional>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include "redis_fixture.h"
#include "txcoord/testing/latency.h"

namespace txcoord::redis::testing {
namespace {

using Clock_ = std::chrono::steady_clock;

using txcoord::testing::LatencyIterations;
using txcoord::testing::Micros;

void Print(const char* what, std::vector<double> us) {
  txcoord::testing::PrintLatency("redis", what, std::move(us));
}

class LatencyTest : public RedisTest {
 protected:
  // "name:value" lines of INFO <section>; for commandstats "cmdstat_x:calls=..,usec=..".
  std::map<std::string, std::string> Info(const std::string& section) {
    std::map<std::string, std::string> out;
    RawReply r = Cmd({"INFO", section});
    if (!r || r->type != REDIS_REPLY_STRING) return out;
    std::istringstream in(std::string(r->str, r->len));
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto colon = line.find(':');
      if (line.empty() || line[0] == '#' || colon == std::string::npos) continue;
      out[line.substr(0, colon)] = line.substr(colon + 1);
    }
    return out;
  }

  static double Field(const std::string& stat, const std::string& name) {
    const auto at = stat.find(name + "=");
    return at == std::string::npos ? 0 : std::atof(stat.c_str() + at + name.size() + 1);
  }

  // The server's CPU so far (getrusage of the process, µs): {user, system}.
  std::pair<double, double> ServerCpuUs() {
    auto cpu = Info("cpu");
    return {1e6 * std::atof(cpu["used_cpu_user"].c_str()),
            1e6 * std::atof(cpu["used_cpu_sys"].c_str())};
  }

  // callgrind_control <op> [what] on $TXC_COST_CALLGRIND_PID, if set.
  static void Callgrind(const std::string& op, const std::string& what = "") {
    const char* pid = std::getenv("TXC_COST_CALLGRIND_PID");
    if (pid == nullptr) return;
    const std::string cmd = "callgrind_control " + op + " " + what + " " + pid + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << cmd << " failed";
  }

  // Runs `n` calls of `call` between two snapshots of the server's stats and prints, per call:
  // the server CPU (INFO cpu), the AOF bytes, and every command's calls and usec (commandstats;
  // the scripts' inner commands are counted too).
  void Cost(const char* what, int n, const std::function<void(int)>& call) {
    RawReply reset = Cmd({"CONFIG", "RESETSTAT"});
    ASSERT_TRUE(reset && reset->type == REDIS_REPLY_STATUS);
    const double aof0 = std::atof(Info("persistence")["aof_current_size"].c_str());
    Callgrind("-z");
    const auto [user0, sys0] = ServerCpuUs();
    for (int i = 0; i < n; ++i) call(i);
    const auto [user1, sys1] = ServerCpuUs();
    Callgrind("-d", what);
    const double aof1 = std::atof(Info("persistence")["aof_current_size"].c_str());
    std::printf("redis cost %-10s n=%d server cpu user=%.1f sys=%.1f us/call aof=%.0f bytes/call\n",
                what, n, (user1 - user0) / n, (sys1 - sys0) / n, (aof1 - aof0) / n);
    for (const auto& [name, stat] : Info("commandstats")) {
      if (name == "cmdstat_info" || name == "cmdstat_config") continue;
      std::printf("  %-18s calls/call=%.2f usec/call=%.2f usec_per_call=%.2f\n",
                  name.substr(8).c_str(), Field(stat, "calls") / n, Field(stat, "usec") / n,
                  Field(stat, "usec_per_call"));
    }
  }
};

TEST_F(LatencyTest, PrepareCommitAtOneThread) {
  const std::string acct = Unique();
  Set(Wallet(acct), "0");
  const int n = LatencyIterations();
  std::vector<double> prepare, commit, both;
  for (int i = 0; i < n; ++i) {
    const auto id = Branch(Unique("g"));
    const auto t0 = Clock_::now();
    auto v = p_->Prepare(Call(id, "credit", {{"account", acct}, {"amount", "1"}}));
    const auto t1 = Clock_::now();
    ASSERT_TRUE(v.ok() && v->vote == participant::Vote::kYes) << v.status();
    const Status s = p_->Commit(id);
    const auto t2 = Clock_::now();
    ASSERT_TRUE(s.ok()) << s;
    prepare.push_back(Micros(t1 - t0));
    commit.push_back(Micros(t2 - t1));
    both.push_back(Micros(t2 - t0));
  }
  EXPECT_EQ(Get(Wallet(acct)), std::to_string(n));
  Print("prepare", prepare);
  Print("commit", commit);
  Print("prepare+commit", both);
}

// Server-side cost of each script, each phase on its own: n prepares (credit, one wallet each,
// as txbench's credit of an existing wallet), their n commits (which carry the deferred index
// EXPIREs of the commits before them, one per branch as in steady state), n more prepares and
// their aborts, n saga executes (credit) and their compensations (debit), and Prepare+Commit
// interleaved on one wallet (txbench's shape: one branch after the other). Names are shaped
// like txbench's (wallet:{w<i>...}, gid g-<24 hex>, branch b1, coordinator bench-1), since the
// AOF bytes depend on them.
TEST_F(LatencyTest, ServerCostPerScript) {
  const int n = LatencyIterations();
  char run[16];
  std::snprintf(
      run, sizeof run, "%05llx",
      static_cast<unsigned long long>(Clock_::now().time_since_epoch().count()) & 0xfffff);
  unsigned long long seq = Clock_::now().time_since_epoch().count();
  auto gid = [&] {
    char g[40];
    ++seq;
    std::snprintf(g, sizeof g, "g-%016llx%08llx", seq * 0x9e3779b97f4a7c15ull, seq & 0xffffffff);
    return participant::BranchId{"bench-1", g, "b1"};
  };
  auto pay = [](const std::string& acct) {
    return participant::Payload{{"account", acct}, {"amount", "1"}};
  };
  std::vector<std::string> accts;
  std::vector<participant::BranchId> ids;
  for (int i = 0; i < n; ++i) {
    accts.push_back("w" + std::to_string(i) + run);
    Set(Wallet(accts.back()), "100");
  }
  auto fresh_ids = [&] {
    ids.clear();
    for (int i = 0; i < n; ++i) ids.push_back(gid());
  };
  auto prepare = [&](const participant::BranchId& id, const std::string& acct) {
    auto v = p_->Prepare(Call(id, "credit", pay(acct)));
    ASSERT_TRUE(v.ok() && v->vote == participant::Vote::kYes) << v.status();
  };
  Cost("incrby", n, [&](int i) {
    RawReply r = Cmd({"INCRBY", Wallet(accts[i]), "1"});
    ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER);
  });
  fresh_ids();
  Cost("prepare", n, [&](int i) { prepare(ids[i], accts[i]); });
  Cost("commit", n, [&](int i) { ASSERT_TRUE(p_->Commit(ids[i]).ok()); });
  fresh_ids();
  Cost("prepare2", n, [&](int i) { prepare(ids[i], accts[i]); });
  Cost("abort", n, [&](int i) { ASSERT_TRUE(p_->Abort(ids[i]).ok()); });
  fresh_ids();
  Cost("execute", n, [&](int i) {
    auto r = p_->Execute(Call(ids[i], "credit", pay(accts[i])));
    ASSERT_TRUE(r.ok() && r->outcome == participant::Outcome::kDone) << r.status();
  });
  Cost("compensate", n,
       [&](int i) { ASSERT_TRUE(p_->Compensate(Call(ids[i], "debit", pay(accts[i]))).ok()); });
  Cost("branch", n, [&](int) {
    const participant::BranchId id = gid();
    prepare(id, accts[0]);
    ASSERT_TRUE(p_->Commit(id).ok());
  });
}

}  // namespace
}  // namespace txcoord::redis::testing
