#pragma once
// Frame encoding/decoding and the in-memory segment reader (format.h). Internal to txcoord::wal.
// Thread-safety: free functions; safe from any thread.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "txcoord/core/status.h"
#include "txcoord/wal/log.h"

namespace txcoord::wal {

// One whole frame (header + serialized Record) ready to write.
std::string EncodeFrame(Lsn lsn, RecordKind kind, std::string_view body);

struct DecodedRecord {
  Lsn lsn = 0;
  RecordKind kind = RecordKind::kEntry;
  std::string_view body;  // valid until the next DecodeFrame on this thread
};

enum class FrameResult {
  kOk,         // a valid frame; *out filled
  kEnd,        // an all-zero header, or exactly the end of the buffer
  kTruncated,  // the buffer ends inside the header or payload
  kBad,        // bad type, length, CRC or envelope
};

struct Decoded {
  FrameResult result = FrameResult::kEnd;
  std::size_t frame_bytes = 0;  // header + payload, when kOk
  std::string reason;           // when kTruncated / kBad
};

Decoded DecodeFrame(const char* data, std::size_t size, std::size_t offset, DecodedRecord* out);

// True if some offset in (from, size) starts a frame with a valid CRC: the sign that bad bytes
// at `from` are corruption in the middle of data, not a torn tail.
bool AnyValidFrameAfter(const char* data, std::size_t size, std::size_t from);

struct BufferScan {
  enum class Outcome { kClean, kTornTail, kCorrupt, kStopped };
  Outcome outcome = Outcome::kClean;
  std::uint64_t good_end = 0;  // end of the last good frame (where appends continue)
  std::uint64_t records = 0;
  Lsn next_lsn = 0;                 // the LSN the next record must carry
  std::uint64_t bad_offset = 0;     // kTornTail / kCorrupt
  std::uint64_t dropped_bytes = 0;  // kTornTail: bytes from bad_offset to the last non-zero byte
  std::string reason;
  Status stopped;  // kStopped: the visitor's error
};

using FrameVisitor = std::function<Status(const DecodedRecord&)>;

// Reads the frames of one segment image. Records must be ENTRY with consecutive LSNs starting at
// `first_lsn`. Bad bytes with no valid frame after them are a torn tail when `is_last`, and
// corruption otherwise; non-zero bytes after the end marker count as bad bytes too.
BufferScan ScanBuffer(const char* data, std::size_t size, bool is_last, Lsn first_lsn,
                      const FrameVisitor& visit);

}  // namespace txcoord::wal
