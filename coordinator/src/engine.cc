#include "engine.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <latch>

#include "txcoord/core/fault.h"
#include "txcoord/core/thread_name.h"

namespace txcoord::coordinator {

using internal::v1::Record;

Engine::Engine(Config config,
               std::map<std::string, std::shared_ptr<participant::Participant>> parts,
               std::shared_ptr<wal::Log> log, Clock& clock, Random& random)
    : cfg_(std::move(config)),
      parts_(std::move(parts)),
      log_(std::move(log)),
      clock_(clock),
      random_(random),
      prepare_backoff_(cfg_.prepare_backoff, random),
      phase2_backoff_(cfg_.phase2_backoff, random),
      saga_backoff_(cfg_.prepare_backoff, random),
      work_(boost::asio::make_work_guard(io_)),
      pool_(cfg_.worker_threads) {
  for (const auto& [name, p] : parts_) {
    channels_.emplace(name, std::make_unique<internal::ParticipantChannel>(
                                p, cfg_.max_concurrent_per_participant,
                                cfg_.max_queued_per_participant, cfg_.breaker_failures,
                                cfg_.breaker_cooldown, clock_, pool_, cfg_.inline_calls_under));
  }
  metrics_.latency_bounds_ms = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
  metrics_.latency_counts.assign(metrics_.latency_bounds_ms.size() + 1, 0);
  io_thread_ = std::thread([this] { io_.run(); });
  NameThread(io_thread_, "txc-timers");
  // Names the pool's threads: one task per thread, each held until all have started.
  auto started = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(cfg_.worker_threads));
  for (std::size_t i = 0; i < cfg_.worker_threads; ++i) {
    boost::asio::post(pool_, [started] {
      NameThisThread("txc-worker");
      started->arrive_and_wait();
    });
  }
  started->wait();
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(life_->mu);
    life_->alive = false;
  }
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    NotifyAllLocked();
  }
  work_.reset();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
  pool_.join();
}

// Every durable record goes through here: the mutation and the Append call happen under the
// shared wal gate, so a checkpoint (exclusive gate) sees either both or neither.
Status Engine::AppendForced(const Record& rec, const Mutation& mutate, const Publish& publish,
                            const char* fault_point) {
  std::future<Result<wal::Lsn>> done;
  std::size_t bytes = 0;
  {
    std::shared_lock<std::shared_mutex> gate(wal_gate_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      TXC_RETURN_IF_ERROR(CheckReadyLocked());
      Result<bool> go = mutate();
      if (!go.ok()) return go.status();
      if (!*go) return Status::Ok();
      TouchLiveLocked(internal::GidOf(rec));
    }
    if (fault_point != nullptr && !Fault(fault_point)) {
      return Unavailable(std::string("coordinator stopped at ") + fault_point);
    }
    std::string body = internal::Serialize(rec);
    bytes = body.size();
    done = log_->Append(std::move(body));
  }
  Result<wal::Lsn> lsn = done.get();
  if (!lsn.ok()) {
    FailStop(lsn.status());
    return lsn.status();
  }
  if (publish) {
    std::lock_guard<std::mutex> lock(mu_);
    publish();
  }
  AfterDurable(bytes);
  return Status::Ok();
}

bool Engine::WaitDecidedLocked(std::unique_lock<std::mutex>& lock, Txn& t) const {
  t.cv.wait(lock, [&] { return Stopped() || !t.pending_decision; });
  return !Stopped();
}

void Engine::AppendLazy(const Record& rec, const std::function<bool()>& mutate) {
  std::shared_lock<std::shared_mutex> gate(wal_gate_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!mutate() || !halted_.ok()) return;
    TouchLiveLocked(internal::GidOf(rec));
  }
  // Not fdatasync'd on its own: durable with the next forced record (wal::Log::AppendLazy).
  std::string body = internal::Serialize(rec);
  const std::size_t bytes = body.size();
  log_->AppendLazy(std::move(body), [this, bytes, life = life_](Result<wal::Lsn> lsn) {
    std::lock_guard<std::mutex> alive(life->mu);
    if (!life->alive) return;
    if (!lsn.ok()) {
      FailStop(lsn.status());
      return;
    }
    AfterDurable(bytes);
  });
}

