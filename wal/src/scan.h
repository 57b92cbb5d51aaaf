#pragma once
// Directory-level read of a WAL: picks the newest valid checkpoint, then reads every segment in
// LSN order. Shared by Log::Open, Verify and Repair. Reads only; never modifies the directory.
#include <cstdint>
#include <string>
#include <vector>

#include "txcoord/core/status.h"
#include "txcoord/wal/log.h"

namespace txcoord::wal {

struct SegmentFile {
  Lsn first_lsn = 0;
  std::string name;
};

struct LogScan {
  Lsn checkpoint_lsn = 0;
  std::string checkpoint_name;               // empty = none
  std::vector<std::string> bad_checkpoints;  // incomplete/invalid checkpoint files, skipped
  std::vector<std::string> tmp_files;        // *.tmp leftovers of interrupted checkpoints
  std::vector<SegmentFile> segments;         // in LSN order
  std::uint64_t entries_replayed = 0;        // entries with lsn > checkpoint_lsn
  std::uint64_t entries_valid = 0;           // every valid entry read
  Lsn stream_next_lsn = 1;                   // the LSN after the last record in the segments
  Lsn next_lsn = 1;  // max(stream_next_lsn, checkpoint_lsn + 1): the next LSN to assign
  std::uint64_t tail_offset = 0;  // end of good data in the last segment
  std::uint64_t tail_file_size = 0;

  bool torn = false;  // the last segment ends with bad bytes and nothing valid after them
  std::uint64_t torn_offset = 0;
  std::uint64_t torn_bytes = 0;
  std::string torn_reason;

  bool corrupt = false;  // bad bytes anywhere else: the first one
  std::string bad_segment;
  std::uint64_t bad_offset = 0;
  std::string reason;
};

// `visitor` may be empty. An error is returned only for I/O failures and visitor errors;
// torn tails and corruption are described in the LogScan.
Result<LogScan> ScanLog(const std::string& dir, const ReplayVisitor& visitor);

}  // namespace txcoord::wal
