#include "txcoord/core/fault.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace txcoord::fault {
namespace {

class FaultTest : public ::testing::Test {
 protected:
  void TearDown() override { Registry::Global().DisarmAll(); }
};

TEST_F(FaultTest, UnarmedPointIsOk) {
  EXPECT_TRUE(TXC_FAULT("test.nothing").ok());
}

TEST_F(FaultTest, ErrorFiresWithCode) {
  ScopedFault f("test.err", Spec::Error(Code::kUnavailable));
  Status s = TXC_FAULT("test.err");
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("test.err"), std::string::npos);
  EXPECT_TRUE(TXC_FAULT("test.other").ok());
}

TEST_F(FaultTest, ScopedFaultDisarms) {
  { ScopedFault f("test.scoped", Spec::Error(Code::kInternal)); }
  EXPECT_TRUE(TXC_FAULT("test.scoped").ok());
}

TEST_F(FaultTest, AtAndTimesSelectHits) {
  Registry::Global().Arm("test.nth", Spec::Error(Code::kTimeout).At(3).Times(2));
  std::vector<bool> fired;
  for (int i = 0; i < 6; ++i) fired.push_back(!TXC_FAULT("test.nth").ok());
  EXPECT_EQ(fired, (std::vector<bool>{false, false, true, true, false, false}));
  EXPECT_EQ(Registry::Global().HitCount("test.nth"), 6u);
}

TEST_F(FaultTest, CallbackRuns) {
  int calls = 0;
  ScopedFault f("test.cb", Spec::Callback([&] { ++calls; }));
  EXPECT_TRUE(TXC_FAULT("test.cb").ok());
  EXPECT_TRUE(TXC_FAULT("test.cb").ok());
  EXPECT_EQ(calls, 2);
}

TEST_F(FaultTest, ParsesConfigString) {
  ASSERT_TRUE(Registry::Global()
                  .ArmFromString(" a=error(unknown_outcome) , b=delay(1), c=error@2*1, d=off")
                  .ok());
  EXPECT_EQ(TXC_FAULT("a").code(), Code::kUnknownOutcome);
  EXPECT_TRUE(TXC_FAULT("b").ok());
  EXPECT_TRUE(TXC_FAULT("c").ok());
  EXPECT_EQ(TXC_FAULT("c").code(), Code::kInternal);
  EXPECT_TRUE(TXC_FAULT("c").ok());
  EXPECT_TRUE(TXC_FAULT("d").ok());
}

TEST_F(FaultTest, BadConfigArmsNothing) {
  for (const char* bad : {"nameonly", "=crash", "x=explode", "x=error(nosuch)", "x=crash@0",
                          "x=delay(abc)", "x=crash*0", "ok=crash,bad"}) {
    Status s = Registry::Global().ArmFromString(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(Registry::Global().Armed().empty());
}

TEST_F(FaultTest, EnvironmentArmsPoints) {
  ::setenv(kEnvVar, "test.env=error(aborted)", 1);
  ASSERT_TRUE(ArmFromEnvironment().ok());
  ::unsetenv(kEnvVar);
  EXPECT_EQ(TXC_FAULT("test.env").code(), Code::kAborted);
}

TEST_F(FaultTest, BadEnvironmentIsAnError) {
  ::setenv(kEnvVar, "test.env=boom", 1);
  Status s = ArmFromEnvironment();
  ::unsetenv(kEnvVar);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find(kEnvVar), std::string::npos);
}

// A crash must be _exit: buffered stdio is not flushed, destructors do not run.
TEST(FaultDeathTest, CrashExitsImmediatelyWithoutFlushing) {
  EXPECT_EXIT(
      {
        Registry::Global().Arm("test.crash", Spec::Crash());
        std::fputs("buffered-but-never-flushed", stdout);  // stdout is a pipe: fully buffered
        (void)TXC_FAULT("test.crash");
        std::exit(0);
      },
      ::testing::ExitedWithCode(kCrashExitCode), "fault point 'test.crash' fired: crash");
}

TEST(FaultDeathTest, CrashOnNthHitOnly) {
  EXPECT_EXIT(
      {
        Registry::Global().Arm("test.crash3", Spec::Crash().At(3));
        for (int i = 0; i < 2; ++i) {
          if (!TXC_FAULT("test.crash3").ok()) std::exit(1);
        }
        std::fputs("survived two hits\n", stderr);
        (void)TXC_FAULT("test.crash3");
        std::exit(0);
      },
      ::testing::ExitedWithCode(kCrashExitCode), "survived two hits");
}

}  // namespace
}  // namespace txcoord::fault
