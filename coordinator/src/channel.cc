#include "channel.h"

#include <algorithm>

#include <boost/asio/post.hpp>

namespace txcoord::coordinator::internal {

bool CircuitBreaker::Allow() {
  std::lock_guard<std::mutex> lock(mu_);
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      if (clock_.Now() < open_until_) return false;
      state_ = State::kHalfOpen;
      probe_in_flight_ = true;
      return true;
    case State::kHalfOpen:
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::OnSuccess() {
  std::lock_guard<std::mutex> lock(mu_);
  state_ = State::kClosed;
  failures_ = 0;
  probe_in_flight_ = false;
}

bool CircuitBreaker::IsHealthFailure(const Status& s) {
  switch (s.code()) {
    case Code::kUnavailable:
    case Code::kTimeout:
    case Code::kUnknownOutcome:
    case Code::kDataLoss:
    case Code::kInternal:
    case Code::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

void CircuitBreaker::OnResult(const Status& s) {
  IsHealthFailure(s) ? OnFailure() : OnSuccess();
}

void CircuitBreaker::OnFailure() {
  std::lock_guard<std::mutex> lock(mu_);
  ++failures_;
  if (state_ == State::kHalfOpen || failures_ >= threshold_) {
    state_ = State::kOpen;
    open_until_ = clock_.Now() + cooldown_;
  }
  probe_in_flight_ = false;
}

bool CircuitBreaker::open() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_ != State::kClosed;
}

bool ParticipantChannel::TrySubmit(std::function<void()> call) {
  Queued q{std::move(call), Steady::now()};
  std::lock_guard<std::mutex> lock(mu_);
  if (active_ < max_concurrent_) {
    ++active_;
    boost::asio::post(pool_, [this, q = std::move(q)]() mutable { Run(std::move(q)); });
    return true;
  }
  if (queue_.size() >= max_queued_) return false;
  queue_.push_back(std::move(q));
  return true;
}

bool ParticipantChannel::TryRunHere(const std::function<void()>& call) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (active_ >= max_concurrent_) return false;
    ++active_;
  }
  const Steady::time_point start = Steady::now();
  call();
  const Steady::time_point end = Steady::now();
  std::optional<Queued> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    next = FinishLocked(start, start, end);
  }
  if (next) {
    boost::asio::post(pool_, [this, q = std::move(*next)]() mutable { Run(std::move(q)); });
  }
  return true;
}

void ParticipantChannel::Run(Queued q) {
  for (;;) {
    const Steady::time_point start = Steady::now();
    q.call();
    const Steady::time_point end = Steady::now();
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<Queued> next = FinishLocked(q.at, start, end);
    if (!next) return;
    q = std::move(*next);
  }
}

std::optional<ParticipantChannel::Queued> ParticipantChannel::FinishLocked(Steady::time_point at,
                                                                           Steady::time_point start,
                                                                           Steady::time_point end) {
  ++stats_.calls;
  stats_.queued_seconds += std::chrono::duration<double>(start - at).count();
  stats_.running_seconds += std::chrono::duration<double>(end - start).count();
  const std::int64_t ns =
      std::min(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count(),
               kQuickCap * quick_under_ns_);
  const std::uint32_t n = samples_.load(std::memory_order_relaxed);
  const std::int64_t mean = recent_ns_.load(std::memory_order_relaxed);
  // The plain mean of the first samples, then an exponential one (weight 1/8).
  const std::int64_t k = n < kQuickSamples ? n + 1 : kQuickSamples;
  recent_ns_.store(mean + (ns - mean) / k, std::memory_order_relaxed);
  if (n < kQuickSamples) samples_.store(n + 1, std::memory_order_relaxed);
  if (queue_.empty()) {
    --active_;
    return std::nullopt;
  }
  Queued next = std::move(queue_.front());
  queue_.pop_front();
  return next;
}

bool ParticipantChannel::Quick() const {
  return quick_under_ns_ > 0 && samples_.load(std::memory_order_relaxed) >= kQuickSamples &&
         recent_ns_.load(std::memory_order_relaxed) < quick_under_ns_;
}

ParticipantChannel::Stats ParticipantChannel::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::size_t ParticipantChannel::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

}  // namespace txcoord::coordinator::internal
