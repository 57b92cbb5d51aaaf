#include "fake_participant.h"

#include <thread>

namespace txcoord::participant::testing {

void FakeParticipant::SetVoteNo(std::string reason) {
  std::lock_guard lock(mu_);
  vote_no_ = true;
  no_reason_ = std::move(reason);
}
void FakeParticipant::SetFailure(Status s) {
  std::lock_guard lock(mu_);
  failure_ = std::move(s);
}
void FakeParticipant::SetDelay(std::chrono::milliseconds d) {
  std::lock_guard lock(mu_);
  delay_ = d;
}
void FakeParticipant::SetInDoubt(std::vector<InDoubtBranch> branches) {
  std::lock_guard lock(mu_);
  in_doubt_ = std::move(branches);
}
int FakeParticipant::calls() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(calls_.size());
}
std::vector<RecordedCall> FakeParticipant::recorded() const {
  std::lock_guard lock(mu_);
  return calls_;
}

Status FakeParticipant::Enter(RecordedCall call) {
  std::chrono::milliseconds delay;
  Status failure;
  {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(call));
    delay = delay_;
    failure = failure_;
  }
  // The delay simulates a slow store; it is the behaviour under test, not a wait for state.
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
  return failure;
}

Status FakeParticipant::Validate(std::string_view action, const Payload&) const {
  return action.empty() ? InvalidArgument("empty action") : Status::Ok();
}

Result<PrepareResult> FakeParticipant::Prepare(const BranchCall& call) {
  TXC_RETURN_IF_ERROR(Enter({"prepare", call.id, call.action, call.payload, ""}));
  std::lock_guard lock(mu_);
  if (vote_no_) return PrepareResult{Vote::kNo, no_reason_};
  return PrepareResult{Vote::kYes, ""};
}

Status FakeParticipant::Commit(const BranchId& id) {
  return Enter({"commit", id, "", {}, ""});
}
Status FakeParticipant::Abort(const BranchId& id) {
  return Enter({"abort", id, "", {}, ""});
}

Result<ExecuteResult> FakeParticipant::Execute(const BranchCall& call) {
  TXC_RETURN_IF_ERROR(Enter({"execute", call.id, call.action, call.payload, ""}));
  std::lock_guard lock(mu_);
  if (vote_no_) return ExecuteResult{Outcome::kRefused, no_reason_};
  return ExecuteResult{Outcome::kDone, ""};
}

Status FakeParticipant::Compensate(const BranchCall& call) {
  return Enter({"compensate", call.id, call.action, call.payload, ""});
}

Result<std::vector<InDoubtBranch>> FakeParticipant::InDoubt(std::string_view coordinator_id) {
  TXC_RETURN_IF_ERROR(Enter({"in_doubt", {}, "", {}, std::string(coordinator_id)}));
  std::lock_guard lock(mu_);
  return in_doubt_;
}

}  // namespace txcoord::participant::testing
