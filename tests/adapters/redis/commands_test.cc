// Every write command kind, literal storage of hostile values, C++-registered actions, and bad
// calls rejected before any state changes.
#include "redis_fixture.h"

namespace txcoord::redis::testing {
namespace {

using participant::Outcome;
using participant::Vote;

class CommandsTest : public RedisTest {
 protected:
  std::vector<std::string> Strings(const std::vector<std::string>& argv) {
    RawReply r = Cmd(argv);
    std::vector<std::string> out;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; ++i) {
      out.emplace_back(r->element[i]->str, r->element[i]->len);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // True when no record of the branch exists anywhere (bad calls must not write).
  bool Untouched(const participant::BranchId& id) {
    return Int({"EXISTS", "txc:i:" + id.coordinator + ":" + id.gid + ":" + id.branch}) == 0;
  }
};

TEST_F(CommandsTest, EveryWriteCommandAppliesAtCommit) {
  const std::string t = Unique();
  Set("d:{" + t + "}", "gone soon");
  Set("m:{" + t + "}", "10");
  ASSERT_EQ(Int({"HSET", "h:{" + t + "}", "gone", "1", "cnt", "1"}), 2);
  ASSERT_EQ(Int({"SADD", "set:{" + t + "}", "old", "keep"}), 2);
  const auto id = Branch(Unique("g"));
  auto v = p_->Prepare(Call(id, "all", {{"t", t}, {"v", "val"}}));
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->vote, Vote::kYes) << v->reason;
  EXPECT_EQ(Get("s:{" + t + "}"), "<nil>");
  ASSERT_TRUE(p_->Commit(id).ok());
  EXPECT_EQ(Get("s:{" + t + "}"), "val");
  EXPECT_GT(Int({"TTL", "s:{" + t + "}"}), 900);
  EXPECT_EQ(Get("d:{" + t + "}"), "<nil>");
  EXPECT_EQ(Get("n:{" + t + "}"), "5");
  EXPECT_EQ(Get("m:{" + t + "}"), "7");
  EXPECT_EQ(Strings({"HGETALL", "h:{" + t + "}"}),
            (std::vector<std::string>{"8", "cnt", "f1", "f2", "val", "x"}));
  EXPECT_EQ(Strings({"SMEMBERS", "set:{" + t + "}"}),
            (std::vector<std::string>{"a", "keep", "val"}));
}

TEST_F(CommandsTest, HashFieldGuardAndNegativeIncrement) {
  const std::string t = Unique();
  ASSERT_EQ(Int({"HSET", "h:{" + t + "}", "points", "10"}), 1);
  auto no = p_->Execute(
      Call(Branch(Unique("s")), "spend_points", {{"t", t}, {"n", "11"}, {"neg", "-11"}}));
  ASSERT_TRUE(no.ok()) << no.status();
  EXPECT_EQ(no->outcome, Outcome::kRefused);
  auto yes =
      p_->Execute(Call(Branch(Unique("s")), "spend_points", {{"t", t}, {"n", "4"}, {"neg", "-4"}}));
  ASSERT_TRUE(yes.ok() && yes->outcome == Outcome::kDone) << yes->reason;
  RawReply r = Cmd({"HGET", "h:{" + t + "}", "points"});
  ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(r->str, r->len), "6");
}

TEST_F(CommandsTest, SpecialCharactersAreStoredLiterally) {
  const std::string t = Unique();
  const std::string nasty = std::string("a\"]]') redis.call('FLUSHALL') --\n${x} %s \\ ") +
                            std::string(1, '\0') + "\xff\xfe end";
  const auto id = Branch(Unique("g"));
  auto v = p_->Prepare(Call(id, "all", {{"t", t}, {"v", nasty}}));
  ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v.status();
  ASSERT_TRUE(p_->Commit(id).ok());
  EXPECT_EQ(Get("s:{" + t + "}"), nasty);
  RawReply r = Cmd({"HGET", "h:{" + t + "}", "f1"});
  ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(r->str, r->len), nasty);
  // A placeholder-looking value is not expanded again, and "==" compares the exact bytes.
  EXPECT_EQ(Get("n:{" + t + "}"), "5");
}

