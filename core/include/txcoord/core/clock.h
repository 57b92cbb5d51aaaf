#pragma once
// Injectable time. Code that waits, times out or stamps records takes a Clock& instead of
// calling std::chrono directly, so tests and crash simulations control time.
// Thread-safety: every Clock is safe to call from any thread.
#include <atomic>
#include <chrono>

namespace txcoord {

class Clock {
 public:
  using MonoTime = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;
  virtual MonoTime Now() const = 0;      // monotonic; for deadlines and latencies
  virtual WallTime WallNow() const = 0;  // calendar time; for records people read

  // The process-wide real clock. Never destroyed.
  static Clock& Real();
};

// A clock that moves only when told. Starts at an arbitrary fixed point.
class ManualClock final : public Clock {
 public:
  MonoTime Now() const override { return MonoTime(std::chrono::nanoseconds(mono_ns_.load())); }
  WallTime WallNow() const override {
    return WallTime(
        std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(wall_ns_.load())));
  }
  void Advance(std::chrono::nanoseconds d) {
    mono_ns_ += d.count();
    wall_ns_ += d.count();
  }

 private:
  std::atomic<std::int64_t> mono_ns_{1'000'000'000};
  std::atomic<std::int64_t> wall_ns_{1'767'225'600'000'000'000};  // 2026-01-01T00:00:00Z
};

}  // namespace txcoord
