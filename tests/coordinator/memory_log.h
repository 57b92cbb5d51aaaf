#pragma once
// An in-memory wal::Log for engine tests. Durable state lives in a MemoryLogStore that outlives
// any one MemoryLog, so a test "crashes" by dropping the engine and the log and reopens the
// store. Append and AppendAsync are durable at once (as after fdatasync) and make every earlier
// record durable; AppendLazy records stay unsynced until then, and LoseUnsynced() drops them as a
// crash of the real WAL may. Append errors can be injected;
// an injected error is terminal (fail-stop), as in the real WAL.
// Thread-safety: all methods are safe from any thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "txcoord/wal/log.h"

namespace txcoord::testing {

struct MemoryLogStore {
  std::mutex mu;
  std::optional<std::string> checkpoint;
  wal::Lsn checkpoint_lsn = 0;
  std::vector<std::pair<wal::Lsn, std::string>> records;  // after the checkpoint
  wal::Lsn next_lsn = 1;
  std::uint64_t dropped = 0;           // records made unnecessary by checkpoints
  std::uint64_t checkpoints = 0;       // Checkpoint calls that succeeded
  std::uint64_t appended_bytes = 0;    // record bodies appended, in all
  std::uint64_t checkpoint_bytes = 0;  // snapshots written, in all
  std::uint64_t last_checkpoint_bytes = 0;
  // Larger snapshots are refused with kInvalidArgument before anything changes (as the WAL
  // refuses one over format::kMaxBodyBytes).
  std::size_t max_snapshot_bytes = SIZE_MAX;
  // records[0, synced) are durable; the rest were appended lazily since the last forced append.
  std::size_t synced = 0;

  // A crash: lazy records not yet covered by a forced append are lost (wal::Log::AppendLazy).
  void LoseUnsynced() {
    std::lock_guard<std::mutex> lock(mu);
    records.resize(synced);
  }

  std::size_t record_count() {
    std::lock_guard<std::mutex> lock(mu);
    return records.size();
  }
};

class MemoryLog final : public wal::Log {
 public:
  // Replays the newest checkpoint, then every record after it, into `visitor`.
  static Result<std::shared_ptr<MemoryLog>> Open(std::shared_ptr<MemoryLogStore> store,
                                                 const wal::ReplayVisitor& visitor);

  std::future<Result<wal::Lsn>> Append(std::string body) override;
  void AppendAsync(std::string body, std::function<void(Result<wal::Lsn>)> done) override;
  void AppendLazy(std::string body, std::function<void(Result<wal::Lsn>)> done) override;
  Status Checkpoint(std::string snapshot) override;
  Status health() const override;
  wal::Stats stats() const override;
  const wal::ReplayReport& replay_report() const override { return report_; }

  // The `n`-th append from now (1 = the next) fails with kDataLoss, and every later one too.
  void FailAppendAfter(std::uint64_t n);
  // Called with each record body before it is stored (under the log's lock).
  void OnAppend(std::function<void(const std::string&)> f);

 private:
  explicit MemoryLog(std::shared_ptr<MemoryLogStore> store) : store_(std::move(store)) {}
  Result<wal::Lsn> DoAppend(std::string body, bool forced);

  std::shared_ptr<MemoryLogStore> store_;
  mutable std::mutex mu_;
  Status health_;
  std::uint64_t fail_countdown_ = 0;  // 0 = no injected failure
  std::uint64_t appended_ = 0;
  std::function<void(const std::string&)> on_append_;
  wal::ReplayReport report_;
};

}  // namespace txcoord::testing
