// LogImpl's checkpoint, compaction and stats.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "files.h"
#include "frame.h"
#include "log_impl.h"
#include "txcoord/core/fault.h"
#include "txcoord/wal/format.h"

namespace txcoord::wal {

Status LogImpl::Checkpoint(std::string snapshot) {
  return CheckpointWithCut(std::move(snapshot), nullptr);
}

Status LogImpl::CheckpointWithCut(std::string snapshot, const std::function<void()>& cut_taken) {
  if (snapshot.size() > format::kMaxBodyBytes)
    return InvalidArgument("wal: checkpoint snapshot of " + std::to_string(snapshot.size()) +
                           " bytes exceeds the limit of " + std::to_string(format::kMaxBodyBytes));
  std::lock_guard ck(ckpt_mu_);
  Lsn cut = 0;
  {
    std::lock_guard lk(mu_);
    if (!failed_.ok()) return failed_;
    cut = next_lsn_ - 1;
  }
  if (cut_taken) cut_taken();
  Status s = WriteCheckpointFile(cut, snapshot);
  if (!s.ok()) {
    std::deque<Pending> refused;
    Status failure;
    {
      std::lock_guard lk(mu_);
      refused = FailLocked(s);
      failure = failed_;
    }
    for (Pending& p : refused) p.done(failure);
    return failure;
  }
  {
    std::lock_guard lk(mu_);
    stats_.checkpoint_lsn = cut;
  }
  return DeleteCovered(cut);
}

Status LogImpl::WriteCheckpointFile(Lsn cut, const std::string& snapshot) {
  const std::string name = files::CheckpointName(cut);
  const std::string path = files::Join(opts_.dir, name);
  const std::string tmp = path + ".tmp";
  const std::string frame = EncodeFrame(cut, RecordKind::kCheckpoint, snapshot);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return files::ErrnoStatus(Code::kDataLoss, "create", tmp);
  Status s = TXC_FAULT("wal.checkpoint.before_write");
  // In chunks, each pushed to the disk before the next is written: the log's fdatasyncs
  // meanwhile wait for at most one chunk's writeback, not the whole file's (a checkpoint of
  // 100,000 transactions in flight is ~86 MB). Advisory: the fsync below is what counts.
  constexpr std::size_t kChunk = 4u << 20;
  for (std::size_t at = 0; s.ok() && at < frame.size(); at += kChunk) {
    const std::size_t n = std::min(kChunk, frame.size() - at);
    s = files::WriteAll(fd, frame.data() + at, n, at, tmp);
    if (s.ok() && frame.size() > kChunk) {
      (void)::sync_file_range(
          fd, static_cast<off_t>(at), static_cast<off_t>(n),
          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    }
  }
  if (s.ok()) s = TXC_FAULT("wal.checkpoint.before_fsync");
  if (s.ok() && ::fsync(fd) != 0) s = files::ErrnoStatus(Code::kDataLoss, "fsync", tmp);
  ::close(fd);
  if (s.ok()) s = TXC_FAULT("wal.checkpoint.before_rename");
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    s = files::ErrnoStatus(Code::kDataLoss, "rename", tmp);
  if (s.ok()) s = files::FsyncDir(opts_.dir);
  return s;
}

// Deletes every closed segment whose records are all <= cut, and older checkpoints. A failure
// here leaves extra files behind (replay skips them) and is reported, not fail-stop.
Status LogImpl::DeleteCovered(Lsn cut) {
  std::vector<std::string> victims;
  {
    std::lock_guard lk(seg_mu_);
    while (segments_.size() >= 2 && segments_[1].first_lsn <= cut + 1) {
      victims.push_back(segments_.front().name);
      segments_.erase(segments_.begin());
    }
  }
  TXC_ASSIGN_OR_RETURN(std::vector<std::string> names, files::ListDir(opts_.dir));
  for (const std::string& name : names) {
    Lsn lsn = 0;
    if (files::ParseCheckpointName(name, &lsn) && lsn < cut) victims.push_back(name);
  }
  Status result;
  for (const std::string& name : victims) {
    const std::string path = files::Join(opts_.dir, name);
    if (::unlink(path.c_str()) != 0 && result.ok())
      result = files::ErrnoStatus(Code::kUnavailable, "delete", path);
  }
  if (!victims.empty()) {
    Status s = files::FsyncDir(opts_.dir);
    if (result.ok()) result = s;
  }
  return result;
}

Stats LogImpl::stats() const {
  Stats out;
  {
    std::lock_guard lk(mu_);
    out = stats_;
  }
  std::vector<std::string> names;
  {
    std::lock_guard lk(seg_mu_);
    out.segments = segments_.size();
    for (const SegmentFile& seg : segments_) names.push_back(seg.name);
  }
  names.push_back(files::CheckpointName(out.checkpoint_lsn));
  for (const std::string& name : names) {
    Result<std::uint64_t> size = files::FileSize(files::Join(opts_.dir, name));
    if (size.ok()) out.bytes_on_disk += *size;  // a missing checkpoint file counts 0
  }
  return out;
}

}  // namespace txcoord::wal
