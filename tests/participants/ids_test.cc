#include "txcoord/participant/ids.h"

#include <gtest/gtest.h>

namespace txcoord::participant {
namespace {

TEST(Ids, PreparedNameRoundTripsWithColonsInGid) {
  BranchId id{"coord-1", "order:42:a.b", "b0"};
  ASSERT_TRUE(Validate(id).ok());
  EXPECT_EQ(PreparedName(id), "txc:coord-1:order:42:a.b:b0");
  auto parsed = ParsePreparedName(PreparedName(id));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, id);
}

TEST(Ids, LongestNameFitsPostgresGidSize) {
  BranchId id{std::string(kMaxCoordinatorIdLen, 'c'), std::string(kMaxGidLen, 'g'),
              std::string(kMaxBranchLen, 'b')};
  ASSERT_TRUE(Validate(id).ok());
  EXPECT_LT(PreparedName(id).size(), 200u);
}

TEST(Ids, RejectsBadIds) {
  EXPECT_EQ(ValidateGid("").code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateGid(std::string(129, 'g')).code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateGid("a b").code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateGid("x'; DROP TABLE t;--").code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateCoordinatorId("c:1").code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateBranch("b:0").code(), Code::kInvalidArgument);
  EXPECT_TRUE(ValidateGid("A-z_0.9:x").ok());
}

TEST(Ids, ForeignNamesAreNotOurs) {
  EXPECT_EQ(ParsePreparedName("someone-else").status().code(), Code::kNotFound);
  EXPECT_EQ(ParsePreparedName("txc:only-two").status().code(), Code::kNotFound);
  EXPECT_EQ(ParsePreparedName("txc:c:g:bad branch").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace txcoord::participant
