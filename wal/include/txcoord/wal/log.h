#pragma once
// txcoord::wal — a durable, group-committed write-ahead log of opaque records.
// It knows files, framing and durability; nothing of transactions. The owner (the coordinator)
// serializes its own Protobuf messages into record bodies.
//
// Guarantees:
//  * An Append completes ok only after its batch was written and fdatasync'd (SyncMode::kFsync).
//  * Any write/fsync error is terminal (fail-stop): that batch and every later call fail with
//    kDataLoss; fsync is never retried; health() reports it.
//  * Open replays in order: the newest complete checkpoint (if any), then every record after it.
//    A torn/zeroed tail of the LAST segment is truncated and reported; corruption anywhere else
//    fails Open with kDataLoss naming the segment file and byte offset.
//  * One owner: a second Open of the same directory (any process) fails with kConflict naming
//    the holder's pid.
// Thread-safety: Append*, Checkpoint, health and stats may be called from any thread.
// Frame layout and file naming: see wal/include/txcoord/wal/format.h and docs/wal.md.
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>

#include "txcoord/core/clock.h"
#include "txcoord/core/status.h"

namespace txcoord::wal {

using Lsn = std::uint64_t;  // 1, 2, 3, ... in append order; 0 = none

enum class SyncMode {
  kFsync,            // production: fdatasync per batch
  kNoSyncTestsOnly,  // NOT DURABLE: logs a loud warning at Open; for unit tests only
};

struct Options {
  std::string dir;
  std::uint64_t segment_bytes = 64ull << 20;  // preallocated size of each segment
  std::size_t max_batch_bytes = 4u << 20;     // group-commit batch cap
  // How long AppendLazy records may wait for a durable append to share its batch: after a
  // batch the sync thread lingers this long, and lazy records queued meanwhile do not wake it;
  // a durable append (or the delay running out, or Log destruction) writes them. 0 = a lazy
  // record is written as soon as the sync thread is free (no lingering).
  std::chrono::microseconds lazy_delay{10'000};
  SyncMode sync = SyncMode::kFsync;
  Clock* clock = nullptr;  // nullptr = Clock::Real()
};

enum class RecordKind { kEntry, kCheckpoint };

struct ReplayedRecord {
  Lsn lsn = 0;
  RecordKind kind = RecordKind::kEntry;
  std::string_view body;  // valid only during the callback
};

// Called once per replayed record, in order. A non-ok Status aborts Open with that Status.
using ReplayVisitor = std::function<Status(const ReplayedRecord&)>;

struct ReplayReport {
  std::uint64_t records = 0;  // entries replayed (after the checkpoint)
  Lsn checkpoint_lsn = 0;     // 0 = replay started from the beginning
  Lsn last_lsn = 0;
  std::uint64_t truncated_bytes = 0;   // torn/zeroed tail dropped from the last segment
  std::string truncated_segment;       // file name, when truncated_bytes > 0
  std::uint64_t truncated_offset = 0;  // where the dropped tail began
};

struct Stats {
  std::uint64_t segments = 0;
  std::uint64_t bytes_on_disk = 0;
  Lsn last_lsn = 0;
  Lsn checkpoint_lsn = 0;
  std::uint64_t batches = 0;   // fdatasync calls made for appends
  std::uint64_t appended = 0;  // records made durable since Open
  std::uint64_t last_batch_records = 0;
  double last_fsync_seconds = 0;
};

class Log {
 public:
  // Creates `options.dir` if missing, takes the owner lock, replays into `visitor`.
  static Result<std::unique_ptr<Log>> Open(const Options& options, const ReplayVisitor& visitor);
  virtual ~Log() = default;

  // Durable append. The future resolves once the record's batch is durable, or with the error.
  virtual std::future<Result<Lsn>> Append(std::string body) = 0;
  // Same, with a callback run on the log's sync thread (keep it short; do not call Append
  // synchronously waiting on it).
  virtual void AppendAsync(std::string body, std::function<void(Result<Lsn>)> done) = 0;
  // A record that need not be durable on its own (e.g. a presumed-abort END): written in LSN
  // order like any other, but a batch of only such records is not fdatasync'd — it becomes
  // durable with the next Append's batch (or a segment roll). It does not wake the sync thread
  // while that lingers after a batch: it rides the next durable append's batch, or is written
  // alone once Options::lazy_delay ran out. `done` runs once it is written (or with the error),
  // so it may run up to lazy_delay later. A crash (also kill -9 within that delay) may lose it,
  // and only it and later lazy records: never a record before a durable one. The default is
  // AppendAsync (durable: stronger).
  virtual void AppendLazy(std::string body, std::function<void(Result<Lsn>)> done) {
    AppendAsync(std::move(body), std::move(done));
  }

  // Writes a checkpoint and then deletes every whole segment it makes unnecessary.
  // Contract: `snapshot` must reflect every record whose Append was *called* before Checkpoint
  // was called. Records appended concurrently may be both in the snapshot and replayed after
  // it, so the owner's replay must be idempotent.
  virtual Status Checkpoint(std::string snapshot) = 0;
  // Checkpoint that calls `cut_taken` on the calling thread once the cut (the last LSN the
  // snapshot covers) is fixed and before any file I/O: every append called from then on gets a
  // later LSN, so an owner that keeps its appends out while it builds the snapshot (to meet the
  // contract above) may let them in again there, instead of holding them through the file's
  // fsyncs. Not called when the checkpoint is refused before the cut (a failed log, a snapshot
  // too large). The default implementation calls it after Checkpoint returns.
  virtual Status CheckpointWithCut(std::string snapshot, const std::function<void()>& cut_taken) {
    Status s = Checkpoint(std::move(snapshot));
    if (s.ok() && cut_taken) cut_taken();
    return s;
  }

  virtual Status health() const = 0;  // ok, or the fail-stop error
  virtual Stats stats() const = 0;
  virtual const ReplayReport& replay_report() const = 0;
};

// Offline operations for the recovery tool (the directory must not be open elsewhere).
struct VerifyReport {
  std::uint64_t records = 0;
  bool ok = true;
  std::string bad_segment;  // first corruption, when !ok
  std::uint64_t bad_offset = 0;
  std::string reason;
};
Result<VerifyReport> Verify(const std::string& dir);
// Truncates the log at the first corruption, keeping the cut bytes in <dir>/repair-<time>/.
Result<VerifyReport> Repair(const std::string& dir);

}  // namespace txcoord::wal
