#pragma once
// Helpers for the saga machine's tests: build steps, apply events, pick effects by type.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "txcoord/saga/machine.h"

namespace txcoord::saga::testing {

// n sequential steps s0..s(n-1), each with a compensation unless `last_without` (then the
// last one has none).
inline std::vector<StepSpec> Steps(std::size_t n, bool last_without = false) {
  std::vector<StepSpec> out;
  for (std::size_t i = 0; i < n; ++i) {
    StepSpec s;
    s.participant = "p" + std::to_string(i % 2);
    s.action = "do";
    s.payload = {{"i", std::to_string(i)}};
    s.compensation_action = (last_without && i + 1 == n) ? "" : "undo";
    s.group = static_cast<std::uint32_t>(i);
    s.step_id = "s" + std::to_string(i) + ".x";
    out.push_back(std::move(s));
  }
  return out;
}

template <typename T>
std::vector<T> All(const Effects& e) {
  std::vector<T> out;
  for (const Effect& x : e.effects) {
    if (const T* t = std::get_if<T>(&x)) out.push_back(*t);
  }
  return out;
}

template <typename T>
T One(const Effects& e) {
  std::vector<T> v = All<T>(e);
  EXPECT_EQ(v.size(), 1u);
  return v.empty() ? T{} : v.front();
}

inline bool IsStep(const AppendRecord& a, std::uint32_t step, StepPhase p, StepEvent ev) {
  const auto* r = std::get_if<StepRecord>(&a.record);
  return r != nullptr && r->step == step && r->phase == p && r->event == ev;
}

// Applies events and expects each to be accepted.
struct Driver {
  Machine m;
  explicit Driver(MachineConfig cfg = {}) : m(cfg) {}
  Effects Do(const Event& e) {
    Result<Effects> r = m.Apply(e);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Effects{};
  }
  // Start + BEGIN durable; returns the effects of the durable event.
  Effects Begin(std::vector<StepSpec> steps, std::uint64_t waiter = 7) {
    Effects e = Do(Start{"g1", std::move(steps), std::chrono::milliseconds(1000), waiter});
    return Do(RecordDurable{One<AppendRecord>(e).seq});
  }
};

}  // namespace txcoord::saga::testing
