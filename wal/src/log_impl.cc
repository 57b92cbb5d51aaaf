// Log::Open and the append path of LogImpl (group commit on the sync thread).
#include <fcntl.h>
#include <unistd.h>
#include <algorithm>

#include <cstdio>

#include "files.h"
#include "frame.h"
#include "log_impl.h"
#include "txcoord/core/fault.h"
#include "txcoord/core/thread_name.h"
#include "txcoord/wal/format.h"

namespace txcoord::wal {

Status FailStop(const Status& cause) {
  return DataLoss("wal: the log has failed and refuses all further work (fail-stop): " +
                  cause.ToString());
}

LogImpl::~LogImpl() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (cur_fd_ >= 0 && unsynced_ && opts_.sync == SyncMode::kFsync) ::fdatasync(cur_fd_);
  if (cur_fd_ >= 0) ::close(cur_fd_);
  ::close(lock_fd_);
}

LogImpl::LogImpl(Options options, int lock_fd)
    : opts_(std::move(options)),
      clock_(opts_.clock != nullptr ? *opts_.clock : Clock::Real()),
      lock_fd_(lock_fd) {}

Status LogImpl::Start(const LogScan& scan) {
  for (const std::string& tmp : scan.tmp_files) ::unlink(files::Join(opts_.dir, tmp).c_str());
  for (const std::string& bad : scan.bad_checkpoints)
    std::fprintf(stderr, "wal: ignoring incomplete checkpoint %s/%s\n", opts_.dir.c_str(),
                 bad.c_str());
  segments_ = scan.segments;
  next_lsn_ = scan.next_lsn;
  report_.records = scan.entries_replayed;
  report_.checkpoint_lsn = scan.checkpoint_lsn;
  report_.last_lsn = scan.next_lsn - 1;
  stats_.checkpoint_lsn = scan.checkpoint_lsn;
  stats_.last_lsn = scan.next_lsn - 1;
  if (!segments_.empty()) {
    cur_path_ = files::Join(opts_.dir, segments_.back().name);
    if (scan.torn) {
      report_.truncated_bytes = scan.torn_bytes;
      report_.truncated_segment = segments_.back().name;
      report_.truncated_offset = scan.torn_offset;
      std::fprintf(stderr, "wal: truncated torn tail of %s at offset %llu (%llu bytes: %s)\n",
                   cur_path_.c_str(), static_cast<unsigned long long>(scan.torn_offset),
                   static_cast<unsigned long long>(scan.torn_bytes), scan.torn_reason.c_str());
      TXC_RETURN_IF_ERROR(files::CutFile(cur_path_, scan.tail_offset, opts_.segment_bytes));
    }
  }
  if (segments_.empty() || scan.stream_next_lsn != scan.next_lsn) {
    TXC_RETURN_IF_ERROR(RollSegment(next_lsn_));  // a checkpoint covers LSNs never written
  } else {
    cur_fd_ = ::open(cur_path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (cur_fd_ < 0) return files::ErrnoStatus(Code::kUnavailable, "open", cur_path_);
    cur_off_ = scan.tail_offset;
  }
  thread_ = std::thread([this] { SyncLoop(); });
  NameThread(thread_, "txc-wal-sync");
  return Status::Ok();
}

std::future<Result<Lsn>> LogImpl::Append(std::string body) {
  auto promise = std::make_shared<std::promise<Result<Lsn>>>();
  std::future<Result<Lsn>> f = promise->get_future();
  AppendAsync(std::move(body), [promise](Result<Lsn> r) { promise->set_value(std::move(r)); });
  return f;
}

void LogImpl::AppendAsync(std::string body, std::function<void(Result<Lsn>)> done) {
  Enqueue(std::move(body), std::move(done), true);
}

void LogImpl::AppendLazy(std::string body, std::function<void(Result<Lsn>)> done) {
  Enqueue(std::move(body), std::move(done), false);
}

void LogImpl::Enqueue(std::string body, std::function<void(Result<Lsn>)> done, bool sync) {
  if (!done) done = [](Result<Lsn>) {};
  if (body.size() > format::kMaxBodyBytes) {
    done(InvalidArgument("wal: record body of " + std::to_string(body.size()) +
                         " bytes exceeds the limit of " + std::to_string(format::kMaxBodyBytes)));
    return;
  }
  Status refused;
  bool wake = false;
  {
    std::lock_guard lk(mu_);
    if (!failed_.ok()) {
      refused = failed_;
    } else if (stop_) {
      refused = FailedPrecondition("wal: the log is closing");
    } else {
      const Lsn lsn = next_lsn_++;
      queue_.push_back({lsn, EncodeFrame(lsn, RecordKind::kEntry, body), std::move(done), sync});
      queued_bytes_ += queue_.back().frame.size();
      if (sync) ++queued_durable_;
      // A lingering sync thread is not woken for a lazy record: it rides the next batch.
      wake = waiting_ == Waiting::kIdle ||
             (waiting_ == Waiting::kLinger && (sync || queued_bytes_ >= opts_.max_batch_bytes));
      if (wake) waiting_ = Waiting::kBusy;
    }
  }
  if (!refused.ok()) {
    done(refused);
    return;
  }
  if (wake) cv_.notify_one();
}

void LogImpl::WaitForBatch(std::unique_lock<std::mutex>& lk) {
  using Steady = std::chrono::steady_clock;
  const Steady::time_point linger_end = Steady::now() + opts_.lazy_delay;
  for (;;) {
    if (stop_ || queued_durable_ > 0 || queued_bytes_ >= opts_.max_batch_bytes) break;
    const bool linger = opts_.lazy_delay.count() > 0 && Steady::now() < linger_end;
    if (!queue_.empty() && !linger) break;  // lazy records only, and they waited long enough
    if (linger) {
      waiting_ = Waiting::kLinger;
      cv_.wait_until(lk, linger_end);
    } else {
      waiting_ = Waiting::kIdle;
      cv_.wait(lk);
    }
  }
  waiting_ = Waiting::kBusy;
}

void LogImpl::SyncLoop() {
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      WaitForBatch(lk);
      if (queue_.empty()) return;  // stop_
      std::size_t bytes = 0;
      while (!queue_.empty() &&
             (batch.empty() || bytes + queue_.front().frame.size() <= opts_.max_batch_bytes)) {
        bytes += queue_.front().frame.size();
        if (queue_.front().sync) --queued_durable_;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_bytes_ -= bytes;
    }
    const auto start = clock_.Now();
    std::uint64_t syncs = 0;
    Status s = WriteBatch(batch, &syncs);
    const double seconds = std::chrono::duration<double>(clock_.Now() - start).count();
    std::deque<Pending> refused;
    Status failure;
    {
      std::lock_guard lk(mu_);
      if (s.ok()) {
        stats_.batches += syncs;
        stats_.appended += batch.size();
        stats_.last_batch_records = batch.size();
        stats_.last_fsync_seconds = seconds;
        stats_.last_lsn = batch.back().lsn;
      } else {
        refused = FailLocked(s);
        failure = failed_;
      }
    }
    for (Pending& p : batch) {
      if (s.ok()) {
        p.done(p.lsn);
      } else {
        p.done(failure);
      }
    }
    for (Pending& p : refused) p.done(failure);
    batch.clear();
  }
}

