// txbench's CPU accounting: the per-process and machine figures docs/performance.md reasons with.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "txbench_util.h"

namespace txcoord::bench {
namespace {

// Spins on the CPU for `cpu` of its own CPU time (not wall time: the machine may be busy).
void Burn(std::chrono::milliseconds cpu) {
  const double until = CpuSeconds(::getpid()) + std::chrono::duration<double>(cpu).count();
  volatile unsigned long sink = 0;
  while (CpuSeconds(::getpid()) < until) {
    for (int i = 0; i < 100'000; ++i) sink = sink + static_cast<unsigned long>(i);
  }
}

TEST(BenchCpu, AChildThatExitedStillCountsInItsParentsTree) {
  // PostgreSQL's backends come and go with connections: one that exited during a mode must
  // still be counted, through its parent's reaped-children time.
  const double self_before = CpuSeconds(::getpid());
  const double tree_before = TreeCpuSeconds(::getpid());
  ASSERT_GE(tree_before, self_before);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Burn(std::chrono::milliseconds(200));
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  const double tree_after = TreeCpuSeconds(::getpid());
  const double self_after = CpuSeconds(::getpid());
  // Ticks are 10 ms: the child's 200 ms show up, give or take a few.
  EXPECT_GE((tree_after - tree_before) - (self_after - self_before), 0.15);
}

TEST(BenchCpu, ALiveChildCountsInItsParentsTree) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Burn(std::chrono::milliseconds(200));
    const char c = 'x';
    (void)::write(ready[1], &c, 1);
    ::pause();  // alive until killed
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  const double child_cpu = CpuSeconds(child);
  EXPECT_GE(child_cpu, 0.15);
  // The tree is read after this process: it holds at least that much of ours, and the child's
  // (paused, so its figure no longer moves).
  const double self = CpuSeconds(::getpid());
  EXPECT_GE(TreeCpuSeconds(::getpid()) - self, child_cpu - 0.001);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(BenchCpu, AProcessThatIsGoneReadsAsMinusOne) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  EXPECT_EQ(CpuSeconds(child), -1);
  EXPECT_EQ(TreeCpuSeconds(child), -1);
  EXPECT_EQ(ContextSwitches(child), -1);
}

TEST(BenchCpu, TheMachineFiguresAddUpAndGrow) {
  const MachineCpu a = ReadMachineCpu();
  Burn(std::chrono::milliseconds(100));
  const MachineCpu b = ReadMachineCpu();
  EXPECT_GT(a.total, 0);
  EXPECT_LE(a.busy + a.idle, a.total);
  EXPECT_GE(b.busy - a.busy, 0.05);  // at least what this process burned, give or take ticks
  EXPECT_GE(SelfCpuSeconds(), 0.1);
  EXPECT_GT(ContextSwitches(::getpid()), 0);
}

TEST(BenchCpu, PidFiles) {
  const std::string dir = ::testing::TempDir() + "/bench_pidfile_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/postmaster.pid") << "4242\n/var/lib/postgresql/data\n1700000000\n";
  std::ofstream(dir + "/empty.pid") << "";
  std::ofstream(dir + "/junk.pid") << "redis\n";
  EXPECT_EQ(PidFromFile(dir + "/postmaster.pid"), 4242);
  EXPECT_EQ(PidFromFile(dir + "/empty.pid"), -1);
  EXPECT_EQ(PidFromFile(dir + "/junk.pid"), -1);
  EXPECT_EQ(PidFromFile(dir + "/missing.pid"), -1);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace txcoord::bench
