#include "pool.h"

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <cerrno>
#include <string_view>

namespace txcoord::redis::internal {

struct Pool::Conn {
  redisContext* ctx = nullptr;
  bool reused = false;  // has served a command before: may be stale after a server restart
  ~Conn() {
    if (ctx) redisFree(ctx);
  }
};

namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// hiredis 0.14 writes with write(2): a write to a connection the server reset raises SIGPIPE,
// which would kill the process. Blocks it on this thread for the call and swallows one raised
// meanwhile (libpq's approach), without touching the process-wide disposition.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe, &old_);
  }
  ~SigpipeGuard() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      const timespec zero{0, 0};
      sigtimedwait(&pipe, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

Reply Send(redisContext* ctx, const std::vector<std::string>& argv) {
  SigpipeGuard no_sigpipe;
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(argv.size()), ptrs.data(), lens.data())));
}

// Appends every command to the output buffer, writes them at once and reads the replies in
// order. Fewer replies than commands: the connection failed (ctx->err says why).
std::vector<Reply> SendAll(redisContext* ctx, const std::vector<std::vector<std::string>>& before,
                           const std::vector<std::string>& last) {
  std::vector<Reply> out;
  if (before.empty()) {
    if (Reply r = Send(ctx, last)) out.push_back(std::move(r));
    return out;
  }
  SigpipeGuard no_sigpipe;
  const auto append = [ctx](const std::vector<std::string>& argv) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const std::string& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    return redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), ptrs.data(), lens.data()) ==
           REDIS_OK;
  };
  for (const auto& cmd : before) {
    if (!append(cmd)) return out;
  }
  if (!append(last)) return out;
  for (size_t i = 0; i <= before.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx, &r) != REDIS_OK || r == nullptr) return out;
    out.emplace_back(static_cast<redisReply*>(r));
  }
  return out;
}

bool IsTimeout(const redisContext* ctx) {
  const std::string_view msg = ctx->errstr;
  return ctx->err == REDIS_ERR_IO &&
         (msg.find("temporarily unavailable") != std::string_view::npos ||
          msg.find("timed out") != std::string_view::npos);
}

// Error replies meaning the server did not run the command.
Status NotRun(const redisReply* r) {
  const std::string_view msg(r->str, r->len);
  for (std::string_view busy : {"LOADING", "BUSY", "MASTERDOWN", "READONLY", "MISCONF", "TRYAGAIN",
                                "CLUSTERDOWN", "NOREPLICAS"}) {
    if (msg.rfind(busy, 0) == 0) return Unavailable("redis: " + std::string(msg));
  }
  if (msg.rfind("OOM", 0) == 0) return ResourceExhausted("redis: " + std::string(msg));
  if (msg.rfind("MOVED", 0) == 0 || msg.rfind("ASK", 0) == 0) {
    return FailedPrecondition("redis: cluster redirection is not supported: " + std::string(msg));
  }
  if (msg.rfind("NOAUTH", 0) == 0 || msg.rfind("WRONGPASS", 0) == 0) {
    return Unauthenticated("redis: " + std::string(msg));
  }
  return Status::Ok();
}

}  // namespace

Pool::Pool(Endpoint endpoint, int size, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), size_(size), timeout_(timeout) {}

Pool::~Pool() = default;

Result<std::unique_ptr<Pool::Conn>> Pool::Connect() const {
  const std::string where = "redis " + endpoint_.host + ":" + std::to_string(endpoint_.port);
  auto conn = std::make_unique<Conn>();
  conn->ctx = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, ToTimeval(timeout_));
  if (!conn->ctx) return Unavailable(where + ": cannot allocate a connection");
  if (conn->ctx->err) return Unavailable(where + ": connect: " + conn->ctx->errstr);
  if (redisSetTimeout(conn->ctx, ToTimeval(timeout_)) != REDIS_OK) {
    return Unavailable(where + ": cannot set the timeout");
  }
  std::vector<std::vector<std::string>> setup;
  if (!endpoint_.password.empty()) setup.push_back({"AUTH", endpoint_.password});
  if (endpoint_.db != 0) setup.push_back({"SELECT", std::to_string(endpoint_.db)});
  for (const auto& cmd : setup) {
    Reply r = Send(conn->ctx, cmd);
    if (!r) return Unavailable(where + ": " + cmd[0] + ": " + conn->ctx->errstr);
    if (r->type == REDIS_REPLY_ERROR) {
      const std::string msg(r->str, r->len);
      if (cmd[0] == "AUTH") return Unauthenticated(where + ": AUTH: " + msg);
      return FailedPrecondition(where + ": SELECT: " + msg);
    }
  }
  return conn;
}

Result<std::unique_ptr<Pool::Conn>> Pool::Acquire() {
  {
    std::unique_lock lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (idle_.empty() && live_ >= size_) {
      if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
          live_ >= size_) {
        return ResourceExhausted("redis: all " + std::to_string(size_) +
                                 " pooled connections are busy");
      }
    }
    if (!idle_.empty()) {
      std::unique_ptr<Conn> c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    ++live_;  // reserve a slot; connect outside the lock
  }
  Result<std::unique_ptr<Conn>> c = Connect();
  if (!c.ok()) Release(nullptr);
  return c;
}

void Pool::Release(std::unique_ptr<Conn> conn) {
  {
    std::lock_guard lock(mu_);
    if (conn) {
      conn->reused = true;
      idle_.push_back(std::move(conn));
    } else {
      --live_;
    }
  }
  freed_.notify_one();
}

void Pool::DropIdle() {
  std::vector<std::unique_ptr<Conn>> dropped;
  {
    std::lock_guard lock(mu_);
    live_ -= static_cast<int>(idle_.size());
    dropped.swap(idle_);
  }
  freed_.notify_all();
}

Result<Reply> Pool::Run(const std::vector<std::string>& argv, Effect effect,
                        const std::vector<std::vector<std::string>>& before) {
  for (int attempt = 0;; ++attempt) {
    Result<std::unique_ptr<Conn>> acquired = Acquire();
    if (!acquired.ok()) {
      if (attempt > 0 && effect == Effect::kMutating) {
        return UnknownOutcome("redis " + argv[0] + ": connection lost, then " +
                              acquired.status().message() + " (the call may have run)");
      }
      return acquired.status();
    }
    std::unique_ptr<Conn> conn = std::move(acquired).value();
    round_trips_.fetch_add(1, std::memory_order_relaxed);
    std::vector<Reply> replies = SendAll(conn->ctx, before, argv);
    if (replies.size() == before.size() + 1) {
      Release(std::move(conn));
      Reply r = std::move(replies.back());
      if (r->type == REDIS_REPLY_ERROR) TXC_RETURN_IF_ERROR(NotRun(r.get()));
      return r;
    }
    const bool timeout = IsTimeout(conn->ctx);
    const std::string what = "redis " + argv[0] + ": " + conn->ctx->errstr;
    // Stale only when nothing at all came back: a reply proves the connection was alive.
    const bool stale = conn->reused && !timeout && attempt == 0 && replies.empty();
    Release(nullptr);
    if (stale) {  // the server probably restarted: once more, on a fresh connection
      DropIdle();
      continue;
    }
    if (effect == Effect::kMutating) return UnknownOutcome(what + " (the call may have run)");
    return timeout ? Timeout(what) : Unavailable(what);
  }
}

}  // namespace txcoord::redis::internal
