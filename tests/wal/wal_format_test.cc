// The frame codec, CRC32C and the in-memory segment reader, without files.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "crc32c.h"
#include "files.h"
#include "frame.h"
#include "txcoord/wal/format.h"

namespace txcoord::wal {
namespace {

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c::Value("123456789", 9), 0xe3069283u);
  EXPECT_EQ(crc32c::ExtendTable(0, "123456789", 9), 0xe3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c::Value(zeros.data(), zeros.size()), 0x8a9136aau);  // RFC 3720 B.4
}

TEST(Crc32c, HardwareMatchesTable) {
  std::mt19937 rng(7);
  for (int n : {0, 1, 7, 8, 9, 63, 64, 200, 4097}) {
    std::string buf(static_cast<std::size_t>(n) + 3, '\0');
    for (char& c : buf) c = static_cast<char>(rng());
    for (std::size_t skew = 0; skew < 3; ++skew) {  // unaligned starts
      const char* p = buf.data() + skew;
      EXPECT_EQ(crc32c::ExtendHardware(5, p, static_cast<std::size_t>(n)),
                crc32c::ExtendTable(5, p, static_cast<std::size_t>(n)))
          << "n=" << n << " skew=" << skew;
    }
  }
}

TEST(Crc32c, MaskRoundTrips) {
  for (std::uint32_t v : {0u, 1u, 0xe3069283u, 0xffffffffu}) {
    EXPECT_EQ(format::UnmaskCrc(format::MaskCrc(v)), v);
    EXPECT_NE(format::MaskCrc(v), v);
  }
}

TEST(Frame, RoundTrip) {
  std::string frame = EncodeFrame(42, RecordKind::kEntry, "hello");
  ASSERT_GT(frame.size(), format::kHeaderBytes);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[8]), format::kRecordType);
  DecodedRecord rec;
  Decoded d = DecodeFrame(frame.data(), frame.size(), 0, &rec);
  ASSERT_EQ(d.result, FrameResult::kOk) << d.reason;
  EXPECT_EQ(d.frame_bytes, frame.size());
  EXPECT_EQ(rec.lsn, 42u);
  EXPECT_EQ(rec.kind, RecordKind::kEntry);
  EXPECT_EQ(rec.body, "hello");
}

TEST(Frame, ZerosEndTruncationAndBadBytes) {
  DecodedRecord rec;
  std::string zeros(64, '\0');
  EXPECT_EQ(DecodeFrame(zeros.data(), zeros.size(), 0, &rec).result, FrameResult::kEnd);
  std::string frame = EncodeFrame(1, RecordKind::kEntry, "payload");
  for (std::size_t cut = 1; cut < frame.size(); ++cut) {
    Decoded d = DecodeFrame(frame.data(), cut, 0, &rec);
    EXPECT_NE(d.result, FrameResult::kOk) << cut;
  }
  std::string bad_type = frame;
  bad_type[8] = 0;
  EXPECT_EQ(DecodeFrame(bad_type.data(), bad_type.size(), 0, &rec).result, FrameResult::kBad);
  std::string bad_crc = frame;
  bad_crc.back() ^= 1;
  Decoded d = DecodeFrame(bad_crc.data(), bad_crc.size(), 0, &rec);
  EXPECT_EQ(d.result, FrameResult::kBad);
  EXPECT_EQ(d.reason, "CRC mismatch");
}

std::string Segment(int records, std::size_t pad) {
  std::string img;
  for (int i = 1; i <= records; ++i)
    img += EncodeFrame(static_cast<Lsn>(i), RecordKind::kEntry, "r" + std::to_string(i));
  return img + std::string(pad, '\0');
}

TEST(ScanBuffer, CleanSegmentWithZeroTail) {
  std::string img = Segment(5, 100);
  int seen = 0;
  BufferScan s = ScanBuffer(img.data(), img.size(), true, 1, [&](const DecodedRecord&) {
    ++seen;
    return Status::Ok();
  });
  EXPECT_EQ(s.outcome, BufferScan::Outcome::kClean);
  EXPECT_EQ(seen, 5);
  EXPECT_EQ(s.next_lsn, 6u);
  EXPECT_EQ(s.good_end, img.size() - 100);
}

TEST(ScanBuffer, GarbageTailIsTornOnlyInTheLastSegment) {
  std::string img = Segment(3, 0);
  const std::size_t good = img.size();
  img += "\x01\x02garbage";
  img += std::string(50, '\0');
  BufferScan last = ScanBuffer(img.data(), img.size(), true, 1, nullptr);
  EXPECT_EQ(last.outcome, BufferScan::Outcome::kTornTail);
  EXPECT_EQ(last.bad_offset, good);
  EXPECT_EQ(last.dropped_bytes, 9u);
  BufferScan middle = ScanBuffer(img.data(), img.size(), false, 1, nullptr);
  EXPECT_EQ(middle.outcome, BufferScan::Outcome::kCorrupt);
  EXPECT_EQ(middle.bad_offset, good);
}