std::deque<Pending> LogImpl::FailLocked(const Status& cause) {
  if (failed_.ok()) {
    failed_ = FailStop(cause);
    std::fprintf(stderr, "%s\n", failed_.ToString().c_str());
  }
  std::deque<Pending> refused;
  refused.swap(queue_);
  queued_bytes_ = 0;
  queued_durable_ = 0;
  return refused;
}

Status LogImpl::WriteBatch(const std::vector<Pending>& batch, std::uint64_t* syncs) {
  const bool sync =
      std::any_of(batch.begin(), batch.end(), [](const Pending& p) { return p.sync; });
  std::string buf;
  std::size_t i = 0;
  while (i < batch.size()) {
    const std::uint64_t room = cur_off_ < opts_.segment_bytes ? opts_.segment_bytes - cur_off_ : 0;
    if (batch[i].frame.size() > room && cur_off_ > 0) {
      TXC_RETURN_IF_ERROR(RollSegment(batch[i].lsn));
      continue;
    }
    // One run per segment: the first frame always goes (alone, if it is larger than a segment).
    buf.clear();
    std::size_t j = i;
    while (j < batch.size() && (j == i || buf.size() + batch[j].frame.size() <= room)) {
      buf += batch[j].frame;
      ++j;
    }
    // Unsynced lazy writes of a run are synced by RollSegment before the next run.
    TXC_RETURN_IF_ERROR(WriteAndSync(buf, sync));
    if (sync) ++*syncs;
    i = j;
  }
  return Status::Ok();
}

