// Real crashes: a forked child appends from several threads and dies at a named fault point
// (_exit, no destructors); the parent reopens the log and checks that every acknowledged record
// is there with its body (guarantee 3: an acknowledged answer is durable).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <thread>

#include "txcoord/core/fault.h"
#include "wal_test_util.h"

namespace txcoord::wal {
namespace {

using testing::OpenCollect;
using testing::Replayed;
using testing::ScratchDir;
using testing::SmallOptions;

struct Ack {
  std::uint64_t lsn;
  std::uint32_t thread;
  std::uint32_t seq;
};

std::string BodyOf(std::uint32_t thread, std::uint32_t seq) {
  return "t" + std::to_string(thread) + "-s" + std::to_string(seq) + std::string(40, '.');
}

// Child: appends until the armed crash point kills it; reports each ack on `fd`.
[[noreturn]] void AppendUntilCrash(const Options& o, const std::string& point, std::uint64_t hit,
                                   int fd) {
  fault::Registry::Global().Arm(point, fault::Spec::Crash().At(hit));
  auto log = Log::Open(o, nullptr);
  if (!log.ok()) ::_exit(2);
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint32_t seq = 0;; ++seq) {
        Result<Lsn> r = (*log)->Append(BodyOf(t, seq)).get();
        if (!r.ok()) ::_exit(3);
        Ack ack{*r, t, seq};
        if (::write(fd, &ack, sizeof ack) != sizeof ack) ::_exit(4);  // atomic: < PIPE_BUF
      }
    });
  }
  for (auto& th : threads) th.join();
  ::_exit(5);  // unreachable: the crash point fires first
}

class WalCrash : public ::testing::TestWithParam<std::tuple<const char*, int>> {};

TEST_P(WalCrash, EveryAcknowledgedRecordSurvives) {
  const auto [point, hit] = GetParam();
  ScratchDir dir;
  const Options o = SmallOptions(dir.path(), 8192);  // crashes also land around segment rolls
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    AppendUntilCrash(o, point, static_cast<std::uint64_t>(hit), fds[1]);
  }
  ::close(fds[1]);
  std::map<Lsn, std::string> acked;
  Ack ack{};
  while (::read(fds[0], &ack, sizeof ack) == static_cast<ssize_t>(sizeof ack))
    acked[ack.lsn] = BodyOf(ack.thread, ack.seq);
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), fault::kCrashExitCode);

  Replayed r;
  auto log = OpenCollect(o, &r);
  ASSERT_TRUE(log.ok()) << log.status();
  std::map<Lsn, std::string> replayed(r.entries.begin(), r.entries.end());
  for (std::size_t i = 0; i < r.entries.size(); ++i) ASSERT_EQ(r.entries[i].first, i + 1);
  for (const auto& [lsn, body] : acked) {
    ASSERT_TRUE(replayed.count(lsn)) << "acknowledged lsn " << lsn << " lost";
    EXPECT_EQ(replayed[lsn], body);
  }
  EXPECT_TRUE((*log)->Append("after crash").get().ok());
}

INSTANTIATE_TEST_SUITE_P(Points, WalCrash,
                         ::testing::Values(std::make_tuple("wal.before_fsync", 1),
                                           std::make_tuple("wal.before_fsync", 40),
                                           std::make_tuple("wal.after_fsync", 25),
                                           std::make_tuple("wal.before_write", 30),
                                           std::make_tuple("wal.before_roll", 2)));

TEST(WalCrashCheckpoint, CrashBeforeRenameKeepsThePreviousCheckpoint) {
  ScratchDir dir;
  const Options o = SmallOptions(dir.path(), 8192);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto log = Log::Open(o, nullptr);
    if (!log.ok() || !testing::AppendN(**log, 50) || !(*log)->Checkpoint("first@50").ok() ||
        !testing::AppendN(**log, 30, "more-"))
      ::_exit(2);
    fault::Registry::Global().Arm("wal.checkpoint.before_rename", fault::Spec::Crash());
    (*log)->Checkpoint("second@80").IgnoreError();  // crashes inside
    ::_exit(3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), fault::kCrashExitCode);
  Replayed r;
  auto log = OpenCollect(o, &r);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(r.checkpoint, "first@50");
  ASSERT_EQ(r.entries.size(), 30u);
  EXPECT_EQ(r.entries.front().first, 51u);
  EXPECT_EQ(r.entries.back().second, "more-30");
}

}  // namespace
}  // namespace txcoord::wal
