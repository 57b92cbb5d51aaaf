// Log basics: round trip, concurrent appenders, segment rolling, options, the owner lock.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "wal_test_util.h"

namespace txcoord::wal {
namespace {

using testing::AppendN;
using testing::OpenCollect;
using testing::Replayed;
using testing::ScratchDir;
using testing::SmallOptions;

// AppendLazy with its completion as a future.
std::future<Result<Lsn>> AppendLazyFuture(Log& log, std::string body) {
  auto done = std::make_shared<std::promise<Result<Lsn>>>();
  std::future<Result<Lsn>> f = done->get_future();
  log.AppendLazy(std::move(body), [done](Result<Lsn> r) { done->set_value(std::move(r)); });
  return f;
}

// A log whose sync thread lingers `delay` after each batch (Options::lazy_delay).
Result<std::unique_ptr<Log>> OpenLingering(const std::string& dir,
                                           std::chrono::microseconds delay) {
  Options o = SmallOptions(dir);
  o.lazy_delay = delay;
  return Log::Open(o, nullptr);
}

TEST(WalLog, RoundTrip) {
  ScratchDir dir;
  const std::vector<std::string> bodies = {"", "a", std::string(100000, 'x'), "last"};
  {
    Replayed r;
    auto log = OpenCollect(SmallOptions(dir.path(), 1 << 20), &r);
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_TRUE(r.entries.empty());
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      Result<Lsn> lsn = (*log)->Append(bodies[i]).get();
      ASSERT_TRUE(lsn.ok()) << lsn.status();
      EXPECT_EQ(*lsn, i + 1);
    }
    EXPECT_TRUE((*log)->health().ok());
    EXPECT_EQ((*log)->stats().appended, bodies.size());
  }
  Replayed r;
  auto log = OpenCollect(SmallOptions(dir.path(), 1 << 20), &r);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(r.entries.size(), bodies.size());
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_EQ(r.entries[i].first, i + 1);
    EXPECT_EQ(r.entries[i].second, bodies[i]);
  }
  EXPECT_EQ((*log)->replay_report().records, bodies.size());
  EXPECT_EQ((*log)->replay_report().last_lsn, bodies.size());
  EXPECT_EQ((*log)->replay_report().truncated_bytes, 0u);
  Result<Lsn> next = (*log)->Append("after reopen").get();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, bodies.size() + 1);
}

// The sync thread carries a name (top -H, perf, gdb).
TEST(WalLog, TheSyncThreadIsNamed) {
  ScratchDir dir;
  Replayed r;
  auto log = OpenCollect(SmallOptions(dir.path(), 1 << 20), &r);
  ASSERT_TRUE(log.ok()) << log.status();
  int named = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    named += name == "txc-wal-sync";
  }
  EXPECT_EQ(named, 1);
}

TEST(WalLog, ConcurrentAppendersEveryAckReplaysInOrder) {
  ScratchDir dir;
  constexpr int kThreads = 16, kPerThread = 150;
  std::map<Lsn, std::string> acked;
  std::mutex mu;
  {
    auto log = Log::Open(SmallOptions(dir.path(), 32 << 10), nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::string body = "t" + std::to_string(t) + "-" + std::to_string(i);
          Result<Lsn> lsn = (*log)->Append(body).get();
          if (!lsn.ok()) {
            ++failures;
            continue;
          }
          std::lock_guard lk(mu);
          acked.emplace(*lsn, body);
        }
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(failures.load(), 0);
    EXPECT_GE((*log)->stats().segments, 2u);  // the run crossed segment boundaries
  }
  ASSERT_EQ(acked.size(), static_cast<std::size_t>(kThreads * kPerThread));
  Replayed r;
  auto log = OpenCollect(SmallOptions(dir.path(), 32 << 10), &r);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(r.entries.size(), acked.size());
  std::map<std::string, int> last_seq;  // per thread, its own appends replay in its order
  for (std::size_t i = 0; i < r.entries.size(); ++i) {
    const auto& [lsn, body] = r.entries[i];
    EXPECT_EQ(lsn, i + 1);
    EXPECT_EQ(acked.at(lsn), body);
    const std::string thread = body.substr(0, body.find('-'));
    const int seq = std::stoi(body.substr(body.find('-') + 1));
    auto it = last_seq.find(thread);
    if (it != last_seq.end()) {
      EXPECT_GT(seq, it->second) << body;
    }
    last_seq[thread] = seq;
  }
}

