#pragma once
// Latency figures printed by tests that time real servers (never asserted: shared machines are
// too noisy). Header-only.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace txcoord::testing {

// TXC_LATENCY_ITERATIONS, else `fallback`.
inline int LatencyIterations(int fallback = 500) {
  const char* v = std::getenv("TXC_LATENCY_ITERATIONS");
  const int n = v != nullptr ? std::atoi(v) : 0;
  return n > 0 ? n : fallback;
}

inline double Micros(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// One line: "<store> <what> n=.. mean=.. us p50=.. us p99=.. us". `us` must not be empty.
inline void PrintLatency(const char* store, const char* what, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double u : us) sum += u;
  std::printf("%s %-16s n=%zu mean=%.0f us p50=%.0f us p99=%.0f us\n", store, what, us.size(),
              sum / static_cast<double>(us.size()), us[us.size() / 2], us[us.size() * 99 / 100]);
}

}  // namespace txcoord::testing
