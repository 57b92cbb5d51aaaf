// log: the UTC timestamp every log line and API view carries.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "txcoord/core/log.h"

namespace txcoord::log {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

system_clock::time_point At(long long ms) {
  return system_clock::time_point(
      std::chrono::duration_cast<system_clock::duration>(milliseconds(ms)));
}

TEST(FormatUtc, KnownInstants) {
  EXPECT_EQ(FormatUtc(At(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatUtc(At(-1)), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatUtc(At(951782400123)), "2000-02-29T00:00:00.123Z");  // leap day
  EXPECT_EQ(FormatUtc(At(1795528201042)), "2026-11-24T13:50:01.042Z");
}

TEST(FormatUtc, AgreesWithGmtime) {
  std::mt19937_64 rng(20261124);
  for (int i = 0; i < 20000; ++i) {
    const long long ms = static_cast<long long>(rng() % 9'000'000'000'000ULL);  // 1970..2255
    const std::time_t secs = ms / 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char want[96];
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    ASSERT_EQ(FormatUtc(At(ms)), want) << ms;
  }
}

}  // namespace
}  // namespace txcoord::log