TEST(WalLog, AsyncAppendsCompleteInLsnOrder) {
  ScratchDir dir;
  auto log = Log::Open(SmallOptions(dir.path()), nullptr);
  ASSERT_TRUE(log.ok()) << log.status();
  std::mutex mu;
  std::vector<Lsn> done;
  std::vector<std::future<Result<Lsn>>> futures;
  for (int i = 0; i < 500; ++i) {
    (*log)->AppendAsync("async-" + std::to_string(i), [&](Result<Lsn> r) {
      std::lock_guard lk(mu);
      done.push_back(r.ok() ? *r : 0);
    });
  }
  ASSERT_TRUE((*log)->Append("fence").get().ok());  // completes after every earlier append
  std::lock_guard lk(mu);
  ASSERT_EQ(done.size(), 500u);
  for (std::size_t i = 0; i < done.size(); ++i) EXPECT_EQ(done[i], i + 1);
  EXPECT_LE((*log)->stats().batches, 501u);
}

// AppendLazy: written in LSN order, not fdatasync'd on its own; the next durable batch (or a
// segment roll) covers it; replayed like any other record.
TEST(WalLog, LazyAppendsAreWrittenInOrderWithoutTheirOwnSync) {
  ScratchDir dir;
  {
    auto log = Log::Open(SmallOptions(dir.path(), 4 << 10), nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    const std::uint64_t batches0 = (*log)->stats().batches;
    Result<Lsn> lsn = AppendLazyFuture(**log, "lazy-1").get();
    ASSERT_TRUE(lsn.ok()) << lsn.status();
    EXPECT_EQ(*lsn, 1u);
    EXPECT_EQ((*log)->stats().batches, batches0) << "a lazy-only batch must not fdatasync";
    ASSERT_TRUE((*log)->Append("durable-2").get().ok());
    EXPECT_GT((*log)->stats().batches, batches0);
    // Lazy records that fill several 4 KiB segments: each roll syncs what it leaves behind.
    std::atomic<int> left{40};
    std::promise<void> all;
    for (int i = 0; i < 40; ++i) {
      (*log)->AppendLazy("lazy-" + std::to_string(i + 3) + std::string(500, '#'),
                         [&](Result<Lsn> r) {
                           EXPECT_TRUE(r.ok()) << r.status();
                           if (--left == 0) all.set_value();
                         });
    }
    all.get_future().get();
    EXPECT_GE((*log)->stats().segments, 3u);
  }
  Replayed r;
  auto log = OpenCollect(SmallOptions(dir.path(), 4 << 10), &r);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(r.entries.size(), 42u);
  EXPECT_EQ(r.entries[0].second, "lazy-1");
  EXPECT_EQ(r.entries[1].second, "durable-2");
  for (std::size_t i = 2; i < r.entries.size(); ++i) {
    EXPECT_EQ(r.entries[i].first, i + 1);
    EXPECT_EQ(r.entries[i].second.substr(0, r.entries[i].second.find('#')),
              "lazy-" + std::to_string(i + 1));
  }
}

// A lazy record does not wake the sync thread lingering after a batch: it rides the next
// durable append's batch (one write and one fdatasync for both).
TEST(WalLog, LazyRecordRidesTheNextDurableBatch) {
  ScratchDir dir;
  auto log = OpenLingering(dir.path(), std::chrono::seconds(10));
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Append("durable-1").get().ok());  // the sync thread lingers from here
  std::future<Result<Lsn>> lazy = AppendLazyFuture(**log, "lazy-2");
  EXPECT_EQ(lazy.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout)
      << "a lazy record must not wake the lingering sync thread";
  const std::uint64_t batches = (*log)->stats().batches;
  ASSERT_TRUE((*log)->Append("durable-3").get().ok());
  ASSERT_EQ(lazy.wait_for(std::chrono::seconds(0)), std::future_status::ready)
      << "completed with (and before) the durable record after it";
  Result<Lsn> lsn = lazy.get();
  ASSERT_TRUE(lsn.ok()) << lsn.status();
  EXPECT_EQ(*lsn, 2u);
  EXPECT_EQ((*log)->stats().batches, batches + 1);
  EXPECT_EQ((*log)->stats().last_batch_records, 2u);
}

// Without a durable append, lazy records are written once lazy_delay ran out (no fdatasync);
// closing the log writes them at once, whatever the delay.
TEST(WalLog, LazyRecordIsWrittenAfterTheDelayOrAtClose) {
  ScratchDir dir;
  {
    auto log = OpenLingering(dir.path(), std::chrono::milliseconds(20));
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append("durable-1").get().ok());
    const std::uint64_t batches = (*log)->stats().batches;
    std::future<Result<Lsn>> lazy = AppendLazyFuture(**log, "lazy-2");
    ASSERT_EQ(lazy.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_TRUE(lazy.get().ok());
    EXPECT_EQ((*log)->stats().batches, batches) << "a lazy-only batch must not fdatasync";
  }
  const auto start = std::chrono::steady_clock::now();
  {
    auto log = OpenLingering(dir.path(), std::chrono::seconds(10));
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append("durable-3").get().ok());
    (*log)->AppendLazy("lazy-4", nullptr);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5))
      << "closing must not wait for the linger";
  Replayed r;
  auto log = OpenCollect(SmallOptions(dir.path()), &r);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(r.entries.size(), 4u);
  EXPECT_EQ(r.entries[1].second, "lazy-2");
  EXPECT_EQ(r.entries[3].second, "lazy-4");
}

