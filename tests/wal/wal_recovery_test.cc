// Replay after crashes and corruption: torn tails are cut and reported, anything else is
// kDataLoss with segment + offset; Verify and Repair.
#include <gtest/gtest.h>

#include <random>

#include "wal_test_util.h"

namespace txcoord::wal {
namespace {

using testing::AppendN;
using testing::OpenCollect;
using testing::ReadBytes;
using testing::Replayed;
using testing::ScratchDir;
using testing::SmallOptions;
using testing::WriteBytes;

constexpr std::uint64_t kSeg = 16 << 10;

// Writes `n` records of a fixed size into a fresh log; returns the start offset of each record
// in the (single) segment, plus the data end as the last element.
std::vector<std::size_t> WriteFixedRecords(const std::string& dir, int n, std::size_t body_size) {
  auto log = Log::Open(SmallOptions(dir, kSeg), nullptr);
  EXPECT_TRUE(log.ok()) << log.status();
  if (!log.ok()) return {};
  for (int i = 1; i <= n; ++i) {
    std::string body = std::to_string(i);
    body.resize(body_size, '.');
    EXPECT_TRUE((*log)->Append(body).get().ok());
  }
  log->reset();
  const std::size_t end = testing::DataEnd(ReadBytes(dir + "/0000000000000001.wal"));
  std::vector<std::size_t> starts;
  for (int i = 0; i <= n; ++i)
    starts.push_back(end / static_cast<std::size_t>(n) * static_cast<std::size_t>(i));
  return starts;
}

TEST(WalRecovery, TornTailAtEveryByteOfTheLastRecord) {
  ScratchDir dir;
  const std::string seg = dir.path() + "/0000000000000001.wal";
  auto starts = WriteFixedRecords(dir.path(), 4, 150);
  ASSERT_EQ(starts.size(), 5u);
  const std::string image = ReadBytes(seg);
  const std::size_t last = starts[3], end = starts[4];
  for (std::size_t cut = last; cut < end; ++cut) {
    for (bool zero_fill : {false, true}) {
      SCOPED_TRACE("cut=" + std::to_string(cut) + (zero_fill ? " zero-filled" : " truncated"));
      std::string torn = image.substr(0, cut);
      if (zero_fill) torn.resize(image.size(), '\0');  // preallocated file, write lost
      WriteBytes(seg, torn);
      Replayed r;
      auto log = OpenCollect(SmallOptions(dir.path(), kSeg), &r);
      ASSERT_TRUE(log.ok()) << log.status();
      ASSERT_EQ(r.entries.size(), 3u);
      const ReplayReport& rep = (*log)->replay_report();
      EXPECT_EQ(rep.last_lsn, 3u);
      if (cut > last && testing::DataEnd(torn) > last) {
        EXPECT_EQ(rep.truncated_offset, last);
        EXPECT_GT(rep.truncated_bytes, 0u);
        EXPECT_LE(rep.truncated_bytes, cut - last);
        EXPECT_EQ(rep.truncated_segment, "0000000000000001.wal");
      }
      ASSERT_EQ(*(*log)->Append("again").get(), 4u);  // appends go where the torn record was
      log->reset();
      auto again = OpenCollect(SmallOptions(dir.path(), kSeg), &r);
      ASSERT_TRUE(again.ok()) << again.status();
      ASSERT_EQ(r.entries.size(), 4u);
      EXPECT_EQ(r.entries[3].second, "again");
      EXPECT_EQ((*again)->replay_report().truncated_bytes, 0u);
    }
  }
  WriteBytes(seg, image);
}

TEST(WalRecovery, ZeroedTailIsTruncatedAndReported) {
  ScratchDir dir;
  const std::string seg = dir.path() + "/0000000000000001.wal";
  auto starts = WriteFixedRecords(dir.path(), 6, 100);
  std::string image = ReadBytes(seg);
  const std::size_t from = starts[4] + 20;  // zeros from inside record 5 to the end
  std::fill(image.begin() + static_cast<std::ptrdiff_t>(from), image.end(), '\0');
  WriteBytes(seg, image);
  Replayed r;
  auto log = OpenCollect(SmallOptions(dir.path(), kSeg), &r);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(r.entries.size(), 4u);
  EXPECT_EQ((*log)->replay_report().truncated_offset, starts[4]);
  EXPECT_EQ((*log)->replay_report().truncated_bytes, 20u);
}

TEST(WalRecovery, RandomBitFlipsAreAlwaysDetected) {
  ScratchDir dir;
  const std::string seg = dir.path() + "/0000000000000001.wal";
  auto starts = WriteFixedRecords(dir.path(), 20, 60);
  const std::string image = ReadBytes(seg);
  std::vector<std::string> bodies;
  {
    Replayed r;
    ASSERT_TRUE(OpenCollect(SmallOptions(dir.path(), kSeg), &r).ok());
    for (auto& e : r.entries) bodies.push_back(e.second);
  }
  std::mt19937_64 rng(20261124);
  for (int trial = 0; trial < 150; ++trial) {
    const std::size_t bit = rng() % (starts.back() * 8);
    SCOPED_TRACE("bit " + std::to_string(bit));
    std::string flipped = image;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    WriteBytes(seg, flipped);
    Result<VerifyReport> v = Verify(dir.path());
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_FALSE(v->ok);
    Replayed r;
    auto log = OpenCollect(SmallOptions(dir.path(), kSeg), &r);
    if (log.ok()) {  // only a damaged LAST record may be treated as a torn tail
      EXPECT_EQ(r.entries.size(), 19u);
      EXPECT_GT((*log)->replay_report().truncated_bytes, 0u);
      EXPECT_GE(bit / 8, starts[19]);
    } else {
      EXPECT_EQ(log.status().code(), Code::kDataLoss);
    }
    for (std::size_t i = 0; i < r.entries.size(); ++i) EXPECT_EQ(r.entries[i].second, bodies[i]);
  }
  WriteBytes(seg, image);
}

TEST(WalRecovery, CorruptionInTheMiddleNamesSegmentAndOffset) {
  ScratchDir dir;
  const Options o = SmallOptions(dir.path(), 4096);
  {
    auto log = Log::Open(o, nullptr);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE(AppendN(**log, 200, std::string(30, 'p')));
  }
  auto names = testing::SegmentNames(dir.path());
  ASSERT_GE(names.size(), 3u);
  const std::string victim = dir.path() + "/" + names[1];
  std::string image = ReadBytes(victim);
  image[100] ^= 0x10;
  WriteBytes(victim, image);
  auto log = Log::Open(o, nullptr);
  ASSERT_EQ(log.status().code(), Code::kDataLoss);
  EXPECT_NE(log.status().message().find(names[1]), std::string::npos) << log.status();
  EXPECT_NE(log.status().message().find("at offset "), std::string::npos) << log.status();

  Result<VerifyReport> v = Verify(dir.path());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->bad_segment, names[1]);
  EXPECT_LE(v->bad_offset, 100u);
  EXPECT_NE(log.status().message().find("at offset " + std::to_string(v->bad_offset)),
            std::string::npos);
}

TEST(WalRecovery, CorruptionInTheLastSegmentBeforeValidRecordsIsNotATornTail) {
  ScratchDir dir;
  auto starts = WriteFixedRecords(dir.path(), 10, 40);
  const std::string seg = dir.path() + "/0000000000000001.wal";
  std::string image = ReadBytes(seg);
  image[starts[5] + 12] ^= 0x01;
  WriteBytes(seg, image);
  auto log = Log::Open(SmallOptions(dir.path(), kSeg), nullptr);
  ASSERT_EQ(log.status().code(), Code::kDataLoss);
  EXPECT_NE(log.status().message().find("offset " + std::to_string(starts[5])), std::string::npos)
      << log.status();
}

TEST(WalRecovery, MissingMiddleSegmentIsDataLoss) {
  ScratchDir dir;
  const Options o = SmallOptions(dir.path(), 4096);
  {
    auto log = Log::Open(o, nullptr);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE(AppendN(**log, 200, std::string(30, 'p')));
  }
  auto names = testing::SegmentNames(dir.path());
  ASSERT_GE(names.size(), 3u);
  testing::fs::remove(dir.path() + "/" + names[1]);
  auto log = Log::Open(o, nullptr);
  ASSERT_EQ(log.status().code(), Code::kDataLoss);
  EXPECT_NE(log.status().message().find(names[2]), std::string::npos) << log.status();
}

TEST(WalRecovery, ReopenAfterCrashSimulatedByTruncation) {
  ScratchDir dir;
  const Options o = SmallOptions(dir.path(), 8192);
  {
    auto log = Log::Open(o, nullptr);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE(AppendN(**log, 100));
  }
  auto names = testing::SegmentNames(dir.path());
  const std::string last = dir.path() + "/" + names.back();
  const std::size_t end = testing::DataEnd(ReadBytes(last));
  ASSERT_GT(end, 30u);
  testing::fs::resize_file(last, end - 7);  // the unsynced end of the file is gone
  Replayed r;
  Lsn resumed = 0;
  {
    auto log = OpenCollect(o, &r);
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_EQ(r.entries.size(), 99u);
    EXPECT_GT((*log)->replay_report().truncated_bytes, 0u);
    ASSERT_TRUE(AppendN(**log, 50, "post-"));
    resumed = (*log)->stats().last_lsn;
  }
  EXPECT_EQ(resumed, 149u);
  auto log = OpenCollect(o, &r);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(r.entries.size(), 149u);
  for (std::size_t i = 0; i < r.entries.size(); ++i) EXPECT_EQ(r.entries[i].first, i + 1);
  EXPECT_EQ(r.entries[99].second, "post-1");
}

TEST(WalVerify, CleanLogAndBadArguments) {
  ScratchDir dir;
  {
    auto log = Log::Open(SmallOptions(dir.path(), 4096), nullptr);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE(AppendN(**log, 120));
    Result<VerifyReport> busy = Verify(dir.path());
    EXPECT_EQ(busy.status().code(), Code::kConflict);  // offline only
  }
  Result<VerifyReport> v = Verify(dir.path());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->records, 120u);
  EXPECT_EQ(Verify(dir.path() + "/nope").status().code(), Code::kNotFound);
  EXPECT_EQ(Repair("").status().code(), Code::kInvalidArgument);
}

