#include "noop.h"

namespace txcoord::adapters {

Status NoopParticipant::Validate(std::string_view action, const participant::Payload&) const {
  if (action.empty()) return InvalidArgument("participant '" + name_ + "': empty action");
  return Status::Ok();
}

Result<participant::PrepareResult> NoopParticipant::Prepare(const participant::BranchCall&) {
  return participant::PrepareResult{participant::Vote::kYes, ""};
}

Status NoopParticipant::Commit(const participant::BranchId&) {
  return Status::Ok();
}

Status NoopParticipant::Abort(const participant::BranchId&) {
  return Status::Ok();
}

Result<participant::ExecuteResult> NoopParticipant::Execute(const participant::BranchCall&) {
  return participant::ExecuteResult{participant::Outcome::kDone, ""};
}

Status NoopParticipant::Compensate(const participant::BranchCall&) {
  return Status::Ok();
}

Result<std::vector<participant::InDoubtBranch>> NoopParticipant::InDoubt(std::string_view) {
  return std::vector<participant::InDoubtBranch>{};
}

}  // namespace txcoord::adapters
