#include "txcoord/coordinator/transaction_manager.h"

#include "engine.h"

namespace txcoord::coordinator {

Result<std::unique_ptr<TransactionManager>> TransactionManager::Start(
    Config config, Participants participants, std::shared_ptr<wal::Log> log,
    RecoveredState recovered, Clock& clock, Random& random) {
  if (Status s = participant::ValidateCoordinatorId(config.coordinator_id); !s.ok()) {
    return InvalidArgument("bad coordinator id: " + s.message());
  }
  if (log == nullptr) return InvalidArgument("no WAL given");
  if (config.worker_threads == 0 || config.max_concurrent_per_participant == 0 ||
      config.max_branches == 0 || config.max_in_flight == 0 || config.max_idempotency_keys == 0) {
    return InvalidArgument(
        "worker_threads, max_concurrent_per_participant, max_branches, max_in_flight and "
        "max_idempotency_keys must be > 0");
  }
  if (config.default_timeout.count() <= 0 || config.default_timeout > config.max_timeout) {
    return InvalidArgument("default_timeout must be in 1..max_timeout ms");
  }
  std::map<std::string, std::shared_ptr<participant::Participant>> by_name;
  for (auto& p : participants) {
    if (p == nullptr) return InvalidArgument("null participant");
    if (!by_name.emplace(p->name(), p).second) {
      return InvalidArgument("participant name '" + p->name() + "' is used twice");
    }
  }
  auto engine = std::make_unique<Engine>(std::move(config), std::move(by_name), std::move(log),
                                         clock, random);
  engine->Resume(recovered.tables());
  return std::unique_ptr<TransactionManager>(new TransactionManager(std::move(engine)));
}

TransactionManager::TransactionManager(std::unique_ptr<Engine> engine)
    : engine_(std::move(engine)) {}
TransactionManager::~TransactionManager() = default;

Result<SubmitReply> TransactionManager::Submit(const TxnRequest& r) {
  return engine_->Submit(r);
}
Result<SubmitReply> TransactionManager::SubmitSaga(const SagaRequest& r) {
  return engine_->SubmitSaga(r);
}
Result<SubmitReply> TransactionManager::BeginOpen(const OpenRequest& r) {
  return engine_->BeginOpen(r);
}
Status TransactionManager::RegisterBranch(const std::string& gid, const std::string& participant,
                                          const std::string& branch) {
  return engine_->RegisterBranch(gid, participant, branch);
}
Result<TxnView> TransactionManager::Commit(const std::string& gid) {
  return engine_->Commit(gid);
}
Result<TxnView> TransactionManager::Abort(const std::string& gid, const std::string& reason) {
  return engine_->Abort(gid, reason);
}
Result<TxnView> TransactionManager::Get(const std::string& gid) const {
  return engine_->Get(gid);
}
std::vector<TxnView> TransactionManager::List(std::optional<TxnState> state,
                                              std::size_t limit) const {
  return engine_->List(state, limit);
}
Result<TxnView> TransactionManager::Wait(const std::string& gid,
                                         std::chrono::milliseconds timeout) const {
  return engine_->Wait(gid, timeout);
}
Status TransactionManager::RetryNow(const std::string& gid) {
  return engine_->RetryNow(gid);
}
Result<TxnView> TransactionManager::Resolve(const std::string& gid, const ResolveRequest& r) {
  return engine_->Resolve(gid, r);
}
Status TransactionManager::RunOrphanScan() {
  return engine_->RunOrphanScan();
}
Status TransactionManager::CheckpointNow() {
  return engine_->CheckpointNow();
}
bool TransactionManager::ready() const {
  return engine_->ready();
}
Status TransactionManager::health() const {
  return engine_->health();
}
Metrics TransactionManager::metrics() const {
  return engine_->metrics();
}
const Config& TransactionManager::config() const {
  return engine_->config();
}

}  // namespace txcoord::coordinator
