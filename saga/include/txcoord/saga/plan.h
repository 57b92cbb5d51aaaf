#pragma once
// The saga step planner: a pure function from the steps' states to the next calls to make.
//
// Steps carry a group number; groups run in ascending order, the steps of one group
// concurrently (plain sequential sagas give every step its own group). Forward: the lowest
// group with a step not yet done is the current one; its pending steps start. Backward
// (compensating): in-flight executes are waited for first; then the highest group holding a
// step that needs compensation (done, or possibly done) is compensated, all its steps at once,
// before any lower group. A step that needs compensation but has none makes the saga stuck.
// Thread-safety: pure functions over values.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace txcoord::saga {

enum class StepState {
  kPending,       // not started
  kExecuting,     // Execute sent (or recovered as started): possibly done
  kDone,          // Execute answered done
  kRefused,       // the participant said no: nothing took effect
  kFailed,        // gave up retrying Execute: possibly done, must be compensated
  kCompensating,  // Compensate sent, not yet acknowledged
  kCompensated,   // Compensate acknowledged (including a null compensation)
};

std::string_view StepStateName(StepState s);

// Did (or may) this step's Execute take effect without being compensated yet?
bool NeedsCompensation(StepState s);

struct StepInfo {
  std::uint32_t group = 0;
  StepState state = StepState::kPending;
  bool has_compensation = true;
};

struct Plan {
  std::vector<std::size_t> start;  // steps to execute (forward) or compensate (backward) now
  bool finished = false;           // forward: every step done; backward: nothing left to undo
  bool stuck = false;              // backward: a step must be compensated but has none
  std::size_t stuck_step = 0;      // valid when stuck
};

// Should the saga turn back? True once any step was refused or given up on.
bool MustCompensate(const std::vector<StepInfo>& steps);

Plan NextForward(const std::vector<StepInfo>& steps);
Plan NextBackward(const std::vector<StepInfo>& steps);

}  // namespace txcoord::saga
