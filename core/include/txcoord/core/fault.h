#pragma once
// Named fault points: crash and error injection switched on from tests or, in binaries, from
// the environment — never by editing code.
//
//   TXC_RETURN_IF_ERROR(TXC_FAULT("wal.before_fsync"));   // in the code under test
//
// A point does nothing until armed. Arming, from a test:
//   fault::Registry::Global().Arm("wal.before_fsync", fault::Spec::Error(Code::kDataLoss));
// or from the environment of a binary (read by fault::ArmFromEnvironment() in main()):
//   TXC_FAILPOINTS='coordinator.after_commit_durable=crash,wal.before_fsync=error(data_loss)@3'
//
// Grammar: list   := entry (',' entry)*
//          entry  := name '=' action ['@' N] ['*' M]
//          action := 'off' | 'crash' | 'abort' | 'error' ['(' code ')'] | 'delay(' millis ')'
// '@N' fires first on the N-th hit (1-based; default 1); '*M' fires at most M times
// (default: every hit from then on). code is a Code name in snake case (default: internal).
//
// crash = immediate _exit(kCrashExitCode): no stdio flush, no destructors, no atexit handlers —
// as close to kill -9 as a process can do to itself. abort = std::abort() (core dump).
// Thread-safety: all functions are safe from any thread. An unarmed point costs one relaxed
// atomic load.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "txcoord/core/status.h"

namespace txcoord::fault {

inline constexpr int kCrashExitCode = 86;
inline constexpr const char* kEnvVar = "TXC_FAILPOINTS";

enum class Action : std::uint8_t { kOff, kCrash, kAbort, kError, kDelay, kCallback };

struct Spec {
  Action action = Action::kOff;
  Code error_code = Code::kInternal;
  std::chrono::milliseconds delay{0};
  std::function<void()> callback;  // kCallback: runs on the hitting thread, then returns ok
  std::uint64_t first_hit = 1;     // fire from this hit on (1-based)
  std::uint64_t max_fires = UINT64_MAX;

  static Spec Crash() { return Of(Action::kCrash); }
  static Spec Error(Code code) {
    Spec s = Of(Action::kError);
    s.error_code = code;
    return s;
  }
  static Spec Delay(std::chrono::milliseconds d) {
    Spec s = Of(Action::kDelay);
    s.delay = d;
    return s;
  }
  static Spec Callback(std::function<void()> f) {
    Spec s = Of(Action::kCallback);
    s.callback = std::move(f);
    return s;
  }
  static Spec Of(Action a) {
    Spec s;
    s.action = a;
    return s;
  }
  Spec& At(std::uint64_t nth_hit) {
    first_hit = nth_hit;
    return *this;
  }
  Spec& Times(std::uint64_t n) {
    max_fires = n;
    return *this;
  }
};

class Registry {
 public:
  static Registry& Global();

  void Arm(const std::string& name, Spec spec);
  void Disarm(const std::string& name);
  void DisarmAll();
  // Parses the grammar above and arms every entry; nothing is armed if any entry is invalid.
  Status ArmFromString(std::string_view config);

  // Evaluates the point: ok unless it fires an error; may not return (crash/abort).
  Status Hit(std::string_view name);
  // Hits seen on an armed point since it was armed (0 for an unarmed one).
  std::uint64_t HitCount(const std::string& name) const;
  std::vector<std::string> Armed() const;

 private:
  struct Point {
    Spec spec;
    std::uint64_t hits = 0;
    std::uint64_t fires = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, Point, std::less<>> points_;
  std::atomic<bool> any_armed_{false};
};

// Arms points from $TXC_FAILPOINTS, if set. Call once at the start of main().
Status ArmFromEnvironment();

// Parses a snake-case code name ("unavailable", "unknown_outcome").
Result<Code> ParseCode(std::string_view name);

// RAII arming for tests: disarms the point when it goes out of scope.
class ScopedFault {
 public:
  ScopedFault(std::string name, Spec spec) : name_(std::move(name)) {
    Registry::Global().Arm(name_, std::move(spec));
  }
  ~ScopedFault() { Registry::Global().Disarm(name_); }
  ScopedFault(const ScopedFault&) = delete;
  ScopedFault& operator=(const ScopedFault&) = delete;

 private:
  std::string name_;
};

}  // namespace txcoord::fault

#define TXC_FAULT(name) (::txcoord::fault::Registry::Global().Hit(name))
