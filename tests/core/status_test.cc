#include "txcoord/core/status.h"

#include <gtest/gtest.h>

namespace txcoord {
namespace {

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.reaction(), Reaction::kNone);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(Status, CodesMapToReactions) {
  EXPECT_EQ(InvalidArgument("x").reaction(), Reaction::kFixRequest);
  EXPECT_EQ(NotFound("x").reaction(), Reaction::kFixRequest);
  EXPECT_EQ(Conflict("x").reaction(), Reaction::kFixRequest);
  EXPECT_EQ(FailedPrecondition("x").reaction(), Reaction::kFixRequest);
  EXPECT_EQ(Unavailable("x").reaction(), Reaction::kRetryCall);
  EXPECT_EQ(Timeout("x").reaction(), Reaction::kRetryCall);
  EXPECT_EQ(ResourceExhausted("x").reaction(), Reaction::kRetryCall);
  EXPECT_EQ(Aborted("x").reaction(), Reaction::kRetryTransaction);
  EXPECT_EQ(UnknownOutcome("x").reaction(), Reaction::kResolveUnknown);
  EXPECT_EQ(DataLoss("x").reaction(), Reaction::kGiveUp);
  EXPECT_EQ(Internal("x").reaction(), Reaction::kGiveUp);
  EXPECT_TRUE(Unavailable("x").retryable());
  EXPECT_FALSE(UnknownOutcome("x").retryable());
}

TEST(Status, AnnotateKeepsCode) {
  Status s = Unavailable("connection refused").Annotate("postgres");
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(s.message(), "postgres: connection refused");
  EXPECT_EQ(s.ToString(), "UNAVAILABLE: postgres: connection refused");
  EXPECT_TRUE(Status::Ok().Annotate("ctx").ok());
}

Result<int> Half(int v) {
  if (v % 2 != 0) return InvalidArgument("odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  TXC_ASSIGN_OR_RETURN(int h, Half(v));
  TXC_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int v) {
  TXC_RETURN_IF_ERROR(Half(v).status());
  return Status::Ok();
}

TEST(Result, ValueAndError) {
  auto r = Half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4);
  EXPECT_TRUE(r.status().ok());
  auto e = Half(3);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(e.value_or(-1), -1);
}

TEST(Result, MacrosPropagate) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(CheckEven(2).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

TEST(Result, OkStatusBecomesInternalError) {
  Result<int> r{Status::Ok()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
}

TEST(ResultDeathTest, ValueOfErrorAborts) {
  Result<int> r{NotFound("gone")};
  EXPECT_DEATH((void)r.value(), "NOT_FOUND: gone");
}

}  // namespace
}  // namespace txcoord

#include "txcoord/core/log.h"

namespace txcoord {
namespace {

TEST(Log, JsonStringEscapes) {
  std::string out;
  log::AppendJsonString(out, "a\"b\\c\nd\x01");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\u0001\"");
}

TEST(Log, JsonStringCopiesRunsBetweenEscapes) {
  std::string out = "x";
  log::AppendJsonString(out, "");
  log::AppendJsonString(out, "\tstart and end\r");
  log::AppendJsonString(out, "caf\xc3\xa9 \x1f\"q\"");
  EXPECT_EQ(out, "x\"\"\"\\tstart and end\\r\"\"caf\xc3\xa9 \\u001f\\\"q\\\"\"");
}

TEST(Log, WritesOneJsonLine) {
  ::testing::internal::CaptureStderr();
  log::Info("hello", {{"k", "v\"q"}});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.back(), '\n');
  EXPECT_NE(err.find("\"level\":\"info\",\"msg\":\"hello\",\"k\":\"v\\\"q\"}"), std::string::npos)
      << err;
  log::SetMinLevel(log::Level::kError);
  ::testing::internal::CaptureStderr();
  log::Info("quiet");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  log::SetMinLevel(log::Level::kInfo);
}

}  // namespace
}  // namespace txcoord
