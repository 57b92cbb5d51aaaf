#pragma once
// The deterministic simulation of the 2PC shard core (docs/twopc-machine.md "Simulation"): one
// seed drives a simulated clock and event queue, an in-memory WAL with group commit that loses
// unsynced records on a crash, a faulty network in front of a simulated store, random clients
// and operators, and crashes at any step. The World implements the shard's four ports and checks
// the invariants at every step; Run() returns the first violation.
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>

#include "sim_store.h"
#include "txcoord/twopc/shard.h"

namespace txcoord::sim {

struct SimOptions {
  std::uint64_t seed = 1;
  std::uint64_t fault_steps = 0;     // steps with clients and faults; 0 = the seed picks
  std::uint64_t max_steps = 200000;  // quiescence bound (all steps)
  bool verbose = false;              // print every step
};

struct SimResult {
  bool ok = true;
  std::string violation;  // empty when ok
  std::uint64_t steps = 0;
  std::uint64_t sim_ms = 0;
  std::uint64_t crashes = 0;
  std::uint64_t txns = 0;          // transactions begun durably
  std::uint64_t committed = 0;     // of those, committed
  std::vector<std::string> trace;  // the last lines before the violation
};

// What the model knows of one transaction incarnation, from the durable WAL only.
struct Truth {
  std::string gid;
  std::vector<std::string> branches;
  bool commit_durable = false;  // a COMMIT (or heuristic commit) decision is durable
  bool heuristic = false;       // an operator's forced decision is durable
  bool told_committed = false;
  bool told_aborted = false;
};

class World : public twopc::LogPort,
              public twopc::ParticipantPort,
              public twopc::TimerPort,
              public twopc::AnswerPort {
 public:
  explicit World(SimOptions options);
  ~World() override;
  SimResult Run();

  // Ports (sim_world.cc).
  void Append(const twopc::Ref& ref, twopc::Seq seq, const twopc::Record& record,
              bool forced) override;
  void Prepare(const twopc::Ref& ref, const twopc::BranchSpec& branch, twopc::Token token) override;
  void Commit(const twopc::Ref& ref, const std::string& participant, const std::string& branch,
              twopc::Token token) override;
  void Abort(const twopc::Ref& ref, const std::string& participant, const std::string& branch,
             twopc::Token token) override;
  void Report(const std::string& participant, twopc::Health health) override;
  void Arm(const twopc::Ref& ref, twopc::TimerId id, twopc::TimerKind kind, std::uint32_t attempt,
           std::int64_t timeout_ms) override;
  void Cancel(const twopc::Ref& ref, twopc::TimerId id) override;
  void Answer(twopc::Waiter waiter, const Result<twopc::View>& result) override;
  void Publish(const twopc::View& view) override;
  void Rejected(const twopc::Ref& ref, const Status& why) override;
  std::string NewIncarnation() override;

 private:
  struct Pending {
    twopc::Ref ref;
    twopc::Seq seq = 0;
    std::string bytes;
  };
  struct Item {
    std::uint64_t at = 0;
    std::uint64_t order = 0;
    std::function<void()> fn;
    bool operator>(const Item& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  using Queue = std::priority_queue<Item, std::vector<Item>, std::greater<>>;

  // sim_world.cc: time, log, network.
  void At(std::uint64_t delay, std::function<void()> fn);
  // Runs `fn` only if the coordinator has not crashed since (replies, timers, completions).
  void ToCoordinator(std::uint64_t delay, std::function<void()> fn);
  void Sync();
  void Call(const twopc::Ref& ref, const std::string& branch, int op, twopc::Token token,
            bool refuse);
  void Learn(const std::string& bytes);  // a durable record: update the truth model
  bool Chance(double p);
  std::uint64_t Between(std::uint64_t lo, std::uint64_t hi);

  // sim_run.cc: clients, crashes, checks.
  void Step();
  void ClientAction();
  void Crash(const char* why);
  void Restart();
  void CheckView(const twopc::View& v, const char* what);
  void CheckStore(const std::string& branch);
  void CheckQuiescent();
  void Violation(const std::string& what);
  void Trace(const std::string& line);
  std::string PickGid();

  SimOptions opt_;
  std::mt19937_64 rng_;
  std::uint64_t now_ = 0;
  std::uint64_t order_ = 0;
  std::uint64_t epoch_ = 0;  // bumps on each crash: stale coordinator events are dropped
  Queue queue_;
  bool faults_ = true;
  SimResult result_;

  std::unique_ptr<twopc::Shard> shard_;
  bool down_ = false;              // crashed, restart scheduled
  std::vector<std::string> wal_;   // durable records (bytes, codec format)
  std::vector<Pending> unsynced_;  // appended, not durable
  bool sync_scheduled_ = false;
  std::set<std::pair<std::string, twopc::TimerId>> cancelled_;  // (gid#inc, id)

  SimStore store_;
  std::map<std::string, std::size_t> branch_truth_;  // branch id -> index in truths_
  std::map<std::string, std::size_t> gid_truth_;     // gid -> its newest durable incarnation
  std::vector<Truth> truths_;
  std::map<twopc::Waiter, std::string> waiters_;  // outstanding: what was asked
  twopc::Waiter next_waiter_ = 1;
  std::vector<twopc::BeginRequest> sent_;  // earlier keyed requests, for keyed retries
  std::uint64_t gid_counter_ = 0;
  std::deque<std::string> trace_;
};

SimResult RunSeed(const SimOptions& options);

}  // namespace txcoord::sim
