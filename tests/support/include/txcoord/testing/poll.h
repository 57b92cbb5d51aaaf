#pragma once
// Waiting for state in tests: poll a condition with a deadline instead of sleeping for a guess.
#include <chrono>
#include <functional>
#include <thread>

namespace txcoord::testing {

// Polls `cond` every `interval` until it is true or `limit` has passed; returns its last value.
inline bool Eventually(const std::function<bool()>& cond,
                       std::chrono::milliseconds limit = std::chrono::seconds(10),
                       std::chrono::milliseconds interval = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(interval);
  }
  return cond();
}

}  // namespace txcoord::testing