TEST(WalRepair, CutsAtFirstCorruptionAndKeepsTheBytes) {
  ScratchDir dir;
  const Options o = SmallOptions(dir.path(), 4096);
  {
    auto log = Log::Open(o, nullptr);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE(AppendN(**log, 200, std::string(30, 'p')));
  }
  auto names = testing::SegmentNames(dir.path());
  ASSERT_GE(names.size(), 3u);
  const std::string victim = dir.path() + "/" + names[1];
  std::string image = ReadBytes(victim);
  image[300] ^= 0x04;
  WriteBytes(victim, image);

  Result<VerifyReport> found = Repair(dir.path());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_FALSE(found->ok);
  EXPECT_EQ(found->bad_segment, names[1]);
  Result<VerifyReport> after = Verify(dir.path());
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->ok) << after->reason;

  int saved_files = 0;
  for (const auto& e : testing::fs::directory_iterator(dir.path())) {
    if (e.path().filename().string().rfind("repair-", 0) != 0) continue;
    for (const auto& f : testing::fs::directory_iterator(e.path())) {
      (void)f;
      ++saved_files;
    }
  }
  EXPECT_EQ(saved_files, static_cast<int>(names.size()) - 1);  // cut tail + later segments

  Replayed r;
  auto log = OpenCollect(o, &r);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_FALSE(r.entries.empty());
  for (std::size_t i = 0; i < r.entries.size(); ++i) EXPECT_EQ(r.entries[i].first, i + 1);
  const Lsn next = r.entries.size() + 1;
  EXPECT_EQ(*(*log)->Append("post-repair").get(), next);
}

}  // namespace
}  // namespace txcoord::wal
