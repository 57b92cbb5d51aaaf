#pragma once
// kind "noop": a participant that does nothing and always succeeds (votes yes, done). A
// benchmark/testing aid only: it measures the coordinator alone (WAL, engine, HTTP) without any
// store. It declares no actions: every action name and payload is accepted. Stateless, so
// thread-safe; InDoubt is always empty (nothing is ever prepared anywhere).
#include <memory>
#include <string>

#include "txcoord/participant/participant.h"

namespace txcoord::adapters {

class NoopParticipant final : public participant::Participant {
 public:
  explicit NoopParticipant(std::string name) : name_(std::move(name)) {}

  const std::string& name() const override { return name_; }
  Status Validate(std::string_view action, const participant::Payload& payload) const override;
  Result<participant::PrepareResult> Prepare(const participant::BranchCall& call) override;
  Status Commit(const participant::BranchId& id) override;
  Status Abort(const participant::BranchId& id) override;
  Result<participant::ExecuteResult> Execute(const participant::BranchCall& call) override;
  Status Compensate(const participant::BranchCall& call) override;
  Result<std::vector<participant::InDoubtBranch>> InDoubt(std::string_view coordinator_id) override;

 private:
  std::string name_;
};

}  // namespace txcoord::adapters
