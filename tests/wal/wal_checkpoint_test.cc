// Checkpoints: replay starts from the newest complete one, covered segments go, disk stays bounded.
#include <gtest/gtest.h>

#include <future>

#include "txcoord/core/fault.h"
#include "wal_test_util.h"

namespace txcoord::wal {
namespace {

using testing::AppendN;
using testing::OpenCollect;
using testing::Replayed;
using testing::ScratchDir;
using testing::SmallOptions;

TEST(WalCheckpoint, ReplayStartsAfterCheckpointAndSegmentsGo) {
  ScratchDir dir;
  const Options o = SmallOptions(dir.path(), 8192);
  {
    auto log = Log::Open(o, nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE(AppendN(**log, 400, std::string(50, 'p')));
    const std::size_t before = testing::SegmentNames(dir.path()).size();
    ASSERT_GE(before, 4u);
    ASSERT_TRUE((*log)->Checkpoint("snapshot@400").ok());
    EXPECT_EQ(testing::SegmentNames(dir.path()).size(), 1u);  // only the current one stays
    EXPECT_EQ((*log)->stats().checkpoint_lsn, 400u);
    EXPECT_EQ((*log)->stats().segments, 1u);
    ASSERT_TRUE(AppendN(**log, 10, "after-"));
  }
  Replayed r;
  auto log = OpenCollect(o, &r);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(r.checkpoint, "snapshot@400");
  EXPECT_EQ(r.checkpoint_lsn, 400u);
  ASSERT_EQ(r.entries.size(), 10u);
  EXPECT_EQ(r.entries.front().first, 401u);
  EXPECT_EQ(r.entries.front().second, "after-1");
  EXPECT_EQ((*log)->replay_report().checkpoint_lsn, 400u);
  EXPECT_EQ((*log)->replay_report().records, 10u);
  EXPECT_EQ(*(*log)->Append("next").get(), 411u);
}

// A snapshot larger than one write chunk (4 MB) is written chunk by chunk: it replays whole,
// byte for byte, including the chunks' edges.
TEST(WalCheckpoint, ASnapshotOfSeveralChunksReplaysWhole) {
  ScratchDir dir;
  const Options o = SmallOptions(dir.path(), 8192);
  std::string big(9u << 20, '\0');  // 2 full chunks and part of a third
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) >> 7);
  {
    auto log = Log::Open(o, nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE(AppendN(**log, 3));
    ASSERT_TRUE((*log)->Checkpoint(big).ok());
  }
  Replayed r;
  auto log = OpenCollect(o, &r);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(r.checkpoint_lsn, 3u);
  ASSERT_EQ(r.checkpoint.size(), big.size());
  EXPECT_TRUE(r.checkpoint == big);
}

// CheckpointWithCut: the callback runs once the cut is fixed and before the checkpoint file is
// written; an append made from there on (here: from the callback itself) gets a later LSN and
// replays after the checkpoint.
TEST(WalCheckpoint, CutCallbackComesBeforeTheFileAndLaterAppendsReplayAfterIt) {
  ScratchDir dir;
  const Options o = SmallOptions(dir.path(), 8192);
  {
    auto log = Log::Open(o, nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE(AppendN(**log, 5));
    bool called = false;
    bool file_there = true;
    std::future<Result<Lsn>> after;
    ASSERT_TRUE((*log)
                    ->CheckpointWithCut("at5",
                                        [&] {
                                          called = true;
                                          file_there = testing::fs::exists(
                                              testing::fs::path(dir.path()) /
                                              "checkpoint-0000000000000005.ckpt");
                                          after = (*log)->Append("after-cut");
                                        })
                    .ok());
    EXPECT_TRUE(called);
    EXPECT_FALSE(file_there);
    Result<Lsn> lsn = after.get();
    ASSERT_TRUE(lsn.ok()) << lsn.status();
    EXPECT_EQ(*lsn, 6u);
    EXPECT_EQ((*log)->stats().checkpoint_lsn, 5u);
  }
  Replayed r;
  auto log = OpenCollect(o, &r);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(r.checkpoint, "at5");
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].first, 6u);
  EXPECT_EQ(r.entries[0].second, "after-cut");
}

TEST(WalCheckpoint, OnlyNewestCheckpointFileIsKept) {
  ScratchDir dir;
  auto log = Log::Open(SmallOptions(dir.path(), 8192), nullptr);
  ASSERT_TRUE(log.ok());
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(AppendN(**log, 50));
    ASSERT_TRUE((*log)->Checkpoint("s" + std::to_string(round)).ok());
  }
  int ckpts = 0;
  for (const auto& e : testing::fs::directory_iterator(dir.path()))
    ckpts += e.path().extension() == ".ckpt";
  EXPECT_EQ(ckpts, 1);
}