Status LogImpl::WriteAndSync(const std::string& buf, bool sync) {
  TXC_RETURN_IF_ERROR(TXC_FAULT("wal.before_write"));
  TXC_RETURN_IF_ERROR(files::WriteAll(cur_fd_, buf.data(), buf.size(), cur_off_, cur_path_));
  cur_off_ += buf.size();
  if (!sync) {
    unsynced_ = true;
    return Status::Ok();
  }
  unsynced_ = false;
  TXC_RETURN_IF_ERROR(TXC_FAULT("wal.before_fsync"));
  if (opts_.sync == SyncMode::kFsync && ::fdatasync(cur_fd_) != 0)
    return files::ErrnoStatus(Code::kDataLoss, "fdatasync", cur_path_);
  return TXC_FAULT("wal.after_fsync");
}

Status LogImpl::RollSegment(Lsn first_lsn) {
  TXC_RETURN_IF_ERROR(TXC_FAULT("wal.before_roll"));
  // Lazy records left unsynced in the old segment must not be lost behind durable records in
  // the new one: that would be a hole in the middle of the log, not a torn tail.
  if (unsynced_ && opts_.sync == SyncMode::kFsync && ::fdatasync(cur_fd_) != 0) {
    return files::ErrnoStatus(Code::kDataLoss, "fdatasync", cur_path_);
  }
  unsynced_ = false;
  const std::string name = files::SegmentName(first_lsn);
  const std::string path = files::Join(opts_.dir, name);
  TXC_ASSIGN_OR_RETURN(int fd, files::CreatePreallocated(path, opts_.segment_bytes));
  Status s = files::FsyncDir(opts_.dir);
  if (!s.ok()) {
    ::close(fd);
    return s;
  }
  if (cur_fd_ >= 0) ::close(cur_fd_);
  cur_fd_ = fd;
  cur_off_ = 0;
  cur_path_ = path;
  std::lock_guard lk(seg_mu_);
  segments_.push_back({first_lsn, name});
  return Status::Ok();
}

namespace {

Status ValidateOptions(const Options& o) {
  if (o.dir.empty()) return InvalidArgument("wal: Options::dir is empty");
  if (o.segment_bytes < format::kMinSegmentBytes || o.segment_bytes > format::kMaxSegmentBytes)
    return InvalidArgument("wal: Options::segment_bytes must be between " +
                           std::to_string(format::kMinSegmentBytes) + " and " +
                           std::to_string(format::kMaxSegmentBytes));
  if (o.max_batch_bytes == 0) return InvalidArgument("wal: Options::max_batch_bytes is 0");
  if (o.lazy_delay.count() < 0 || o.lazy_delay > std::chrono::seconds(10))
    return InvalidArgument("wal: Options::lazy_delay must be between 0 and 10 s");
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Log>> Log::Open(const Options& options, const ReplayVisitor& visitor) {
  TXC_RETURN_IF_ERROR(ValidateOptions(options));
  TXC_RETURN_IF_ERROR(files::MakeDirs(options.dir));
  TXC_ASSIGN_OR_RETURN(int lock_fd, files::AcquireLock(options.dir));
  auto log = std::make_unique<LogImpl>(options, lock_fd);  // owns lock_fd from here
  if (options.sync == SyncMode::kNoSyncTestsOnly) {
    std::fprintf(stderr,
                 "WARNING: wal %s opened with SyncMode::kNoSyncTestsOnly: appends are NOT "
                 "durable. For tests only; never use in production.\n",
                 options.dir.c_str());
  }
  Result<LogScan> scan = ScanLog(options.dir, visitor);
  if (!scan.ok()) return scan.status().Annotate("wal open " + options.dir);
  if (scan->corrupt) {
    return DataLoss("wal open: corruption in segment " +
                    files::Join(options.dir, scan->bad_segment) + " at offset " +
                    std::to_string(scan->bad_offset) + ": " + scan->reason +
                    ". The log was not changed; inspect with wal::Verify, cut with wal::Repair");
  }
  TXC_RETURN_IF_ERROR(log->Start(*scan));
  return std::unique_ptr<Log>(std::move(log));
}

}  // namespace txcoord::wal
