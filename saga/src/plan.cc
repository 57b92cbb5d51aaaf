#include "txcoord/saga/plan.h"

#include <algorithm>

namespace txcoord::saga {

std::string_view StepStateName(StepState s) {
  switch (s) {
    case StepState::kPending:
      return "pending";
    case StepState::kExecuting:
      return "executing";
    case StepState::kDone:
      return "done";
    case StepState::kRefused:
      return "refused";
    case StepState::kFailed:
      return "failed";
    case StepState::kCompensating:
      return "compensating";
    case StepState::kCompensated:
      return "compensated";
  }
  return "unknown";
}

bool NeedsCompensation(StepState s) {
  return s == StepState::kExecuting || s == StepState::kDone || s == StepState::kFailed ||
         s == StepState::kCompensating;
}

bool MustCompensate(const std::vector<StepInfo>& steps) {
  return std::any_of(steps.begin(), steps.end(), [](const StepInfo& s) {
    return s.state == StepState::kRefused || s.state == StepState::kFailed ||
           s.state == StepState::kCompensating || s.state == StepState::kCompensated;
  });
}

Plan NextForward(const std::vector<StepInfo>& steps) {
  Plan p;
  bool found = false;
  std::uint32_t current = 0;
  for (const StepInfo& s : steps) {
    if (s.state == StepState::kDone) continue;
    if (!found || s.group < current) current = s.group;
    found = true;
  }
  if (!found) {
    p.finished = true;
    return p;
  }
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].group == current && steps[i].state == StepState::kPending) p.start.push_back(i);
  }
  return p;
}

Plan NextBackward(const std::vector<StepInfo>& steps) {
  Plan p;
  for (const StepInfo& s : steps) {
    if (s.state == StepState::kExecuting) return p;  // wait for the in-flight executes
  }
  bool found = false;
  std::uint32_t current = 0;
  for (const StepInfo& s : steps) {
    if (!NeedsCompensation(s.state)) continue;
    if (!found || s.group > current) current = s.group;
    found = true;
  }
  if (!found) {
    p.finished = true;
    return p;
  }
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const StepInfo& s = steps[i];
    if (s.group != current || !NeedsCompensation(s.state)) continue;
    if (!s.has_compensation) {
      p.stuck = true;
      p.stuck_step = i;
      p.start.clear();
      return p;
    }
    if (s.state != StepState::kCompensating) p.start.push_back(i);
  }
  return p;
}

}  // namespace txcoord::saga