bool Engine::CheckpointDue() const {
  return cfg_.checkpoint_every_records > 0 &&
         records_since_checkpoint_.load() >= cfg_.checkpoint_every_records &&
         bytes_since_checkpoint_.load() >= last_checkpoint_bytes_.load();
}

void Engine::AfterDurable(std::size_t bytes) {
  bytes_since_checkpoint_ += bytes;
  ++records_since_checkpoint_;
  if (!CheckpointDue() || stopping_) return;
  if (checkpoint_pending_.exchange(true)) return;  // one checkpoint requested at a time
  // A checkpoint may have run since the counts were read (it resets them before it clears the
  // request): then this record is in it, and asking again would write a second one right away.
  if (!CheckpointDue()) {
    checkpoint_pending_ = false;
    return;
  }
  // Elsewhere: a checkpoint takes the gate exclusively, which our caller may hold shared.
  // A failed checkpoint fail-stops the engine (CheckpointNow), so its Status is not lost.
  boost::asio::post(pool_, [this] {
    if (!Stopped()) CheckpointNow().IgnoreError();
  });
}

void Engine::FailStop(const Status& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (halted_.ok()) {
      halted_ = why.ok() ? Internal("halted") : why;
      std::fprintf(stderr, "txcoord coordinator: fail-stop: %s\n", halted_.ToString().c_str());
    }
  }
  halted_flag_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  NotifyAllLocked();
}

void Engine::NotifyAllLocked() {
  for (const auto& [gid, t] : txns_) t->cv.notify_all();
}

bool Engine::Fault(const char* name) {
  Status s = TXC_FAULT(name);
  if (s.ok()) return true;
  FailStop(Status(s.code(), std::string("fault point ") + name + ": " + s.message()));
  return false;
}

Status Engine::CheckReadyLocked() const {
  if (stopping_) return Unavailable("coordinator is shutting down");
  if (!halted_.ok()) return Unavailable("coordinator stopped: " + halted_.ToString());
  if (!replay_done_) return Unavailable("coordinator is recovering");
  return Status::Ok();
}

void Engine::After(std::chrono::milliseconds delay, std::function<void()> fn) {
  if (stopping_) return;
  boost::asio::post(io_, [this, delay, f = std::move(fn)]() mutable {
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, delay);
    timer->async_wait([timer, g = std::move(f)](const boost::system::error_code& ec) {
      if (!ec) g();
    });
  });
}

Result<Engine::TxnPtr> Engine::FindLocked(const std::string& gid) const {
  auto it = txns_.find(gid);
  if (it == txns_.end()) return NotFound("no transaction " + gid);
  return it->second;
}

internal::ParticipantChannel* Engine::ChannelFor(const std::string& name) {
  auto it = channels_.find(name);
  return it == channels_.end() ? nullptr : it->second.get();
}

std::string Engine::NewGidLocked() {
  for (;;) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "g-%016llx%08llx",
                  static_cast<unsigned long long>(random_.Next()),
                  static_cast<unsigned long long>(random_.Next() & 0xffffffffull));
    if (txns_.count(buf) == 0) return buf;
  }
}

void Engine::NoteLocked(Txn& t, const Record& rec) {
  std::string_view end_state;
  if (rec.has_end()) end_state = t.state == TxnState::kCommitting ? "committed" : "aborted";
  internal::AppendTimeline(t.timeline, internal::TimelineOf(rec, end_state));
}

void Engine::CountCall(const std::string& participant, const std::string& what) {
  std::lock_guard<std::mutex> lock(calls_mu_);
  ++branch_calls_[participant][what];
}

bool Engine::ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return CheckReadyLocked().ok() && log_->health().ok();
}

Status Engine::health() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!halted_.ok()) return halted_;
  return log_->health();
}

}  // namespace txcoord::coordinator
