#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include "txcoord/adapters/factory.h"

namespace txcoord::adapters {
namespace {

Result<std::shared_ptr<participant::Participant>> Make(const std::string& json) {
  Poco::JSON::Parser parser;
  auto obj = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
  return CreateParticipant(*obj);
}

TEST(NoopParticipant, AlwaysSucceedsAndKeepsNothing) {
  auto made = Make(R"({"name":"n","kind":"noop"})");
  ASSERT_TRUE(made.ok()) << made.status();
  participant::Participant& p = **made;
  EXPECT_EQ(p.name(), "n");
  EXPECT_TRUE(p.Validate("anything", {{"k", "v"}}).ok());
  EXPECT_EQ(p.Validate("", {}).code(), Code::kInvalidArgument);
  const participant::BranchCall call{{"c", "g", "b0"}, "debit", {}};
  auto prep = p.Prepare(call);
  ASSERT_TRUE(prep.ok());
  EXPECT_EQ(prep->vote, participant::Vote::kYes);
  EXPECT_TRUE(p.Commit(call.id).ok());
  EXPECT_TRUE(p.Abort(call.id).ok());
  auto exec = p.Execute(call);
  ASSERT_TRUE(exec.ok());
  EXPECT_EQ(exec->outcome, participant::Outcome::kDone);
  EXPECT_TRUE(p.Compensate(call).ok());
  auto doubt = p.InDoubt("c");
  ASSERT_TRUE(doubt.ok());
  EXPECT_TRUE(doubt->empty());
}

TEST(NoopParticipant, NeedsAName) {
  auto made = Make(R"({"kind":"noop"})");
  EXPECT_EQ(made.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace txcoord::adapters
