#pragma once
// Internal: a bounded pool of synchronous hiredis connections and error classification.
//
// Connections are made lazily (redisConnectWithTimeout + redisSetTimeout), at most `size` at a
// time; a caller beyond that waits up to `timeout` for one (then kResourceExhausted). A
// connection that fails is freed and replaced on next use, so the pool recovers by itself after
// a server restart. Thread-safety: every method is safe from any thread.
#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "txcoord/core/status.h"
#include "txcoord/redis/config.h"

namespace txcoord::redis::internal {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// What a failed call may have done, which decides the code of an I/O error after sending:
// kUnknownOutcome for a mutating call, kUnavailable/kTimeout for a read.
enum class Effect { kRead, kMutating };

class Pool {
 public:
  Pool(Endpoint endpoint, int size, std::chrono::milliseconds timeout);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Runs one command. Error replies come back as a Reply of type REDIS_REPLY_ERROR, except
  // the ones that mean "not run, retry" (LOADING, BUSY, ...: kUnavailable; OOM:
  // kResourceExhausted). A connection found broken when reused (the server restarted) is
  // replaced and the command sent once more — callers send idempotent commands only.
  // Connect failure → kUnavailable. Timeout or connection lost after sending → kUnknownOutcome
  // for kMutating; kTimeout / kUnavailable for kRead.
  // `before`: commands sent ahead of `argv` in the same pipeline (one write, so Redis runs them
  // in one event-loop pass and one AOF fsync covers them all); their replies are discarded,
  // error replies included, so they must be best-effort and idempotent (deferred EXPIREs).
  Result<Reply> Run(const std::vector<std::string>& argv, Effect effect,
                    const std::vector<std::vector<std::string>>& before = {});

  // Pipelines written by Run (each one write and one wait for the replies: a round trip),
  // a resend after a stale connection included; connecting (AUTH, SELECT) is not counted.
  std::uint64_t RoundTrips() const { return round_trips_.load(std::memory_order_relaxed); }

 private:
  struct Conn;
  Result<std::unique_ptr<Conn>> Acquire();
  void Release(std::unique_ptr<Conn> conn);  // null = the connection was dropped
  Result<std::unique_ptr<Conn>> Connect() const;
  void DropIdle();  // after one stale connection: its idle siblings are stale too

  const Endpoint endpoint_;
  const int size_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Conn>> idle_;
  int live_ = 0;  // idle + leased
  std::atomic<std::uint64_t> round_trips_{0};
};

}  // namespace txcoord::redis::internal
