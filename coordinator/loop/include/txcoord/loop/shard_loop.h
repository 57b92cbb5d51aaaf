#pragma once
// ShardLoop: one twopc::Shard on one boost::asio::io_context run by one thread, with real ports
// (docs/engine-v2.md, "The loops"):
//   log          wal::Log — forced records AppendAsync, lazy ones AppendLazy, bytes from
//                EncodeTwopcRecord; completions posted back to the loop
//   participants blocking participant::Participant calls on a bounded thread pool; replies
//                posted back (a throwing participant becomes an error reply)
//   timers       boost::asio::steady_timer; retry delays from txcoord::Backoff
//   answers      each request's std::future; published views kept per gid
// Thread-safety: the public request methods (Begin, Get, Register, Commit, Abort, Retry,
// Resolve) may be called
// from any thread once Start() was called; they post into the loop and return a future.
// Replay is called before Start() from the constructing thread only. Everything that touches
// the Shard runs on the loop thread. The destructor stops the loop (Stop; pending futures are
// broken: std::future_error), waits for participant calls in flight, and drops their replies.
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "txcoord/core/backoff.h"
#include "txcoord/core/random.h"
#include "txcoord/core/status.h"
#include "txcoord/participant/participant.h"
#include "txcoord/twopc/shard.h"
#include "txcoord/wal/log.h"

namespace txcoord::loop {

struct ShardLoopOptions {
  std::string coordinator_id = "txc";       // the BranchId::coordinator the stores see
  std::size_t participant_threads = 4;      // the bounded pool for blocking participant calls
  BackoffPolicy retry_backoff;              // phase-2 retries (TimerKind::kRetry)
  std::chrono::milliseconds settle{1'000};  // heuristic settle wait (TimerKind::kSettle)
  std::int64_t default_timeout_ms = 5'000;  // a Begin with timeout_ms 0 gets this
  std::size_t max_finished_kept = 10'000;   // finished transactions kept for Get
};

using Participants = std::map<std::string, std::shared_ptr<participant::Participant>>;
using ViewFuture = std::future<Result<twopc::View>>;

class ShardLoop {
 public:
  // `random` must outlive the loop (branch incarnations and retry jitter).
  ShardLoop(std::shared_ptr<wal::Log> log, Participants participants, Random& random,
            ShardLoopOptions options);
  ~ShardLoop();
  ShardLoop(const ShardLoop&) = delete;
  ShardLoop& operator=(const ShardLoop&) = delete;

  // Recovery, before Start(): one WAL record body (as replayed by wal::Log::Open), in log
  // order. InvalidArgument for a body that is not a 2PC record (the shard is not fed).
  Status Replay(std::string_view body);
  // Starts the loop thread; the shard's Recovered() is its first event. Call once.
  void Start();
  // Stops the loop and waits for its thread (any thread but the loop's; idempotent): no event
  // runs after it, as after a crash. Participant calls in flight finish at destruction, which
  // waits for them (a call blocked in a store blocks it); their replies are dropped.
  void Stop();

  // Requests (any thread, after Start). Begin: a one-shot transaction (request.open false)
  // answers with its outcome, an open one once BEGIN is durable. Unknown participants and
  // actions their Validate refuses answer InvalidArgument before anything is logged.
  ViewFuture Begin(twopc::BeginRequest request);
  ViewFuture Get(std::string gid);
  // Open transactions: a branch of `participant` (InvalidArgument if unknown), answered once its
  // REGISTER is durable.
  ViewFuture Register(std::string gid, std::string participant);
  ViewFuture Commit(std::string gid);
  ViewFuture Abort(std::string gid, std::string reason);
  ViewFuture Retry(std::string gid);
  // An operator's decision (resolve.waiter is ignored: the future is the waiter).
  ViewFuture Resolve(std::string gid, twopc::OperatorResolve resolve);

  // Counters (any thread).
  std::uint64_t rejected() const;  // events the machines refused (AnswerPort::Rejected)

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace txcoord::loop
