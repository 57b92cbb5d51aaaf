#include "memory_log.h"

namespace txcoord::testing {

Result<std::shared_ptr<MemoryLog>> MemoryLog::Open(std::shared_ptr<MemoryLogStore> store,
                                                   const wal::ReplayVisitor& visitor) {
  std::shared_ptr<MemoryLog> log(new MemoryLog(store));
  std::lock_guard<std::mutex> lock(store->mu);
  if (store->checkpoint) {
    TXC_RETURN_IF_ERROR(visitor(wal::ReplayedRecord{
        store->checkpoint_lsn, wal::RecordKind::kCheckpoint, *store->checkpoint}));
    log->report_.checkpoint_lsn = store->checkpoint_lsn;
  }
  for (const auto& [lsn, body] : store->records) {
    TXC_RETURN_IF_ERROR(visitor(wal::ReplayedRecord{lsn, wal::RecordKind::kEntry, body}));
    ++log->report_.records;
    log->report_.last_lsn = lsn;
  }
  return log;
}

Result<wal::Lsn> MemoryLog::DoAppend(std::string body, bool forced) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!health_.ok()) return health_;
  if (fail_countdown_ > 0 && --fail_countdown_ == 0) {
    health_ = DataLoss("injected fdatasync failure (memory log)");
    return health_;
  }
  if (on_append_) on_append_(body);
  std::lock_guard<std::mutex> store_lock(store_->mu);
  const wal::Lsn lsn = store_->next_lsn++;
  store_->appended_bytes += body.size();
  store_->records.emplace_back(lsn, std::move(body));
  if (forced) store_->synced = store_->records.size();
  ++appended_;
  return lsn;
}

std::future<Result<wal::Lsn>> MemoryLog::Append(std::string body) {
  std::promise<Result<wal::Lsn>> p;
  p.set_value(DoAppend(std::move(body), true));
  return p.get_future();
}

void MemoryLog::AppendAsync(std::string body, std::function<void(Result<wal::Lsn>)> done) {
  done(DoAppend(std::move(body), true));
}

void MemoryLog::AppendLazy(std::string body, std::function<void(Result<wal::Lsn>)> done) {
  done(DoAppend(std::move(body), false));
}

// Every record appended so far is durable and was appended before this call, so the snapshot
// covers it: all of them go.
Status MemoryLog::Checkpoint(std::string snapshot) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!health_.ok()) return health_;
  std::lock_guard<std::mutex> store_lock(store_->mu);
  if (snapshot.size() > store_->max_snapshot_bytes) {
    return InvalidArgument("memory log: snapshot of " + std::to_string(snapshot.size()) +
                           " bytes is too large");
  }
  store_->checkpoint_bytes += snapshot.size();
  store_->last_checkpoint_bytes = snapshot.size();
  store_->checkpoint = std::move(snapshot);
  store_->checkpoint_lsn = store_->next_lsn++;
  store_->dropped += store_->records.size();
  ++store_->checkpoints;
  store_->records.clear();
  store_->synced = 0;
  return Status::Ok();
}

Status MemoryLog::health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return health_;
}

wal::Stats MemoryLog::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::lock_guard<std::mutex> store_lock(store_->mu);
  wal::Stats s;
  s.segments = 1;
  s.last_lsn = store_->next_lsn - 1;
  s.checkpoint_lsn = store_->checkpoint_lsn;
  s.appended = appended_;
  return s;
}

void MemoryLog::FailAppendAfter(std::uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_countdown_ = n;
}

void MemoryLog::OnAppend(std::function<void(const std::string&)> f) {
  std::lock_guard<std::mutex> lock(mu_);
  on_append_ = std::move(f);
}

}  // namespace txcoord::testing
