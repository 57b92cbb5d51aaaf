#include "translate.h"

namespace txcoord::server {

// Steps run in order unless the request names groups: with no "group" anywhere, step i gets
// group i; otherwise groups are taken as given (absent = 0).
coordinator::SagaRequest SagaRequestOf(api::TransactionRequest& r,
                                       std::optional<std::chrono::milliseconds> timeout,
                                       const std::string& key) {
  coordinator::SagaRequest saga;
  saga.gid = r.gid.value_or("");
  saga.timeout = timeout;
  saga.idempotency_key = key;
  saga.request_hash = r.body_hash;
  bool grouped = false;
  for (const auto& b : r.branches) grouped = grouped || b.group != 0;
  for (std::size_t i = 0; i < r.branches.size(); ++i) {
    api::BranchSpec& b = r.branches[i];
    coordinator::SagaStepRequest step;
    step.participant = std::move(b.participant);
    step.action = std::move(b.action);
    step.payload = std::move(b.payload);
    if (b.compensation) {
      step.compensation_action = std::move(b.compensation->action);
      step.compensation_payload = std::move(b.compensation->payload);
    }
    step.group = grouped ? b.group : static_cast<std::uint32_t>(i);
    saga.steps.push_back(std::move(step));
  }
  return saga;
}

}  // namespace txcoord::server
