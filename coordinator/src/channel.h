#pragma once
// Internal: per-participant circuit breaker and bounded call queue (bulkhead).
#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "txcoord/core/clock.h"
#include "txcoord/participant/participant.h"

namespace txcoord::coordinator::internal {

// Closed → (N consecutive failures) → open for `cooldown` (fail fast) → half-open: exactly one
// probe call; its success closes, its failure re-opens. Time from the injected Clock.
// Thread-safety: all methods are safe from any thread.
class CircuitBreaker {
 public:
  CircuitBreaker(std::uint32_t threshold, std::chrono::milliseconds cooldown, Clock& clock)
      : threshold_(threshold), cooldown_(cooldown), clock_(clock) {}
  // May a call go now? In half-open, true for the single probe. Every true must be followed
  // by OnResult.
  bool Allow();
  // Counts the call's answer by what it says of the participant's health: only an answer that
  // it could not be reached or failed inside (unavailable, timeout, unknown outcome, exhausted,
  // data loss, internal) is a failure. A refusal of the call itself (conflict: a protocol
  // violation such as aborting a committed branch; invalid argument; not found; failed
  // precondition) comes from a healthy participant and counts as a success, so it cannot open
  // the breaker for every other transaction on it.
  void OnResult(const Status& s);
  bool open() const;

 private:
  static bool IsHealthFailure(const Status& s);
  void OnSuccess();
  void OnFailure();
  enum class State { kClosed, kOpen, kHalfOpen };
  const std::uint32_t threshold_;
  const std::chrono::milliseconds cooldown_;
  Clock& clock_;
  mutable std::mutex mu_;
  State state_ = State::kClosed;
  std::uint32_t failures_ = 0;
  bool probe_in_flight_ = false;
  Clock::MonoTime open_until_{};
};

// At most `max_concurrent` calls of one participant run at a time — on the shared worker pool,
// or on a caller's own thread (TryRunHere); up to `max_queued` more wait here; beyond that
// TrySubmit refuses (the caller retries later).
// Thread-safety: all methods are safe from any thread. `pool` must outlive the channel's use.
class ParticipantChannel {
 public:
  ParticipantChannel(std::shared_ptr<participant::Participant> p, std::size_t max_concurrent,
                     std::size_t max_queued, std::uint32_t breaker_failures,
                     std::chrono::milliseconds breaker_cooldown, Clock& clock,
                     boost::asio::thread_pool& pool, std::chrono::microseconds quick_under)
      : participant_(std::move(p)),
        max_concurrent_(max_concurrent),
        max_queued_(max_queued),
        breaker_(breaker_failures, breaker_cooldown, clock),
        pool_(pool),
        quick_under_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(quick_under).count()) {
  }

  bool TrySubmit(std::function<void()> call);
  // Runs `call` on the calling thread if a slot is free, counted like a pooled call (it holds
  // the slot while it runs); false, and nothing ran, when every slot is taken. Calls queued
  // meanwhile continue on the pool, never on this thread. For a caller that would otherwise
  // hand `call` to the pool and sleep until it is done: it saves the two thread hand-offs.
  bool TryRunHere(const std::function<void()>& call);
  // Calls run so far, and the real time they waited for a slot and ran (participant call plus
  // the engine's bookkeeping around it).
  struct Stats {
    std::uint64_t calls = 0;
    double queued_seconds = 0;
    double running_seconds = 0;
  };
  Stats stats() const;
  // True when the recent calls took less than `quick_under` each: cheaper to make on the
  // caller's thread than to hand to the pool. The mean is exponential (weight 1/kQuickSamples,
  // the plain mean until kQuickSamples calls have run) over each call's real time capped at
  // kQuickCap × quick_under, so one call held up by the scheduler does not flip it, and two or
  // three slow ones do. Lock-free; `quick_under` 0 → always false.
  bool Quick() const;
  static constexpr std::uint32_t kQuickSamples = 8;
  static constexpr std::int64_t kQuickCap = 4;
  participant::Participant& participant() { return *participant_; }
  CircuitBreaker& breaker() { return breaker_; }
  std::size_t queued() const;

 private:
  using Steady = std::chrono::steady_clock;
  struct Queued {
    std::function<void()> call;
    Steady::time_point at;
  };
  void Run(Queued q);
  // Under mu_: counts a call that waited from `at`, ran from `start` to `end`; frees its slot,
  // or passes it to the next queued call (returned).
  std::optional<Queued> FinishLocked(Steady::time_point at, Steady::time_point start,
                                     Steady::time_point end);

  std::shared_ptr<participant::Participant> participant_;
  const std::size_t max_concurrent_;
  const std::size_t max_queued_;
  CircuitBreaker breaker_;
  boost::asio::thread_pool& pool_;
  const std::int64_t quick_under_ns_;
  mutable std::mutex mu_;
  std::size_t active_ = 0;
  std::deque<Queued> queue_;
  Stats stats_;
  std::atomic<std::int64_t> recent_ns_{0};  // written under mu_, read by Quick
  std::atomic<std::uint32_t> samples_{0};
};

}  // namespace txcoord::coordinator::internal
