#pragma once
// Capped exponential backoff with full jitter (AWS "full jitter"): the delay before attempt n
// (n >= 1) is uniform in [min, min(cap, initial * multiplier^(n-1))]. The cap matters: an
// uncapped doubling leaves transactions idle for hours after an outage.
// Thread-safety: const methods only; the Random passed in must be thread-safe.
#include <chrono>
#include <cstdint>

#include "txcoord/core/random.h"

namespace txcoord {

struct BackoffPolicy {
  std::chrono::milliseconds initial{50};
  std::chrono::milliseconds cap{5'000};
  double multiplier = 2.0;
  std::chrono::milliseconds min{1};
};

class Backoff {
 public:
  Backoff(BackoffPolicy policy, Random& random) : policy_(policy), random_(random) {}
  // Delay to wait before retry number `attempt` (1 = first retry).
  std::chrono::milliseconds Delay(std::uint32_t attempt) const;
  // The upper bound of the jitter window for `attempt` (without randomness).
  std::chrono::milliseconds Ceiling(std::uint32_t attempt) const;
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  Random& random_;
};

}  // namespace txcoord
