// wal::Verify and wal::Repair: offline tools; both take the directory's owner lock.
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include "files.h"
#include "scan.h"
#include "txcoord/wal/log.h"

namespace txcoord::wal {
namespace {

// Holds the owner lock for the duration of an offline operation.
class OfflineLock {
 public:
  explicit OfflineLock(int fd) : fd_(fd) {}
  ~OfflineLock() { ::close(fd_); }
  OfflineLock(const OfflineLock&) = delete;
  OfflineLock& operator=(const OfflineLock&) = delete;

 private:
  int fd_;
};

Status CheckDir(const std::string& dir) {
  if (dir.empty()) return InvalidArgument("wal: directory name is empty");
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return NotFound("wal: no such directory " + dir);
  return Status::Ok();
}

VerifyReport ToReport(const LogScan& scan) {
  VerifyReport r;
  r.records = scan.entries_valid;
  if (scan.corrupt) {
    r.ok = false;
    r.bad_segment = scan.bad_segment;
    r.bad_offset = scan.bad_offset;
    r.reason = scan.reason;
  } else if (scan.torn) {
    r.ok = false;
    r.bad_segment = scan.segments.back().name;
    r.bad_offset = scan.torn_offset;
    r.reason = "torn tail of " + std::to_string(scan.torn_bytes) + " bytes (" + scan.torn_reason +
               "); Open would truncate it";
  }
  return r;
}

std::string RepairDirName() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return std::string("repair-") + buf + "-" + std::to_string(::getpid());
}

// Saves the non-zero bytes of `seg` from `offset` on into `repair_dir`, then cuts the segment.
Status CutSegment(const std::string& dir, const std::string& repair_dir, const std::string& seg,
                  std::uint64_t offset) {
  const std::string path = files::Join(dir, seg);
  TXC_ASSIGN_OR_RETURN(std::string data, files::ReadWholeFile(path));
  std::size_t end = data.size();
  while (end > offset && data[end - 1] == 0) --end;
  const std::string saved = files::Join(repair_dir, seg + ".from-" + std::to_string(offset));
  TXC_ASSIGN_OR_RETURN(int fd, files::CreatePreallocated(saved, 0));
  Status s = files::WriteAll(fd, data.data() + offset, end - offset, 0, saved);
  if (s.ok() && ::fsync(fd) != 0) s = files::ErrnoStatus(Code::kDataLoss, "fsync", saved);
  ::close(fd);
  TXC_RETURN_IF_ERROR(s);
  return files::CutFile(path, offset, data.size());
}

Status MoveSegment(const std::string& dir, const std::string& repair_dir, const std::string& seg) {
  const std::string from = files::Join(dir, seg);
  if (::rename(from.c_str(), files::Join(repair_dir, seg).c_str()) != 0)
    return files::ErrnoStatus(Code::kUnavailable, "move", from);
  return Status::Ok();
}

}  // namespace

Result<VerifyReport> Verify(const std::string& dir) {
  TXC_RETURN_IF_ERROR(CheckDir(dir));
  TXC_ASSIGN_OR_RETURN(int lock_fd, files::AcquireLock(dir));
  OfflineLock lock(lock_fd);
  TXC_ASSIGN_OR_RETURN(LogScan scan, ScanLog(dir, ReplayVisitor()));
  return ToReport(scan);
}

Result<VerifyReport> Repair(const std::string& dir) {
  TXC_RETURN_IF_ERROR(CheckDir(dir));
  TXC_ASSIGN_OR_RETURN(int lock_fd, files::AcquireLock(dir));
  OfflineLock lock(lock_fd);
  TXC_ASSIGN_OR_RETURN(LogScan scan, ScanLog(dir, ReplayVisitor()));
  VerifyReport report = ToReport(scan);
  if (report.ok) return report;

  const std::string repair_dir = files::Join(dir, RepairDirName());
  TXC_RETURN_IF_ERROR(files::MakeDirs(repair_dir));
  bool after_bad = false;
  for (const SegmentFile& seg : scan.segments) {
    if (seg.name == report.bad_segment) {
      after_bad = true;
      // A segment that is wrong from its first byte (e.g. it does not continue the LSNs) goes
      // whole; otherwise only its bad tail is cut.
      TXC_RETURN_IF_ERROR(report.bad_offset == 0
                              ? MoveSegment(dir, repair_dir, seg.name)
                              : CutSegment(dir, repair_dir, seg.name, report.bad_offset));
    } else if (after_bad) {
      TXC_RETURN_IF_ERROR(MoveSegment(dir, repair_dir, seg.name));
    }
  }
  TXC_RETURN_IF_ERROR(files::FsyncDir(repair_dir));
  TXC_RETURN_IF_ERROR(files::FsyncDir(dir));
  return report;
}

}  // namespace txcoord::wal
