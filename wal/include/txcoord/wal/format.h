#pragma once
// The WAL on-disk format, at the byte. docs/wal.md tells the same story in prose.
//
// Directory <dir>/:
//   LOCK                         flock(LOCK_EX|LOCK_NB) by the owner; holds its pid in ASCII
//   0000000000000001.wal         segment files, named by the LSN of their first record as 16
//   00000000000003e9.wal         lower-case hex digits, so name order = LSN order
//   checkpoint-00000000000003e8.ckpt   newest complete checkpoint (one frame, kind CHECKPOINT)
//   *.tmp                        a checkpoint being written; ignored and deleted at Open
//   repair-<time>/               bytes cut by wal::Repair (never read by the log)
//
// Segment file: preallocated to Options::segment_bytes (posix_fallocate), then
//
//   +---------+---------+-----+---------+----------------------+
//   | frame 1 | frame 2 | ... | frame n | zeros (unused space) |
//   +---------+---------+-----+---------+----------------------+
//
// Frame (all integers little-endian):
//
//   0       4       8   9
//   +-------+-------+---+---------------------------------+
//   | crc   | len   | t | payload (len bytes)             |
//   +-------+-------+---+---------------------------------+
//   crc : uint32, Mask(CRC32C(t, payload))   (CRC32C = Castagnoli, over the type byte then payload)
//   len : uint32, payload length, 1..kMaxPayloadBytes
//   t   : uint8 FrameType; 0 is reserved for zero-filled space: an all-zero header marks the
//         end of the data in a segment
//   payload : a serialized txcoord.wal.pb.Record (wal/wal.proto):
//         Record := { format_version = kFormatVersion, lsn, kind = ENTRY | CHECKPOINT, body }
//
// A frame never spans two segments. A frame larger than a whole segment is written alone into a
// fresh segment, which then grows past its preallocated size.
// Segment invariants: LSNs inside a segment are consecutive and the first equals the file name;
// segment k+1 starts at (last LSN of k) + 1, or anywhere up to checkpoint_lsn + 1 when a
// checkpoint covers the gap.
//
// Checkpoint file checkpoint-<lsn>.ckpt: exactly one frame whose Record has kind CHECKPOINT,
// lsn = the last LSN the snapshot covers, body = the owner's snapshot. Written as *.tmp, fsync'd,
// renamed, directory fsync'd.
#include <cstddef>
#include <cstdint>

namespace txcoord::wal::format {

inline constexpr std::uint32_t kFormatVersion = 1;

enum FrameType : std::uint8_t {
  kZeroType = 0,    // reserved: preallocated / zero-filled space
  kRecordType = 1,  // payload is one txcoord.wal.pb.Record
};

inline constexpr std::size_t kHeaderBytes = 9;  // crc(4) + len(4) + type(1)
inline constexpr std::uint32_t kMaxPayloadBytes = 256u << 20;
// Largest body Append accepts (leaves room for the Record envelope inside kMaxPayloadBytes).
inline constexpr std::size_t kMaxBodyBytes = kMaxPayloadBytes - 64;
// Segment sizes Options accept.
inline constexpr std::uint64_t kMinSegmentBytes = 4096;
inline constexpr std::uint64_t kMaxSegmentBytes = 4ull << 30;

inline constexpr const char* kSegmentSuffix = ".wal";
inline constexpr const char* kCheckpointPrefix = "checkpoint-";
inline constexpr const char* kCheckpointSuffix = ".ckpt";
inline constexpr const char* kLockFileName = "LOCK";

// CRC masking as in leveldb: storing the CRC of data that itself contains CRCs is fragile.
inline constexpr std::uint32_t kMaskDelta = 0xa282ead8u;
inline constexpr std::uint32_t MaskCrc(std::uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}
inline constexpr std::uint32_t UnmaskCrc(std::uint32_t masked) {
  std::uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace txcoord::wal::format