TEST(WalCheckpoint, HalfWrittenCheckpointIsIgnored) {
  ScratchDir dir;
  const Options o = SmallOptions(dir.path(), 8192);
  {
    auto log = Log::Open(o, nullptr);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE(AppendN(**log, 50));
    ASSERT_TRUE((*log)->Checkpoint("good@50").ok());
    ASSERT_TRUE(AppendN(**log, 30, "more-"));
    // The crash comes after the snapshot was written but before it was renamed into place.
    fault::ScopedFault f("wal.checkpoint.before_rename", fault::Spec::Error(Code::kDataLoss));
    Status s = (*log)->Checkpoint("never@80");
    EXPECT_EQ(s.code(), Code::kDataLoss);
    EXPECT_EQ((*log)->health().code(), Code::kDataLoss);  // a failed checkpoint is fail-stop
  }
  // A torn checkpoint file under its final name (rename reordered before the data) is ignored too.
  std::string good = testing::ReadBytes(dir.path() + "/checkpoint-0000000000000032.ckpt");
  ASSERT_FALSE(good.empty());
  testing::WriteBytes(dir.path() + "/checkpoint-0000000000000050.ckpt",
                      good.substr(0, good.size() / 2));
  Replayed r;
  ::testing::internal::CaptureStderr();
  auto log = OpenCollect(o, &r);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_NE(err.find("ignoring incomplete checkpoint"), std::string::npos) << err;
  EXPECT_EQ(r.checkpoint, "good@50");
  ASSERT_EQ(r.entries.size(), 30u);
  EXPECT_EQ(r.entries.front().first, 51u);
  EXPECT_FALSE(testing::fs::exists(dir.path() + "/checkpoint-0000000000000050.ckpt.tmp"));
}

TEST(WalCheckpoint, CheckpointCoveringUnwrittenLsnsStartsANewSegment) {
  ScratchDir dir;
  const Options o = SmallOptions(dir.path(), 8192);
  {
    auto log = Log::Open(o, nullptr);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE(AppendN(**log, 5));
    ASSERT_TRUE((*log)->Checkpoint("at5").ok());
  }
  // Simulate a crash where record 5 was covered by the snapshot but never reached the disk.
  auto names = testing::SegmentNames(dir.path());
  const std::string seg = dir.path() + "/" + names.back();
  std::string image = testing::ReadBytes(seg);
  std::size_t end = testing::DataEnd(image);
  std::size_t last_start = end - (end / 5);  // records are the same size
  testing::fs::resize_file(seg, last_start);
  Replayed r;
  {
    auto log = OpenCollect(o, &r);
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_EQ(r.checkpoint, "at5");
    EXPECT_EQ(*(*log)->Append("six").get(), 6u);
  }
  auto log = OpenCollect(o, &r);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].first, 6u);
}

TEST(WalCheckpoint, DiskUseStaysBoundedUnderSteadyLoad) {
  ScratchDir dir;
  constexpr std::uint64_t kSegment = 16 << 10;
  Options o = SmallOptions(dir.path(), kSegment);
  o.sync = SyncMode::kNoSyncTestsOnly;  // the bound is about files, not durability
  auto log = Log::Open(o, nullptr);
  ASSERT_TRUE(log.ok());
  const std::string body(200, 'p');
  std::uint64_t max_bytes = 0, max_segments = 0;
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 100; ++i) ASSERT_TRUE((*log)->Append(body).get().ok());
    ASSERT_TRUE((*log)->Checkpoint(std::string(1000, 's')).ok());
    Stats st = (*log)->stats();
    max_bytes = std::max(max_bytes, st.bytes_on_disk);
    max_segments = std::max(max_segments, st.segments);
  }
  // 40 rounds wrote ~900 KiB of records; what stays is the live segment(s) and one snapshot.
  EXPECT_LE(max_segments, 2u);
  EXPECT_LE(max_bytes, 2 * kSegment + 2048);
  EXPECT_LE(testing::SegmentNames(dir.path()).size(), 2u);
}

}  // namespace
}  // namespace txcoord::wal
