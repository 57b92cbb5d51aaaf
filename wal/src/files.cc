#include "files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "txcoord/wal/format.h"

namespace txcoord::wal::files {
namespace {

bool ParseHex16(const std::string& s, Lsn* out) {
  if (s.size() != 16) return false;
  Lsn v = 0;
  for (char c : s) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = (v << 4) | static_cast<Lsn>(d);
  }
  *out = v;
  return true;
}

std::string Hex16(Lsn v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string SegmentName(Lsn first_lsn) {
  return Hex16(first_lsn) + format::kSegmentSuffix;
}

bool ParseSegmentName(const std::string& name, Lsn* first_lsn) {
  const std::string suffix = format::kSegmentSuffix;
  if (!EndsWith(name, suffix)) return false;
  return ParseHex16(name.substr(0, name.size() - suffix.size()), first_lsn);
}

std::string CheckpointName(Lsn lsn) {
  return std::string(format::kCheckpointPrefix) + Hex16(lsn) + format::kCheckpointSuffix;
}

bool ParseCheckpointName(const std::string& name, Lsn* lsn) {
  const std::string prefix = format::kCheckpointPrefix, suffix = format::kCheckpointSuffix;
  if (name.rfind(prefix, 0) != 0 || !EndsWith(name, suffix)) return false;
  if (name.size() < prefix.size() + suffix.size()) return false;
  return ParseHex16(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()), lsn);
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir + "/" + name;
}

Status ErrnoStatus(Code code, const std::string& what, const std::string& path) {
  return Status(code, "wal: " + what + " " + path + ": " + std::strerror(errno));
}

Status MakeDirs(const std::string& dir) {
  if (dir.empty()) return InvalidArgument("wal: Options::dir is empty");
  for (std::size_t pos = 1;; ++pos) {
    pos = dir.find('/', pos);
    const std::string part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
      return ErrnoStatus(Code::kUnavailable, "mkdir", part);
    if (pos == std::string::npos) break;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(Code::kUnavailable, "stat", dir);
  if (!S_ISDIR(st.st_mode)) return InvalidArgument("wal: " + dir + " is not a directory");
  return Status::Ok();
}

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(Code::kUnavailable, "opendir", dir);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> ReadWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(Code::kUnavailable, "open", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Status s = ErrnoStatus(Code::kUnavailable, "fstat", path);
    ::close(fd);
    return s;
  }
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pread(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = n < 0 ? ErrnoStatus(Code::kUnavailable, "read", path)
                       : Unavailable("wal: file shrank while reading " + path);
      ::close(fd);
      return s;
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return data;
}

Result<std::uint64_t> FileSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(Code::kUnavailable, "stat", path);
  return static_cast<std::uint64_t>(st.st_size);
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(Code::kDataLoss, "open dir", dir);
  Status s;
  if (::fsync(fd) != 0) s = ErrnoStatus(Code::kDataLoss, "fsync dir", dir);
  ::close(fd);
  return s;
}

Status WriteAll(int fd, const char* data, std::size_t n, std::uint64_t offset,
                const std::string& path) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return ErrnoStatus(Code::kDataLoss, "write", path);
    data += w;
    n -= static_cast<std::size_t>(w);
    offset += static_cast<std::uint64_t>(w);
  }
  return Status::Ok();
}

Result<int> CreatePreallocated(const std::string& path, std::uint64_t bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(Code::kDataLoss, "create", path);
  int rc = bytes > 0 ? ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)) : 0;
  if (rc != 0) {
    errno = rc;
    Status s = ErrnoStatus(Code::kDataLoss, "preallocate", path);
    ::close(fd);
    return s;
  }
  if (::fsync(fd) != 0) {
    Status s = ErrnoStatus(Code::kDataLoss, "fsync", path);
    ::close(fd);
    return s;
  }
  return fd;
}

Status CutFile(const std::string& path, std::uint64_t offset, std::uint64_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(Code::kDataLoss, "open", path);
  Status s;
  if (::ftruncate(fd, static_cast<off_t>(offset)) != 0) {
    s = ErrnoStatus(Code::kDataLoss, "truncate", path);
  } else if (size > offset) {
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (rc != 0) {
      errno = rc;
      s = ErrnoStatus(Code::kDataLoss, "preallocate", path);
    }
  }
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus(Code::kDataLoss, "fsync", path);
  ::close(fd);
  return s;
}

Result<int> AcquireLock(const std::string& dir) {
  const std::string path = Join(dir, format::kLockFileName);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(Code::kUnavailable, "open lock file", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) {
      errno = err;
      return ErrnoStatus(Code::kUnavailable, "flock", path);
    }
    std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "unknown";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return Conflict("wal: directory " + dir + " is in use by another owner (pid " + pid +
                    " holds " + path + ")");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    Status s = ErrnoStatus(Code::kUnavailable, "write pid to", path);
    ::close(fd);
    return s;
  }
  return fd;
}

}  // namespace txcoord::wal::files
