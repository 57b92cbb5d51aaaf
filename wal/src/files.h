#pragma once
// POSIX file helpers for the WAL. Every failure is a Status naming the path and errno text;
// nothing throws. Internal to txcoord::wal. Thread-safety: free functions.
#include <cstdint>
#include <string>
#include <vector>

#include "txcoord/core/status.h"
#include "txcoord/wal/log.h"

namespace txcoord::wal::files {

std::string SegmentName(Lsn first_lsn);  // "0000000000000001.wal"
bool ParseSegmentName(const std::string& name, Lsn* first_lsn);
std::string CheckpointName(Lsn lsn);  // "checkpoint-0000000000000001.ckpt"
bool ParseCheckpointName(const std::string& name, Lsn* lsn);
std::string Join(const std::string& dir, const std::string& name);

// Status for a failed syscall: "<what> <path>: <strerror(errno)>" with `code`.
Status ErrnoStatus(Code code, const std::string& what, const std::string& path);

Status MakeDirs(const std::string& dir);
Result<std::vector<std::string>> ListDir(const std::string& dir);  // names, sorted
Result<std::string> ReadWholeFile(const std::string& path);
Result<std::uint64_t> FileSize(const std::string& path);
Status FsyncDir(const std::string& dir);
// pwrite until done; the caller treats any error as fatal for the log.
Status WriteAll(int fd, const char* data, std::size_t n, std::uint64_t offset,
                const std::string& path);
// Creates `path` (must not exist), preallocates `bytes`, fsyncs it; returns the fd (O_WRONLY).
// The caller fsyncs the directory.
Result<int> CreatePreallocated(const std::string& path, std::uint64_t bytes);
// Cuts `path` at `offset`, zero-fills back up to `size` (preallocated), fsyncs.
Status CutFile(const std::string& path, std::uint64_t offset, std::uint64_t size);

// Takes <dir>/LOCK with flock(LOCK_EX|LOCK_NB) and writes our pid into it. Returns the fd
// (closing it releases the lock). kConflict naming the holder's pid when someone holds it.
Result<int> AcquireLock(const std::string& dir);

}  // namespace txcoord::wal::files