TEST(ScanBuffer, BadFrameFollowedByValidFrameIsCorruption) {
  std::string img = Segment(4, 64);
  const std::size_t second = EncodeFrame(1, RecordKind::kEntry, "r1").size();
  img[second + 12] ^= 0x40;
  BufferScan s = ScanBuffer(img.data(), img.size(), true, 1, nullptr);
  EXPECT_EQ(s.outcome, BufferScan::Outcome::kCorrupt);
  EXPECT_EQ(s.bad_offset, second);
}

TEST(ScanBuffer, HostileTailCannotMakeTheScanQuadratic) {
  // Every offset looks like a frame header with a huge plausible length.
  std::string img = Segment(1, 0) + std::string(20 << 20, '\x01');
  BufferScan s = ScanBuffer(img.data(), img.size(), true, 1, nullptr);
  EXPECT_EQ(s.outcome, BufferScan::Outcome::kCorrupt);  // refused, not guessed to be torn
  EXPECT_EQ(s.records, 1u);
}

TEST(ScanBuffer, LsnGapIsCorruption) {
  std::string img =
      EncodeFrame(1, RecordKind::kEntry, "a") + EncodeFrame(3, RecordKind::kEntry, "b");
  BufferScan s = ScanBuffer(img.data(), img.size(), true, 1, nullptr);
  EXPECT_EQ(s.outcome, BufferScan::Outcome::kCorrupt);
  EXPECT_NE(s.reason.find("expected 2"), std::string::npos);
}

TEST(FileNames, RoundTripAndOrder) {
  EXPECT_EQ(files::SegmentName(1), "0000000000000001.wal");
  EXPECT_EQ(files::CheckpointName(0x3e8), "checkpoint-00000000000003e8.ckpt");
  Lsn lsn = 0;
  EXPECT_TRUE(files::ParseSegmentName("00000000000003e9.wal", &lsn));
  EXPECT_EQ(lsn, 0x3e9u);
  EXPECT_FALSE(files::ParseSegmentName("0000000000003e9.wal", &lsn));
  EXPECT_FALSE(files::ParseSegmentName("00000000000003E9.wal", &lsn));
  EXPECT_TRUE(files::ParseCheckpointName("checkpoint-0000000000000010.ckpt", &lsn));
  EXPECT_EQ(lsn, 16u);
  EXPECT_FALSE(files::ParseCheckpointName("checkpoint-0000000000000010.ckpt.tmp", &lsn));
  EXPECT_LT(files::SegmentName(9), files::SegmentName(10));
}

}  // namespace
}  // namespace txcoord::wal

namespace txcoord::wal {
namespace {

// The fuzz seed corpus was written by an independent encoder following format.h; reading it
// here pins the documented byte layout.
std::string CorpusFile(const std::string& name) {
  std::ifstream in(std::string(TXC_WAL_CORPUS_DIR) + "/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(FormatAtTheByte, IndependentEncoderMatches) {
  std::string clean = CorpusFile("segment_clean");
  ASSERT_FALSE(clean.empty());
  std::vector<std::string> bodies;
  BufferScan s = ScanBuffer(clean.data(), clean.size(), false, 1, [&](const DecodedRecord& r) {
    bodies.emplace_back(r.body);
    return Status::Ok();
  });
  EXPECT_EQ(s.outcome, BufferScan::Outcome::kClean) << s.reason;
  ASSERT_EQ(bodies.size(), 5u);
  EXPECT_EQ(bodies[4], "body-5");
  // Byte-identical to what the log writes.
  EXPECT_EQ(clean.substr(0, EncodeFrame(1, RecordKind::kEntry, "body-1").size()),
            EncodeFrame(1, RecordKind::kEntry, "body-1"));

  std::string torn = CorpusFile("segment_torn");
  EXPECT_EQ(ScanBuffer(torn.data(), torn.size(), true, 1, nullptr).outcome,
            BufferScan::Outcome::kTornTail);
  std::string flipped = CorpusFile("segment_bitflip");
  EXPECT_EQ(ScanBuffer(flipped.data(), flipped.size(), true, 1, nullptr).outcome,
            BufferScan::Outcome::kCorrupt);
  std::string ckpt = CorpusFile("checkpoint");
  DecodedRecord rec;
  ASSERT_EQ(DecodeFrame(ckpt.data(), ckpt.size(), 0, &rec).result, FrameResult::kOk);
  EXPECT_EQ(rec.kind, RecordKind::kCheckpoint);
  EXPECT_EQ(rec.lsn, 5u);
  EXPECT_EQ(rec.body, "snapshot");
}

}  // namespace
}  // namespace txcoord::wal
