#pragma once
// An in-memory Participant for the protocol tests: records every call, and can be told to vote
// no / refuse, fail with any Status, or delay. Thread-safe (the server calls it from its pool).
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "txcoord/participant/participant.h"

namespace txcoord::participant::testing {

struct RecordedCall {
  std::string op;  // "prepare", "commit", ...
  BranchId id;
  std::string action;
  Payload payload;
  std::string coordinator;  // in_doubt
};

class FakeParticipant : public Participant {
 public:
  explicit FakeParticipant(std::string name) : name_(std::move(name)) {}

  void SetVoteNo(std::string reason);  // Prepare votes no, Execute refuses
  void SetFailure(Status s);           // every call fails with s (ok = no failure)
  void SetDelay(std::chrono::milliseconds d);
  void SetInDoubt(std::vector<InDoubtBranch> branches);

  int calls() const;
  std::vector<RecordedCall> recorded() const;

  const std::string& name() const override { return name_; }
  Status Validate(std::string_view action, const Payload& payload) const override;
  Result<PrepareResult> Prepare(const BranchCall& call) override;
  Status Commit(const BranchId& id) override;
  Status Abort(const BranchId& id) override;
  Result<ExecuteResult> Execute(const BranchCall& call) override;
  Status Compensate(const BranchCall& call) override;
  Result<std::vector<InDoubtBranch>> InDoubt(std::string_view coordinator_id) override;

 private:
  // Records the call, sleeps the configured delay, returns the configured failure.
  Status Enter(RecordedCall call);

  const std::string name_;
  mutable std::mutex mu_;
  std::vector<RecordedCall> calls_;
  std::string no_reason_;
  bool vote_no_ = false;
  Status failure_;
  std::chrono::milliseconds delay_{0};
  std::vector<InDoubtBranch> in_doubt_;
};

}  // namespace txcoord::participant::testing
