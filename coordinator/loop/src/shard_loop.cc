// ShardLoop (shard_loop.h): the shard core's four ports on Asio, the WAL and a thread pool.
#include "txcoord/loop/shard_loop.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "txcoord/coordinator/twopc_codec.h"
#include "txcoord/core/log.h"
#include "txcoord/core/thread_name.h"

namespace txcoord::loop {

namespace asio = boost::asio;
using twopc::Ref;
using twopc::View;

namespace {

// A Status from a participant's phase-2 call as the machine counts it.
twopc::Ack AckOf(const Status& s) {
  if (s.ok()) return twopc::Ack::kOk;
  if (s.code() == Code::kConflict) return twopc::Ack::kConflict;
  if (s.code() == Code::kUnknownOutcome) return twopc::Ack::kUnknown;
  return twopc::Ack::kRetryable;
}

std::string Threw(const char* what) {
  return std::string("participant threw (contract violation): ") + what;
}

}  // namespace

// Every method runs on the loop thread except the constructor, the destructor, Replay and
// Start (before the loop runs) and the pool tasks, which only post back into the loop.
class ShardLoop::Impl final : public twopc::LogPort,
                              public twopc::ParticipantPort,
                              public twopc::TimerPort,
                              public twopc::AnswerPort {
 public:
  Impl(std::shared_ptr<wal::Log> log, Participants participants, Random& random,
       ShardLoopOptions options)
      : ioc_(std::make_shared<asio::io_context>(1)),
        work_(asio::make_work_guard(*ioc_)),
        log_(std::move(log)),
        participants_(std::move(participants)),
        random_(random),
        options_(std::move(options)),
        backoff_(options_.retry_backoff, random),
        pool_(std::max<std::size_t>(1, options_.participant_threads)),
        shard_(twopc::ShardPorts{this, this, this, this}, options_.max_finished_kept) {}

  ~Impl() override {
    Stop();
    pool_.stop();  // calls not started yet never start
    pool_.join();  // calls in flight finish; their replies go to a stopped loop
    timers_.clear();
    waiters_.clear();  // their futures: broken_promise
  }

  // --- LogPort ---
  void Append(const Ref& ref, twopc::Seq seq, const twopc::Record& record, bool forced) override {
    std::string bytes = coordinator::EncodeTwopcRecord(record, NowUnixMs());
    auto done = [ioc = ioc_, self = this, ref, seq](Result<wal::Lsn> r) {
      asio::post(*ioc, [self, ref, seq, st = r.status()] {
        if (st.ok()) return self->shard_.OnDurable(ref, seq);
        log::Error("WAL append failed: the shard halts",
                   {{"gid", ref.gid}, {"why", st.ToString()}});
        self->shard_.OnAppendFailed(ref, seq, st);
      });
    };
    if (forced) {
      log_->AppendAsync(std::move(bytes), std::move(done));
    } else {
      log_->AppendLazy(std::move(bytes), std::move(done));
    }
  }

  // --- ParticipantPort ---
  void Prepare(const Ref& ref, const twopc::BranchSpec& branch, twopc::Token token) override {
    participant::BranchCall call{
        {options_.coordinator_id, ref.gid, branch.branch},
        branch.action,
        participant::Payload(branch.payload.begin(), branch.payload.end())};
    auto p = Find(branch.participant);
    asio::post(pool_, [ioc = ioc_, self = this, ref, p, call = std::move(call), token] {
      twopc::PrepareReply reply{call.id.branch, twopc::Vote::kError, token, ""};
      if (!p) {
        reply.detail = "unknown participant";
      } else {
        try {
          Result<participant::PrepareResult> r = p->Prepare(call);
          if (r.ok()) {
            reply.vote = r->vote == participant::Vote::kYes ? twopc::Vote::kYes : twopc::Vote::kNo;
            reply.detail = r->reason;
          } else {
            reply.vote = r.status().code() == Code::kUnknownOutcome ? twopc::Vote::kUnknown
                                                                    : twopc::Vote::kError;
            reply.detail = r.status().ToString();
          }
        } catch (const std::exception& e) {
          reply.detail = Threw(e.what());
        } catch (...) {
          reply.detail = Threw("unknown exception");
        }
      }
      asio::post(
          *ioc, [self, ref, reply = std::move(reply)] { self->shard_.OnPrepareReply(ref, reply); });
    });
  }

  void Commit(const Ref& ref, const std::string& participant, const std::string& branch,
              twopc::Token token) override {
    Phase2(ref, participant, branch, token, true);
  }
  void Abort(const Ref& ref, const std::string& participant, const std::string& branch,
             twopc::Token token) override {
    Phase2(ref, participant, branch, token, false);
  }
  void Report(const std::string&, twopc::Health) override {}  // no breaker yet

  // --- TimerPort ---
  void Arm(const Ref& ref, twopc::TimerId id, twopc::TimerKind kind, std::uint32_t attempt,
           std::int64_t timeout_ms) override {
    std::chrono::milliseconds delay = options_.settle;
    if (kind == twopc::TimerKind::kPrepareDeadline) {
      delay = std::chrono::milliseconds(std::max<std::int64_t>(0, timeout_ms));
    } else if (kind == twopc::TimerKind::kRetry) {
      delay = backoff_.Delay(attempt);
    }
    TimerKey key{ref.gid, ref.incarnation, id};
    Armed& slot = timers_[key];  // re-arming an id replaces (and cancels) the old timer
    slot.seq = ++timer_seq_;
    slot.timer = std::make_unique<asio::steady_timer>(*ioc_, delay);
    slot.timer->async_wait([this, key, seq = slot.seq, ref](const boost::system::error_code& ec) {
      if (ec) return;
      auto it = timers_.find(key);
      if (it == timers_.end() || it->second.seq != seq) return;  // cancelled or re-armed
      timers_.erase(it);
      shard_.OnTimer(ref, std::get<2>(key));
    });
  }
  void Cancel(const Ref& ref, twopc::TimerId id) override {
    timers_.erase(TimerKey{ref.gid, ref.incarnation, id});  // ~steady_timer cancels the wait
  }

  // --- AnswerPort ---
  void Answer(twopc::Waiter waiter, const Result<View>& result) override {
    auto it = waiters_.find(waiter);
    if (it == waiters_.end()) return;
    it->second.set_value(result);
    waiters_.erase(it);
  }
  void Publish(const View& view) override {
    views_[view.gid] = view;
    if (views_.size() > 2 * options_.max_finished_kept + 1024) {
      std::erase_if(views_, [this](const auto& kv) { return !shard_.Get(kv.first).ok(); });
    }
  }
  void Rejected(const Ref& ref, const Status& why) override {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    log::Warn("2PC machine rejected an event", {{"gid", ref.gid}, {"why", why.ToString()}});
  }
  std::string NewIncarnation() override {
    static constexpr char kHex[] = "0123456789abcdef";
    std::uint64_t x = random_.Next();
    std::string s;
    for (int i = 0; i < 8; ++i, x >>= 4) s.push_back(kHex[x & 15]);
    return s;
  }

  // --- driving ---
  Status Replay(std::string_view body) {
    Result<twopc::Record> r = coordinator::DecodeTwopcRecord(body);
    if (!r.ok()) return r.status();
    shard_.Replay(*r);
    return Status::Ok();
  }

  void Start() {
    asio::post(*ioc_, [this] { shard_.Recovered(); });
    thread_ = std::thread([this] {
      NameThisThread("txc-shard");
      ioc_->run();
    });
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(stop_mu_);
    work_.reset();
    ioc_->stop();
    if (thread_.joinable()) thread_.join();
  }

  // Runs `fn(waiter)` on the loop; the future completes when the shard answers that waiter.
  ViewFuture Request(std::function<void(twopc::Waiter)> fn) {
    auto promise = std::make_shared<std::promise<Result<View>>>();
    ViewFuture f = promise->get_future();
    asio::post(*ioc_, [this, promise, fn = std::move(fn)] {
      const twopc::Waiter w = ++next_waiter_;
      waiters_.emplace(w, std::move(*promise));
      fn(w);
    });
    return f;
  }

  ViewFuture Get(std::string gid) {
    auto promise = std::make_shared<std::promise<Result<View>>>();
    ViewFuture f = promise->get_future();
    asio::post(*ioc_,
               [this, promise, gid = std::move(gid)] { promise->set_value(shard_.Get(gid)); });
    return f;
  }

  std::shared_ptr<participant::Participant> Find(const std::string& name) const {
    auto it = participants_.find(name);
    return it == participants_.end() ? nullptr : it->second;
  }

  twopc::Shard& shard() { return shard_; }
  const ShardLoopOptions& options() const { return options_; }
  std::uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  using TimerKey = std::tuple<std::string, std::uint64_t, twopc::TimerId>;
  struct Armed {
    std::uint64_t seq = 0;
    std::unique_ptr<asio::steady_timer> timer;
  };

  static std::int64_t NowUnixMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  void Phase2(const Ref& ref, const std::string& participant, const std::string& branch,
              twopc::Token token, bool commit) {
    participant::BranchId id{options_.coordinator_id, ref.gid, branch};
    auto p = Find(participant);
    asio::post(pool_, [ioc = ioc_, self = this, ref, p, id = std::move(id), token, commit] {
      twopc::Phase2Reply reply{id.branch, twopc::Ack::kConflict, token, "unknown participant"};
      if (p) {
        try {
          const Status s = commit ? p->Commit(id) : p->Abort(id);
          reply.ack = AckOf(s);
          reply.detail = s.ok() ? "" : s.ToString();
        } catch (const std::exception& e) {
          reply.ack = twopc::Ack::kUnknown;
          reply.detail = Threw(e.what());
        } catch (...) {
          reply.ack = twopc::Ack::kUnknown;
          reply.detail = Threw("unknown exception");
        }
      }
      asio::post(*ioc,
                 [self, ref, reply = std::move(reply)] { self->shard_.OnPhase2Reply(ref, reply); });
    });
  }

  // Shared with WAL and pool callbacks, so a late completion can still post (it never runs).
  std::shared_ptr<asio::io_context> ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::shared_ptr<wal::Log> log_;
  Participants participants_;
  Random& random_;
  ShardLoopOptions options_;
  Backoff backoff_;
  asio::thread_pool pool_;
  twopc::Shard shard_;
  std::thread thread_;
  std::mutex stop_mu_;  // Stop from two threads at once
  std::map<TimerKey, Armed> timers_;
  std::uint64_t timer_seq_ = 0;
  std::unordered_map<twopc::Waiter, std::promise<Result<View>>> waiters_;
  twopc::Waiter next_waiter_ = 0;
  std::unordered_map<std::string, View> views_;  // last published view per gid
  std::atomic<std::uint64_t> rejected_{0};
};

ShardLoop::ShardLoop(std::shared_ptr<wal::Log> log, Participants participants, Random& random,
                     ShardLoopOptions options)
    : impl_(std::make_unique<Impl>(std::move(log), std::move(participants), random,
                                   std::move(options))) {}

ShardLoop::~ShardLoop() = default;

Status ShardLoop::Replay(std::string_view body) {
  return impl_->Replay(body);
}

void ShardLoop::Start() {
  impl_->Start();
}

void ShardLoop::Stop() {
  impl_->Stop();
}

namespace {
ViewFuture Ready(Status s) {
  std::promise<Result<View>> p;
  p.set_value(Result<View>(std::move(s)));
  return p.get_future();
}
}  // namespace

ViewFuture ShardLoop::Begin(twopc::BeginRequest request) {
  for (const twopc::BranchSpec& b : request.branches) {
    auto p = impl_->Find(b.participant);
    if (!p) return Ready(InvalidArgument("unknown participant " + b.participant));
    if (request.open) continue;
    const Status v =
        p->Validate(b.action, participant::Payload(b.payload.begin(), b.payload.end()));
    if (!v.ok()) return Ready(v.Annotate(b.participant));
  }
  if (request.timeout_ms <= 0) request.timeout_ms = impl_->options().default_timeout_ms;
  Impl* impl = impl_.get();
  return impl_->Request(
      [impl, r = std::move(request)](twopc::Waiter w) { impl->shard().Begin(r, w); });
}

ViewFuture ShardLoop::Get(std::string gid) {
  return impl_->Get(std::move(gid));
}

ViewFuture ShardLoop::Commit(std::string gid) {
  Impl* impl = impl_.get();
  return impl_->Request(
      [impl, gid = std::move(gid)](twopc::Waiter w) { impl->shard().Commit(gid, w); });
}

ViewFuture ShardLoop::Abort(std::string gid, std::string reason) {
  Impl* impl = impl_.get();
  return impl_->Request([impl, gid = std::move(gid), reason = std::move(reason)](twopc::Waiter w) {
    impl->shard().Abort(gid, reason, w);
  });
}

ViewFuture ShardLoop::Retry(std::string gid) {
  Impl* impl = impl_.get();
  return impl_->Request(
      [impl, gid = std::move(gid)](twopc::Waiter w) { impl->shard().Retry(gid, w); });
}

ViewFuture ShardLoop::Register(std::string gid, std::string participant) {
  if (!impl_->Find(participant))
    return Ready(InvalidArgument("unknown participant " + participant));
  Impl* impl = impl_.get();
  return impl_->Request([impl, gid = std::move(gid), p = std::move(participant)](twopc::Waiter w) {
    impl->shard().Register(gid, p, w);
  });
}

ViewFuture ShardLoop::Resolve(std::string gid, twopc::OperatorResolve resolve) {
  Impl* impl = impl_.get();
  return impl_->Request([impl, gid = std::move(gid), r = std::move(resolve)](twopc::Waiter w) {
    twopc::OperatorResolve mine = r;
    mine.waiter = w;
    impl->shard().Resolve(gid, std::move(mine));
  });
}

std::uint64_t ShardLoop::rejected() const {
  return impl_->rejected();
}

}  // namespace txcoord::loop