TEST_F(CommandsTest, BadCallsAreRejectedWithoutStateChange) {
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  struct Case {
    std::string action;
    participant::Payload payload;
    Code code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"nope", {}, Code::kNotFound, "no action \"nope\""},
      {"debit", {{"account", acct}}, Code::kInvalidArgument, "no field \"amount\""},
      {"debit", {{"account", acct}, {"amount", "1.5"}}, Code::kInvalidArgument, "integer"},
      {"debit", {{"account", acct}, {"amount", "007"}}, Code::kInvalidArgument, "integer"},
      {"debit",
       {{"account", acct}, {"amount", "99999999999999999999"}},
       Code::kInvalidArgument,
       "integer"},
      {"two_tags", {{"x", "a"}, {"y", "b"}}, Code::kInvalidArgument, "one hash tag"},
      {"credit", {{"account", "}{"}, {"amount", "1"}}, Code::kInvalidArgument, ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(p_->Validate(c.action, c.payload).code(), c.code) << c.action;
    const auto id = Branch(Unique("g"));
    auto v = p_->Prepare(Call(id, c.action, c.payload));
    EXPECT_EQ(v.status().code(), c.code) << c.action;
    EXPECT_NE(v.status().message().find(c.says), std::string::npos) << v.status();
    EXPECT_EQ(p_->Execute(Call(id, c.action, c.payload)).status().code(), c.code);
    EXPECT_EQ(p_->Compensate(Call(id, c.action, c.payload)).code(), c.code);
    EXPECT_TRUE(Untouched(id)) << c.action;
  }
  EXPECT_EQ(p_->Prepare(Call({"coord-t", "bad gid!", "b"}, "credit",
                             {{"account", acct}, {"amount", "1"}}))
                .status()
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(p_->Commit({"", "g", "b"}).code(), Code::kInvalidArgument);
  EXPECT_EQ(p_->Abort({"c", "g", "branch-name-too-long-for-us"}).code(), Code::kInvalidArgument);
  EXPECT_EQ(Get(Wallet(acct)), "100");
  EXPECT_TRUE(p_->Validate("debit", {{"account", acct}, {"amount", "-3"}}).ok());
}

TEST_F(CommandsTest, RegisteredActionsRunLikeDeclaredOnes) {
  const std::string acct = Unique();
  ASSERT_TRUE(p_->RegisterAction("move", [](const participant::Payload& pay) -> Result<ActionPlan> {
                  const auto it = pay.find("to");
                  if (it == pay.end()) return InvalidArgument("move needs \"to\"");
                  ActionPlan plan;
                  plan.guards.push_back({"src:{" + it->second + "}", "", GuardOp::kGe, "2"});
                  plan.writes.push_back({{"DECRBY", "src:{" + it->second + "}", "2"}});
                  plan.writes.push_back({{"SADD", "log:{" + it->second + "}", "moved"}});
                  return plan;
                }).ok());
  EXPECT_EQ(
      p_->RegisterAction(
            "move", [](const participant::Payload&) { return Result<ActionPlan>(ActionPlan{}); })
          .code(),
      Code::kInvalidArgument);
  EXPECT_EQ(
      p_->RegisterAction(
            "debit", [](const participant::Payload&) { return Result<ActionPlan>(ActionPlan{}); })
          .code(),
      Code::kInvalidArgument);
  ASSERT_TRUE(p_->RegisterAction("bad", [](const participant::Payload&) {
                  return Result<ActionPlan>(ActionPlan{{}, {Write{{"FLUSHALL", "k"}}}});
                }).ok());
  EXPECT_EQ(p_->Validate("move", {}).code(), Code::kInvalidArgument);
  EXPECT_EQ(p_->Validate("bad", {}).code(), Code::kInvalidArgument);
  EXPECT_TRUE(p_->Validate("move", {{"to", acct}}).ok());

  Set("src:{" + acct + "}", "3");
  const auto id = Branch(Unique("g"));
  auto v = p_->Prepare(Call(id, "move", {{"to", acct}}));
  ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v.status();
  ASSERT_TRUE(p_->Commit(id).ok());
  EXPECT_EQ(Get("src:{" + acct + "}"), "1");
  auto no = p_->Execute(Call(Branch(Unique("s")), "move", {{"to", acct}}));
  ASSERT_TRUE(no.ok());
  EXPECT_EQ(no->outcome, Outcome::kRefused);
}

TEST_F(CommandsTest, NoDurabilityWarningOnTheTestServer) {
  EXPECT_TRUE(p_->warnings().empty()) << p_->warnings().front();
}

}  // namespace
}  // namespace txcoord::redis::testing
