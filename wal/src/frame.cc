#include "frame.h"

#include <cstring>

#include "crc32c.h"
#include "txcoord/wal/format.h"
#include "wal.pb.h"

namespace txcoord::wal {
namespace {

void PutU32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint32_t GetU32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::uint32_t FrameCrc(std::uint8_t type, const char* payload, std::size_t n) {
  return crc32c::Extend(crc32c::Value(&type, 1), payload, n);
}

bool AllZero(const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

Decoded Fail(FrameResult r, std::string reason) {
  return {r, 0, std::move(reason)};
}

}  // namespace

std::string EncodeFrame(Lsn lsn, RecordKind kind, std::string_view body) {
  pb::Record rec;
  rec.set_format_version(format::kFormatVersion);
  rec.set_lsn(lsn);
  rec.set_kind(kind == RecordKind::kEntry ? pb::KIND_ENTRY : pb::KIND_CHECKPOINT);
  rec.set_body(body.data(), body.size());
  std::string frame(format::kHeaderBytes, '\0');
  rec.AppendToString(&frame);
  const std::size_t n = frame.size() - format::kHeaderBytes;
  const char* payload = frame.data() + format::kHeaderBytes;
  PutU32(frame.data(), format::MaskCrc(FrameCrc(format::kRecordType, payload, n)));
  PutU32(frame.data() + 4, static_cast<std::uint32_t>(n));
  frame[8] = static_cast<char>(format::kRecordType);
  return frame;
}

Decoded DecodeFrame(const char* data, std::size_t size, std::size_t offset, DecodedRecord* out) {
  if (offset >= size) return Fail(FrameResult::kEnd, "");
  const std::size_t avail = size - offset;
  const char* p = data + offset;
  if (avail < format::kHeaderBytes) {
    if (AllZero(p, avail)) return Fail(FrameResult::kEnd, "");
    return Fail(FrameResult::kTruncated, "partial frame header");
  }
  if (AllZero(p, format::kHeaderBytes)) return Fail(FrameResult::kEnd, "");
  const std::uint32_t len = GetU32(p + 4);
  const auto type = static_cast<std::uint8_t>(p[8]);
  if (type != format::kRecordType) return Fail(FrameResult::kBad, "unknown frame type");
  if (len == 0 || len > format::kMaxPayloadBytes)
    return Fail(FrameResult::kBad, "frame length out of range");
  if (len > avail - format::kHeaderBytes)
    return Fail(FrameResult::kTruncated, "frame extends past end of data");
  const char* payload = p + format::kHeaderBytes;
  if (format::UnmaskCrc(GetU32(p)) != FrameCrc(type, payload, len))
    return Fail(FrameResult::kBad, "CRC mismatch");
  thread_local pb::Record rec;
  if (!rec.ParseFromArray(payload, static_cast<int>(len)))
    return Fail(FrameResult::kBad, "unparsable record envelope");
  if (rec.format_version() != format::kFormatVersion)
    return Fail(FrameResult::kBad,
                "unsupported format version " + std::to_string(rec.format_version()));
  if (rec.kind() != pb::KIND_ENTRY && rec.kind() != pb::KIND_CHECKPOINT)
    return Fail(FrameResult::kBad, "unknown record kind");
  out->lsn = rec.lsn();
  out->kind = rec.kind() == pb::KIND_ENTRY ? RecordKind::kEntry : RecordKind::kCheckpoint;
  out->body = rec.body();
  return {FrameResult::kOk, format::kHeaderBytes + len, ""};
}

bool AnyValidFrameAfter(const char* data, std::size_t size, std::size_t from) {
  // Hostile bytes could make this quadratic; past the budget, answer "yes" (= corruption: Open
  // refuses and the operator decides), never "torn" on a guess.
  std::uint64_t budget = 4 * static_cast<std::uint64_t>(size) + (1u << 20);
  for (std::size_t o = from + 1; o + format::kHeaderBytes <= size; ++o) {
    const char* p = data + o;
    if (static_cast<std::uint8_t>(p[8]) != format::kRecordType) continue;
    const std::uint32_t len = GetU32(p + 4);
    if (len == 0 || len > size - o - format::kHeaderBytes) continue;
    if (len > budget) return true;
    budget -= len;
    if (format::UnmaskCrc(GetU32(p)) == FrameCrc(p[8], p + format::kHeaderBytes, len)) return true;
  }
  return false;
}

namespace {

std::uint64_t LastNonZeroEnd(const char* data, std::size_t size, std::size_t from) {
  std::size_t end = size;
  while (end > from && data[end - 1] == 0) --end;
  return end;
}

// Classifies bad bytes at `off`: torn tail (last segment, nothing valid after) or corruption.
void ClassifyBad(const char* data, std::size_t size, bool is_last, std::size_t off,
                 std::string reason, BufferScan* scan) {
  scan->bad_offset = off;
  scan->reason = std::move(reason);
  if (is_last && !AnyValidFrameAfter(data, size, off)) {
    scan->outcome = BufferScan::Outcome::kTornTail;
    scan->dropped_bytes = LastNonZeroEnd(data, size, off) - off;
  } else {
    scan->outcome = BufferScan::Outcome::kCorrupt;
  }
}

}  // namespace

BufferScan ScanBuffer(const char* data, std::size_t size, bool is_last, Lsn first_lsn,
                      const FrameVisitor& visit) {
  BufferScan scan;
  scan.next_lsn = first_lsn;
  std::size_t off = 0;
  DecodedRecord rec;
  for (;;) {
    Decoded d = DecodeFrame(data, size, off, &rec);
    if (d.result == FrameResult::kEnd) break;
    if (d.result != FrameResult::kOk) {
      ClassifyBad(data, size, is_last, off, d.reason, &scan);
      return scan;
    }
    if (rec.kind != RecordKind::kEntry || rec.lsn != scan.next_lsn) {
      scan.outcome = BufferScan::Outcome::kCorrupt;  // a valid CRC: misplaced, never torn
      scan.bad_offset = off;
      scan.reason =
          rec.kind != RecordKind::kEntry
              ? "checkpoint record inside a segment"
              : "lsn " + std::to_string(rec.lsn) + ", expected " + std::to_string(scan.next_lsn);
      return scan;
    }
    if (visit) {
      Status s = visit(rec);
      if (!s.ok()) {
        scan.outcome = BufferScan::Outcome::kStopped;
        scan.stopped = std::move(s);
        return scan;
      }
    }
    ++scan.records;
    ++scan.next_lsn;
    off += d.frame_bytes;
    scan.good_end = off;
  }
  if (LastNonZeroEnd(data, size, off) > off)
    ClassifyBad(data, size, is_last, off, "non-zero bytes after the end of data", &scan);
  return scan;
}

}  // namespace txcoord::wal
