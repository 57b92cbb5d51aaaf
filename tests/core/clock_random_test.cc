#include <gtest/gtest.h>

#include <set>

#include "txcoord/core/backoff.h"
#include "txcoord/core/clock.h"
#include "txcoord/core/random.h"

namespace txcoord {
namespace {

using std::chrono::milliseconds;

TEST(ManualClock, MovesOnlyWhenAdvanced) {
  ManualClock clock;
  const auto t0 = clock.Now();
  const auto w0 = clock.WallNow();
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(milliseconds(250));
  EXPECT_EQ(clock.Now() - t0, milliseconds(250));
  EXPECT_EQ(clock.WallNow() - w0, milliseconds(250));
}

TEST(RealClock, IsMonotonic) {
  const auto a = Clock::Real().Now();
  const auto b = Clock::Real().Now();
  EXPECT_LE(a, b);
}

TEST(SeededRandom, SameSeedSameSequence) {
  SeededRandom a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto va = a.Next();
    EXPECT_EQ(va, b.Next());
    differs |= va != c.Next();
  }
  EXPECT_TRUE(differs);
}

TEST(Random, BelowAndUnitStayInRange) {
  SeededRandom r(7);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto v = r.Below(10);
    EXPECT_LT(v, 10u);
    seen.insert(v);
    const double u = r.Unit();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
  EXPECT_EQ(seen.size(), 10u);  // every bucket reached
  EXPECT_EQ(r.Below(0), 0u);
}

TEST(Backoff, GrowsThenCaps) {
  SeededRandom r(1);
  Backoff b({.initial = milliseconds(10), .cap = milliseconds(1000), .multiplier = 2.0}, r);
  EXPECT_EQ(b.Ceiling(1), milliseconds(10));
  EXPECT_EQ(b.Ceiling(2), milliseconds(20));
  EXPECT_EQ(b.Ceiling(5), milliseconds(160));
  EXPECT_EQ(b.Ceiling(8), milliseconds(1000));
  EXPECT_EQ(b.Ceiling(1000), milliseconds(1000));  // no overflow far out
}

TEST(Backoff, JitterIsWithinWindowAndVaries) {
  SeededRandom r(3);
  Backoff b({.initial = milliseconds(100), .cap = milliseconds(400)}, r);
  std::set<long> seen;
  for (int i = 0; i < 200; ++i) {
    const auto d = b.Delay(6);
    EXPECT_GE(d, milliseconds(1));
    EXPECT_LE(d, milliseconds(400));
    seen.insert(static_cast<long>(d.count()));
  }
  EXPECT_GT(seen.size(), 50u);
}

}  // namespace
}  // namespace txcoord
