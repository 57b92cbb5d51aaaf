// Fail-stop: after a write or fsync error no append is ever acknowledged again, and nothing
// acknowledged before it is lost.
#include <gtest/gtest.h>

#include <atomic>

#include "txcoord/core/fault.h"
#include "wal_test_util.h"

namespace txcoord::wal {
namespace {

using fault::ScopedFault;
using fault::Spec;
using testing::AppendN;
using testing::OpenCollect;
using testing::Replayed;
using testing::ScratchDir;
using testing::SmallOptions;

class WalFailStop : public ::testing::TestWithParam<const char*> {
 protected:
  void TearDown() override { fault::Registry::Global().DisarmAll(); }
};

TEST_P(WalFailStop, ErrorFailsTheBatchAndEveryLaterCall) {
  ScratchDir dir;
  const Options o = SmallOptions(dir.path());
  {
    auto log = Log::Open(o, nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE(AppendN(**log, 5));
    {
      ScopedFault f(GetParam(), Spec::Error(Code::kUnavailable).Times(1));
      Result<Lsn> r = (*log)->Append("doomed").get();
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), Code::kDataLoss);
      EXPECT_NE(r.status().message().find("fail-stop"), std::string::npos) << r.status();
      EXPECT_EQ(fault::Registry::Global().HitCount(GetParam()), 1u);
    }
    // The fault is gone, but the log never retries: every later call fails too.
    EXPECT_EQ((*log)->health().code(), Code::kDataLoss);
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ((*log)->Append("later").get().status().code(), Code::kDataLoss);
    std::atomic<int> async_code{-1};
    (*log)->AppendAsync("later-async",
                        [&](Result<Lsn> r) { async_code = static_cast<int>(r.status().code()); });
    EXPECT_EQ(async_code.load(), static_cast<int>(Code::kDataLoss));
    EXPECT_EQ((*log)->Checkpoint("snap").code(), Code::kDataLoss);
    EXPECT_EQ((*log)->stats().appended, 5u);
  }
  Replayed r;
  auto log = OpenCollect(o, &r);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_GE(r.entries.size(), 5u);  // the failed record may or may not be on disk; the 5 are
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(r.entries[static_cast<std::size_t>(i)].second, "rec-" + std::to_string(i + 1));
  EXPECT_TRUE((*log)->Append("fresh start").get().ok());
}

TEST_P(WalFailStop, ConcurrentAppendsAfterTheErrorNeverSucceed) {
  ScratchDir dir;
  Options o = SmallOptions(dir.path());
  o.max_batch_bytes = 256;  // many batches, so the fault hits the third of them
  std::mutex mu;
  std::vector<Lsn> acked;
  std::vector<Code> failed;
  {
    auto log = Log::Open(o, nullptr);
    ASSERT_TRUE(log.ok());
    ScopedFault f(GetParam(), Spec::Error(Code::kDataLoss).At(3));
    for (int i = 0; i < 300; ++i) {
      (*log)->AppendAsync("c" + std::to_string(i), [&](Result<Lsn> r) {
        std::lock_guard lk(mu);
        if (r.ok()) {
          acked.push_back(*r);
        } else {
          failed.push_back(r.status().code());
        }
      });
    }
    log->reset();  // drains: every callback has run
  }
  ASSERT_EQ(acked.size() + failed.size(), 300u);
  EXPECT_FALSE(failed.empty());
  for (Code c : failed) EXPECT_EQ(c, Code::kDataLoss);
  for (std::size_t i = 0; i < acked.size(); ++i) EXPECT_EQ(acked[i], i + 1);  // a prefix
  Replayed r;
  auto log = OpenCollect(o, &r);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_GE(r.entries.size(), acked.size());  // every acknowledged record is there
}

INSTANTIATE_TEST_SUITE_P(Points, WalFailStop,
                         ::testing::Values("wal.before_write", "wal.before_fsync"));

TEST(WalFailStopRoll, ErrorCreatingASegmentIsFailStop) {
  ScratchDir dir;
  auto log = Log::Open(SmallOptions(dir.path(), 4096), nullptr);
  ASSERT_TRUE(log.ok());
  ScopedFault f("wal.before_roll", Spec::Error(Code::kUnavailable));
  Status first_error;
  for (int i = 0; i < 400 && first_error.ok(); ++i) {
    Result<Lsn> r = (*log)->Append(std::string(50, 'r')).get();
    if (!r.ok()) first_error = r.status();
  }
  EXPECT_EQ(first_error.code(), Code::kDataLoss);
  EXPECT_EQ((*log)->Append("x").get().status().code(), Code::kDataLoss);
}

}  // namespace
}  // namespace txcoord::wal
