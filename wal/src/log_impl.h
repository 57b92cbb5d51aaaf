#pragma once
// LogImpl: the Log behind Log::Open. Internal to txcoord::wal.
//
// Threads: appenders enqueue framed records under mu_ (LSNs are assigned in queue order); one
// sync thread takes batches off the queue, writes each batch with one pwrite and makes it durable
// with one fdatasync, then completes the batch's callbacks. After a batch it lingers up to
// Options::lazy_delay for the next durable append: lazy records queued meanwhile do not wake it
// (they ride that append's batch, or are written when the delay runs out). Checkpoint runs on
// the caller's thread, serialized by ckpt_mu_. On any I/O error the log fails (fail-stop) for
// good.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "scan.h"
#include "txcoord/wal/log.h"

namespace txcoord::wal {

// One queued append: its framed record (LSN already inside) and its completion.
struct Pending {
  Lsn lsn = 0;
  std::string frame;
  std::function<void(Result<Lsn>)> done;
  bool sync = true;  // false: AppendLazy (no fdatasync for a batch of only such records)
};

class LogImpl final : public Log {
 public:
  // Takes ownership of `lock_fd` (the held LOCK file); Start must succeed before use.
  LogImpl(Options options, int lock_fd);
  ~LogImpl() override;

  Status Start(const LogScan& scan);

  std::future<Result<Lsn>> Append(std::string body) override;
  void AppendAsync(std::string body, std::function<void(Result<Lsn>)> done) override;
  void AppendLazy(std::string body, std::function<void(Result<Lsn>)> done) override;
  Status Checkpoint(std::string snapshot) override;
  Status CheckpointWithCut(std::string snapshot, const std::function<void()>& cut_taken) override;
  Status health() const override {
    std::lock_guard lk(mu_);
    return failed_;
  }
  Stats stats() const override;
  const ReplayReport& replay_report() const override { return report_; }

 private:
  void SyncLoop();
  // Under mu_ (held by `lk`): waits until a batch is due — a durable record queued, the queue
  // over max_batch_bytes, lazy records queued and the linger (from the call on) over, or stop_.
  void WaitForBatch(std::unique_lock<std::mutex>& lk);
  Status WriteBatch(const std::vector<Pending>& batch, std::uint64_t* syncs);
  Status WriteAndSync(const std::string& buf, bool sync);  // sync=false: lazy records only
  void Enqueue(std::string body, std::function<void(Result<Lsn>)> done, bool sync);
  Status RollSegment(Lsn first_lsn);
  Status WriteCheckpointFile(Lsn cut, const std::string& snapshot);
  Status DeleteCovered(Lsn cut);
  // Enters the failed state (first cause wins); returns the queued appends to fail.
  std::deque<Pending> FailLocked(const Status& cause);

  const Options opts_;
  Clock& clock_;
  const int lock_fd_;
  ReplayReport report_;

  mutable std::mutex mu_;  // guards the fields down to stats_
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::size_t queued_bytes_ = 0;    // frame bytes in queue_
  std::size_t queued_durable_ = 0;  // records in queue_ that need an fdatasync (not lazy)
  Lsn next_lsn_ = 1;
  Status failed_;
  bool stop_ = false;
  // How the sync thread waits on cv_, i.e. which appends must notify it: when kIdle, every one;
  // when kLinger (timed wait after a batch), durable ones and those filling a batch; when kBusy,
  // none (it looks at the queue again before it waits).
  enum class Waiting { kBusy, kLinger, kIdle };
  Waiting waiting_ = Waiting::kBusy;
  Stats stats_;

  mutable std::mutex seg_mu_;  // guards segments_ (sync thread appends, Checkpoint deletes)
  std::vector<SegmentFile> segments_;
  // Sync-thread state (also touched by Start before the thread runs).
  int cur_fd_ = -1;
  std::uint64_t cur_off_ = 0;
  bool unsynced_ = false;  // the current segment has lazy writes not yet fdatasync'd
  std::string cur_path_;

  std::mutex ckpt_mu_;  // one Checkpoint at a time
  std::thread thread_;
};

// The Status every call returns once the log has failed because of `cause`.
Status FailStop(const Status& cause);

}  // namespace txcoord::wal
