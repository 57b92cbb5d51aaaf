// The pure saga planner: forward group order, backward reverse group order, waiting for
// in-flight executes, stuck on a missing compensation.
#include "txcoord/saga/plan.h"

#include <gtest/gtest.h>

namespace txcoord::saga {
namespace {

using S = StepState;

std::vector<StepInfo> Steps(std::vector<std::pair<std::uint32_t, S>> v) {
  std::vector<StepInfo> out;
  for (auto [g, s] : v) out.push_back(StepInfo{g, s, true});
  return out;
}

TEST(PlanTest, ForwardStartsTheLowestUnfinishedGroup) {
  auto p = NextForward(Steps({{0, S::kPending}, {1, S::kPending}, {1, S::kPending}}));
  EXPECT_EQ(p.start, (std::vector<std::size_t>{0}));
  p = NextForward(Steps({{0, S::kDone}, {1, S::kPending}, {1, S::kPending}, {2, S::kPending}}));
  EXPECT_EQ(p.start, (std::vector<std::size_t>{1, 2}));
  p = NextForward(Steps({{0, S::kDone}, {1, S::kExecuting}, {1, S::kDone}, {2, S::kPending}}));
  EXPECT_TRUE(p.start.empty());  // waits for the group
  EXPECT_FALSE(p.finished);
  EXPECT_TRUE(NextForward(Steps({{0, S::kDone}, {5, S::kDone}})).finished);
}

TEST(PlanTest, GroupsNeedNotBeListedInOrder) {
  auto p = NextForward(Steps({{3, S::kPending}, {1, S::kPending}}));
  EXPECT_EQ(p.start, (std::vector<std::size_t>{1}));
}

TEST(PlanTest, TurnsBackOnRefusalOrFailure) {
  EXPECT_FALSE(MustCompensate(Steps({{0, S::kDone}, {1, S::kExecuting}})));
  EXPECT_TRUE(MustCompensate(Steps({{0, S::kDone}, {1, S::kRefused}})));
  EXPECT_TRUE(MustCompensate(Steps({{0, S::kDone}, {1, S::kFailed}})));
}

TEST(PlanTest, BackwardCompensatesTheHighestGroupFirst) {
  auto steps = Steps({{0, S::kDone},
                      {1, S::kDone},
                      {1, S::kDone},
                      {2, S::kFailed},
                      {3, S::kRefused},
                      {4, S::kPending}});
  EXPECT_EQ(NextBackward(steps).start, (std::vector<std::size_t>{3}));
  steps[3].state = S::kCompensated;
  EXPECT_EQ(NextBackward(steps).start, (std::vector<std::size_t>{1, 2}));
  steps[1].state = S::kCompensated;
  steps[2].state = S::kCompensating;
  EXPECT_TRUE(NextBackward(steps).start.empty());  // group 1 not finished yet
  steps[2].state = S::kCompensated;
  EXPECT_EQ(NextBackward(steps).start, (std::vector<std::size_t>{0}));
  steps[0].state = S::kCompensated;
  EXPECT_TRUE(NextBackward(steps).finished);
}

TEST(PlanTest, BackwardWaitsForInFlightExecutes) {
  auto p = NextBackward(Steps({{0, S::kDone}, {1, S::kExecuting}, {1, S::kRefused}}));
  EXPECT_TRUE(p.start.empty());
  EXPECT_FALSE(p.finished);
}

TEST(PlanTest, MissingCompensationIsStuck) {
  auto steps = Steps({{0, S::kDone}, {1, S::kFailed}});
  steps[1].has_compensation = false;
  auto p = NextBackward(steps);
  EXPECT_TRUE(p.stuck);
  EXPECT_EQ(p.stuck_step, 1u);
  EXPECT_TRUE(p.start.empty());
  steps[1].state = S::kRefused;  // refused: nothing to undo, no compensation needed
  EXPECT_EQ(NextBackward(steps).start, (std::vector<std::size_t>{0}));
}

TEST(PlanTest, StateNames) {
  EXPECT_EQ(StepStateName(S::kCompensated), "compensated");
  EXPECT_TRUE(NeedsCompensation(S::kFailed));
  EXPECT_FALSE(NeedsCompensation(S::kRefused));
}

}  // namespace
}  // namespace txcoord::saga
