#pragma once
// A scripted in-memory participant for engine tests. Keeps the per-branch state a real store
// would (prepared / committed / aborted) and follows the participant contract: idempotent calls,
// Abort before Prepare makes the late Prepare vote no, Commit of an aborted branch is kConflict.
// Scripting: votes, errors with any Code for the next K calls, blocking gates, call counts.
// Every call is appended to the shared EventLog ("prepare:<name>:<gid>/<branch>").
// Thread-safety: all methods are safe from any thread.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "txcoord/participant/participant.h"

namespace txcoord::testing {

class EventLog {
 public:
  void Add(std::string e);
  std::vector<std::string> Snapshot() const;
  // Index of the first event starting with `prefix`, or -1.
  int First(const std::string& prefix) const;
  int Last(const std::string& prefix) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

// Blocks callers while closed.
class Gate {
 public:
  void Close();
  void Open();
  void Pass();  // waits while closed
  int waiting() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  int waiting_ = 0;
};

enum class FakeState { kNone, kPrepared, kCommitted, kAborted };
// Saga side: Execute took effect / was compensated / Compensate came first (null compensation,
// a late Execute is refused) / Execute refused.
enum class FakeSagaState { kNone, kExecuted, kCompensated, kNullCompensated, kRefused };

class FakeParticipant final : public participant::Participant {
 public:
  using BranchId = participant::BranchId;
  FakeParticipant(std::string name, std::shared_ptr<EventLog> events)
      : name_(std::move(name)), events_(std::move(events)) {}

  const std::string& name() const override { return name_; }
  Status Validate(std::string_view action, const participant::Payload& payload) const override;
  Result<participant::PrepareResult> Prepare(const participant::BranchCall& call) override;
  Status Commit(const BranchId& id) override;
  Status Abort(const BranchId& id) override;
  Result<participant::ExecuteResult> Execute(const participant::BranchCall& call) override;
  Status Compensate(const participant::BranchCall& call) override;
  Result<std::vector<participant::InDoubtBranch>> InDoubt(std::string_view coordinator) override;

  // --- scripting ---
  void VoteNo(bool no);
  void FailPrepares(Code code, int count);  // next `count` prepares fail with `code`
  void FailCommits(Code code, int count);   // count < 0 = forever
  void FailAborts(Code code, int count);
  void SetPrepared(const BranchId& id);  // as if a prepare happened (open txns, orphans)
  std::atomic<int> throw_commits{0};     // next N commits throw (a contract violation)
  Gate prepare_gate;
  Gate commit_gate;
  // Every Prepare and Commit takes at least this long (a slow store: it sleeps).
  std::atomic<std::chrono::microseconds> call_delay{std::chrono::microseconds(0)};
  // Sagas.
  void RefuseAction(const std::string& action);  // Execute of `action` → kRefused
  void FailExecutes(Code code, int count);       // next `count` executes fail, no effect
  void UnknownAfterExecute(int count);           // next `count` take effect, then kUnknownOutcome
  void FailCompensates(Code code, int count);    // count < 0 = forever
  Gate execute_gate;

  FakeSagaState SagaStateOf(const BranchId& id) const;
  int executes() const;         // calls
  int execute_effects() const;  // executions that took effect (never twice per id)
  int compensates() const;      // calls
  int max_concurrent_executes() const;

  // --- inspection ---
  FakeState StateOf(const BranchId& id) const;
  int prepares() const;
  int commits() const;  // calls, including failed ones
  int aborts() const;
  std::size_t prepared_count() const;
  std::size_t committed_count() const;

 private:
  Status Scripted(Code& code, int& count);

  std::string name_;
  std::shared_ptr<EventLog> events_;
  mutable std::mutex mu_;
  std::map<BranchId, FakeState> states_;
  bool vote_no_ = false;
  Code prepare_code_ = Code::kOk, commit_code_ = Code::kOk, abort_code_ = Code::kOk;
  int prepare_fails_ = 0, commit_fails_ = 0, abort_fails_ = 0;
  int prepares_ = 0, commits_ = 0, aborts_ = 0;
  std::map<BranchId, FakeSagaState> saga_;
  std::set<std::string> refuse_;
  Code execute_code_ = Code::kOk, compensate_code_ = Code::kOk;
  int execute_fails_ = 0, compensate_fails_ = 0, unknown_after_ = 0;
  int executes_ = 0, effects_ = 0, compensates_ = 0, running_ = 0, max_running_ = 0;
};

}  // namespace txcoord::testing
