#include "scan.h"

#include <algorithm>

#include "files.h"
#include "frame.h"

namespace txcoord::wal {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Loads the newest checkpoint that decodes completely; records skipped ones in `scan`.
Status LoadCheckpoint(const std::string& dir, std::vector<std::pair<Lsn, std::string>> ckpts,
                      const ReplayVisitor& visitor, LogScan* scan) {
  std::sort(ckpts.rbegin(), ckpts.rend());
  for (const auto& [lsn, name] : ckpts) {
    TXC_ASSIGN_OR_RETURN(std::string data, files::ReadWholeFile(files::Join(dir, name)));
    DecodedRecord rec;
    Decoded d = DecodeFrame(data.data(), data.size(), 0, &rec);
    if (d.result != FrameResult::kOk || d.frame_bytes != data.size() ||
        rec.kind != RecordKind::kCheckpoint || rec.lsn != lsn) {
      scan->bad_checkpoints.push_back(name);
      continue;
    }
    scan->checkpoint_lsn = lsn;
    scan->checkpoint_name = name;
    if (visitor) {
      TXC_RETURN_IF_ERROR(visitor(ReplayedRecord{lsn, RecordKind::kCheckpoint, rec.body}));
    }
    return Status::Ok();
  }
  return Status::Ok();
}

void MarkCorrupt(LogScan* scan, const std::string& segment, std::uint64_t offset,
                 std::string reason) {
  scan->corrupt = true;
  scan->bad_segment = segment;
  scan->bad_offset = offset;
  scan->reason = std::move(reason);
}

// Checks that segment `seg` may follow the records read so far.
bool StartsWhereExpected(const SegmentFile& seg, bool first, LogScan* scan) {
  const Lsn c = scan->checkpoint_lsn;
  const Lsn f = seg.first_lsn;
  bool ok = first ? (c == 0 ? f == 1 : f >= 1 && f <= c + 1)
                  : (f == scan->next_lsn || (f > scan->next_lsn && f <= c + 1));
  if (!ok) {
    MarkCorrupt(scan, seg.name, 0,
                "segment starts at lsn " + std::to_string(f) + " but the log continues at lsn " +
                    std::to_string(first ? c + 1 : scan->next_lsn) + " (missing or extra segment)");
  }
  return ok;
}

}  // namespace

Result<LogScan> ScanLog(const std::string& dir, const ReplayVisitor& visitor) {
  LogScan scan;
  TXC_ASSIGN_OR_RETURN(std::vector<std::string> names, files::ListDir(dir));
  std::vector<std::pair<Lsn, std::string>> ckpts;
  for (const std::string& name : names) {
    Lsn lsn = 0;
    if (files::ParseSegmentName(name, &lsn)) scan.segments.push_back({lsn, name});
    if (files::ParseCheckpointName(name, &lsn)) ckpts.emplace_back(lsn, name);
    if (EndsWith(name, ".tmp")) scan.tmp_files.push_back(name);
  }
  TXC_RETURN_IF_ERROR(LoadCheckpoint(dir, std::move(ckpts), visitor, &scan));
  const Lsn c = scan.checkpoint_lsn;
  for (std::size_t i = 0; i < scan.segments.size(); ++i) {
    const SegmentFile& seg = scan.segments[i];
    const bool last = i + 1 == scan.segments.size();
    if (!StartsWhereExpected(seg, i == 0, &scan)) return scan;
    TXC_ASSIGN_OR_RETURN(std::string data, files::ReadWholeFile(files::Join(dir, seg.name)));
    std::uint64_t replayed = 0;
    BufferScan bs = ScanBuffer(data.data(), data.size(), last, seg.first_lsn,
                               [&](const DecodedRecord& rec) -> Status {
                                 if (rec.lsn <= c) return Status::Ok();
                                 ++replayed;
                                 if (!visitor) return Status::Ok();
                                 return visitor(ReplayedRecord{rec.lsn, rec.kind, rec.body});
                               });
    scan.entries_valid += bs.records;
    scan.entries_replayed += replayed;
    if (bs.outcome == BufferScan::Outcome::kStopped) return bs.stopped;
    if (bs.outcome == BufferScan::Outcome::kCorrupt) {
      MarkCorrupt(&scan, seg.name, bs.bad_offset, bs.reason);
      return scan;
    }
    scan.next_lsn = bs.next_lsn;
    if (last) {
      scan.tail_offset = bs.good_end;
      scan.tail_file_size = data.size();
      if (bs.outcome == BufferScan::Outcome::kTornTail) {
        scan.torn = true;
        scan.torn_offset = bs.bad_offset;
        scan.torn_bytes = bs.dropped_bytes;
        scan.torn_reason = bs.reason;
      }
    }
  }
  scan.stream_next_lsn = scan.next_lsn;
  scan.next_lsn = std::max(scan.next_lsn, c + 1);
  return scan;
}

}  // namespace txcoord::wal