TEST(WalLog, RecordLargerThanASegment) {
  ScratchDir dir;
  const std::string big(20000, 'b');
  {
    auto log = Log::Open(SmallOptions(dir.path(), 8192), nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append("small").get().ok());
    ASSERT_TRUE((*log)->Append(big).get().ok());
    ASSERT_TRUE((*log)->Append("after").get().ok());
  }
  Replayed r;
  auto log = OpenCollect(SmallOptions(dir.path(), 8192), &r);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[1].second, big);
  EXPECT_EQ(r.entries[2].second, "after");
}

TEST(WalLog, SegmentsArePreallocatedAndNamedByFirstLsn) {
  ScratchDir dir;
  auto log = Log::Open(SmallOptions(dir.path(), 16384), nullptr);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE(AppendN(**log, 300, std::string(100, 'p')));
  auto names = testing::SegmentNames(dir.path());
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[0], "0000000000000001.wal");
  for (const auto& n : names)
    EXPECT_EQ(testing::fs::file_size(testing::fs::path(dir.path()) / n), 16384u) << n;
}

TEST(WalLog, BadOptionsAreInvalidArgument) {
  ScratchDir dir;
  Options o = SmallOptions("");
  EXPECT_EQ(Log::Open(o, nullptr).status().code(), Code::kInvalidArgument);
  o = SmallOptions(dir.path(), 100);
  auto r = Log::Open(o, nullptr);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("segment_bytes"), std::string::npos);
  o = SmallOptions(dir.path(), 1ull << 40);
  EXPECT_EQ(Log::Open(o, nullptr).status().code(), Code::kInvalidArgument);
  o = SmallOptions(dir.path());
  o.max_batch_bytes = 0;
  EXPECT_EQ(Log::Open(o, nullptr).status().code(), Code::kInvalidArgument);
  o = SmallOptions(dir.path());
  o.lazy_delay = std::chrono::microseconds(-1);
  EXPECT_EQ(Log::Open(o, nullptr).status().code(), Code::kInvalidArgument);
  testing::WriteBytes(dir.path() + "/afile", "x");
  EXPECT_EQ(Log::Open(SmallOptions(dir.path() + "/afile"), nullptr).status().code(),
            Code::kInvalidArgument);
}

TEST(WalLog, VisitorErrorAbortsOpen) {
  ScratchDir dir;
  {
    auto log = Log::Open(SmallOptions(dir.path()), nullptr);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE(AppendN(**log, 3));
  }
  auto log = Log::Open(SmallOptions(dir.path()), [](const ReplayedRecord& r) -> Status {
    return r.lsn == 2 ? Aborted("owner refuses lsn 2") : Status::Ok();
  });
  EXPECT_EQ(log.status().code(), Code::kAborted);
  EXPECT_TRUE(Log::Open(SmallOptions(dir.path()), nullptr).ok());  // lock was released
}

TEST(WalLog, NoSyncModeWarnsLoudly) {
  ScratchDir dir;
  Options o = SmallOptions(dir.path());
  o.sync = SyncMode::kNoSyncTestsOnly;
  ::testing::internal::CaptureStderr();
  auto log = Log::Open(o, nullptr);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(log.ok());
  EXPECT_NE(err.find("NOT durable"), std::string::npos) << err;
  ASSERT_TRUE(AppendN(**log, 10));
}

TEST(WalLock, SecondOpenInProcessFailsNamingPid) {
  ScratchDir dir;
  auto first = Log::Open(SmallOptions(dir.path()), nullptr);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Log::Open(SmallOptions(dir.path()), nullptr);
  ASSERT_EQ(second.status().code(), Code::kConflict);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.status();
  first->reset();
  EXPECT_TRUE(Log::Open(SmallOptions(dir.path()), nullptr).ok());
}

TEST(WalLock, ForkedChildCannotOpen) {
  ScratchDir dir;
  auto log = Log::Open(SmallOptions(dir.path()), nullptr);
  ASSERT_TRUE(log.ok()) << log.status();
  const std::string parent_pid = "pid " + std::to_string(::getpid());
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto r = Log::Open(SmallOptions(dir.path()), nullptr);
    const bool conflict = r.status().code() == Code::kConflict &&
                          r.status().message().find(parent_pid) != std::string::npos;
    ::_exit(conflict ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child could open the log, or got another error";
}

}  // namespace
}  // namespace txcoord::wal
