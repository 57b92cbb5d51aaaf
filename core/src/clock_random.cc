#include <algorithm>
#include <cmath>

#include "txcoord/core/backoff.h"
#include "txcoord/core/clock.h"
#include "txcoord/core/random.h"

namespace txcoord {
namespace {

class RealClock final : public Clock {
 public:
  MonoTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
};

}  // namespace

Clock& Clock::Real() {
  static auto* clock = new RealClock();  // leaked on purpose: usable during shutdown
  return *clock;
}

Random& Random::System() {
  static auto* random = new SeededRandom(std::random_device{}());  // leaked, like Real()
  return *random;
}

std::uint64_t Random::Below(std::uint64_t bound) {
  if (bound == 0) return 0;
  // Rejection sampling removes modulo bias.
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  std::uint64_t v;
  do {
    v = Next();
  } while (v >= limit);
  return v % bound;
}

double Random::Unit() {
  return static_cast<double>(Next() >> 11) * 0x1.0p-53;
}

std::chrono::milliseconds Backoff::Ceiling(std::uint32_t attempt) const {
  if (attempt == 0) attempt = 1;
  const double grown = static_cast<double>(policy_.initial.count()) *
                       std::pow(policy_.multiplier, static_cast<double>(attempt - 1));
  const double capped = std::min(grown, static_cast<double>(policy_.cap.count()));
  return std::max(policy_.min, std::chrono::milliseconds(static_cast<std::int64_t>(capped)));
}

std::chrono::milliseconds Backoff::Delay(std::uint32_t attempt) const {
  const auto ceiling = Ceiling(attempt).count();
  const auto floor = std::min<std::int64_t>(policy_.min.count(), ceiling);
  const auto span = static_cast<std::uint64_t>(ceiling - floor + 1);
  return std::chrono::milliseconds(floor + static_cast<std::int64_t>(random_.Below(span)));
}

}  // namespace txcoord
