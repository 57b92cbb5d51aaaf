// Recovery resume, periodic work (open-transaction timeouts, idempotency expiry, orphan scan,
// checkpoints).
#include <algorithm>
#include <boost/asio/post.hpp>
#include <set>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "engine.h"
#include "txcoord/core/log.h"

namespace txcoord::coordinator {

using internal::v1::Decision;

namespace {

// A 2PC transaction's branches, from its BEGIN and its registrations, each in `state`.
void AddBranches(const internal::ReplayTxn& rt, BranchState state, Txn& txn) {
  auto add = [&](const internal::v1::Branch& p) {
    Branch br;
    br.participant = p.participant();
    br.action = p.action();
    br.branch = p.branch();
    for (const auto& [k, v] : p.payload()) br.payload.emplace(k, v);
    br.state = state;
    txn.branches.push_back(std::move(br));
  };
  for (const auto& p : rt.begin.branches()) add(p);
  for (const auto& p : rt.registered) add(p);
}

}  // namespace

void Engine::Resume(internal::ReplayTables& tables) {
  std::vector<std::pair<TxnPtr, std::string>> to_abort;
  std::vector<std::pair<TxnPtr, Phase2Op>> to_finish;
  std::vector<TxnPtr> sagas;
  std::vector<TxnPtr> to_settle;  // a heuristic DECISION without its END
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, r] : tables.idem) {
      idem_[key] = IdemRecord{r.request_hash(), r.gid(), internal::FromUnixMs(r.created_unix_ms()),
                              r.final_state()};
      idem_order_.emplace_back(idem_[key].created, key);
    }
    std::sort(idem_order_.begin(), idem_order_.end());
    const Clock::WallTime now = clock_.WallNow();
    // Sized once: no rehashing (nor vector growth) through 100k recovered transactions.
    txns_.reserve(txns_.size() + tables.live.size() + tables.finished.size());
    live_.reserve(live_.size() + tables.live.size());
    while (!tables.live.empty()) {
      // Taken out one at a time: each replayed transaction is freed as its engine copy is made,
      // so the two do not interleave in the heap (RSS per in-flight transaction).
      auto node = tables.live.extract(tables.live.begin());
      const std::string& gid = node.key();
      internal::ReplayTxn& rt = node.mapped();
      auto txn = std::make_shared<Txn>();
      const internal::v1::Begin& b = rt.begin;
      txn->gid = gid;
      txn->open = b.open();
      txn->created = txn->updated = internal::FromUnixMs(b.created_unix_ms());
      txn->started = clock_.Now();
      txn->timeout = std::chrono::milliseconds(b.timeout_ms());
      txn->idem_key = b.idempotency_key();
      txn->request_hash = b.request_hash();
      txn->timeline = std::move(rt.timeline);
      const Decision& d = rt.decision;
      const bool commit = d.outcome() == Decision::COMMIT;
      if (d.heuristic() || !d.operator_id().empty()) {
        txn->heuristic = d.heuristic();
        txn->heuristic_mixed = d.heuristic_mixed();
        txn->operator_id = d.operator_id();
        txn->operator_reason = d.reason();
      }
      if (b.mode() == "saga") {
        SagaResumeLocked(rt, *txn);
        if (d.heuristic()) {
          txn->state = commit ? TxnState::kRunning : TxnState::kCompensating;
          txn->reason =
              OperatorReason(commit, true, d.heuristic_mixed(), d.operator_id(), d.reason());
          txn->end_started = true;
          to_settle.push_back(txn);
        } else {
          sagas.push_back(txn);
        }
        txns_[gid] = txn;
        ++in_flight_;
        AddLiveLocked(*txn);
        continue;
      }
      AddBranches(rt, BranchState::kPrepared, *txn);  // as far as recovery can tell
      txn->state = TxnState::kPreparing;
      switch (rt.decision.outcome()) {
        case Decision::COMMIT:
        case Decision::ABORT:
          txn->state = commit ? TxnState::kCommitting : TxnState::kAborting;
          txn->reason = d.reason();
          if (d.heuristic() || !d.operator_id().empty()) {
            txn->reason = OperatorReason(commit, d.heuristic(), d.heuristic_mixed(),
                                         d.operator_id(), d.reason());
          }
          if (d.heuristic()) {
            // Settled again: which branches acknowledged is not in the log, so each gets one
            // more best-effort call (idempotent) before the END.
            for (Branch& br : txn->branches) {
              br.state = commit ? BranchState::kCommitting : BranchState::kAborting;
            }
            txn->end_started = true;
            to_settle.push_back(txn);
          } else {
            to_finish.emplace_back(txn, commit ? Phase2Op::kCommit : Phase2Op::kAbort);
          }
          break;
        default:
          if (txn->open && now < txn->created + txn->timeout) {
            txn->state = TxnState::kActive;
            open_active_.push_back(txn);
          } else {
            to_abort.emplace_back(txn, txn->open ? "open transaction timed out"
                                                 : "recovered without a decision (presumed abort)");
          }
      }
      txns_[gid] = txn;
      ++in_flight_;
      AddLiveLocked(*txn);
    }
    for (const std::string& gid : tables.finished_order) {  // oldest first, as finished_
      RestoreFinishedLocked(tables.finished.at(gid));
    }
    // The byte rule goes on where it was (CheckpointDue): a restart does not make the first
    // checkpoint due early.
    records_since_checkpoint_ = tables.records_after_checkpoint;
    bytes_since_checkpoint_ = tables.bytes_after_checkpoint;
    last_checkpoint_bytes_ = tables.checkpoint_bytes;
    replay_done_ = true;
  }
  for (const TxnPtr& txn : to_settle) {
    boost::asio::post(pool_, [this, txn] {
      if (!Stopped()) SettleHeuristic(txn);
    });
  }
  // Finishing the recovered transactions is background work, in slices on the timer thread:
  // readiness and new transactions do not wait for (say) 100k phase-2 dispatches.
  auto work = std::make_shared<ResumeWork>();
  for (auto& [txn, why] : to_abort) {
    work->steps.push_back([this, txn, why] { DecideAbort(txn, why); });
  }
  for (auto& [txn, op] : to_finish) {
    work->steps.push_back([this, txn, op] { StartPhase2(txn, op); });
  }
  for (const TxnPtr& txn : sagas) work->steps.push_back([this, txn] { SagaAdvance(txn); });
  ResumeSlice(std::move(work));
  StartTimers();
}

void Engine::ResumeSlice(std::shared_ptr<ResumeWork> work) {
  if (work->next == work->steps.size()) {
    work->steps = {};
#if defined(__GLIBC__)
    ::malloc_trim(0);  // give the replay's freed memory back to the OS
#endif
    return;
  }
  boost::asio::post(io_, [this, work = std::move(work)]() mutable {
    if (Stopped()) return;
    const std::size_t end = std::min(work->steps.size(), work->next + 256);
    for (; work->next < end; ++work->next) {
      work->steps[work->next]();
      work->steps[work->next] = nullptr;
    }
    ResumeSlice(std::move(work));
  });
}

void Engine::Every(std::chrono::milliseconds interval, std::function<void()> fn) {
  After(interval, [this, interval, f = std::move(fn)]() mutable {
    boost::asio::post(pool_, [this, interval, g = std::move(f)]() mutable {
      if (Stopped()) return;
      g();
      Every(interval, std::move(g));
    });
  });
}

void Engine::StartTimers() {
  if (cfg_.tick.count() > 0) Every(cfg_.tick, [this] { Tick(); });
  if (cfg_.orphan_scan_interval.count() > 0) {
    Every(cfg_.orphan_scan_interval, [this] { RunOrphanScan().IgnoreError(); });
  }
  if (cfg_.checkpoint_interval.count() > 0) {
    Every(cfg_.checkpoint_interval, [this] {
      if (records_since_checkpoint_.load() > 0) CheckpointNow().IgnoreError();  // else no news
    });
  }
}

void Engine::Tick() {
  std::vector<TxnPtr> expired;
  std::vector<std::pair<TxnPtr, std::string>> prepare_timeouts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const Clock::WallTime now = clock_.WallNow();
    std::erase_if(open_active_, [&](const TxnPtr& t) {
      if (t->state != TxnState::kActive) return true;
      if (now < t->created + t->timeout) return false;
      expired.push_back(t);
      return true;
    });
    // Their Submit thread is inside a prepare call: decide for it, as its Decide would have.
    const auto real_now = std::chrono::steady_clock::now();
    for (const TxnPtr& t : inline_prepares_) {
      if (t->state != TxnState::kPreparing || real_now < t->prepare_deadline) continue;
      NotePrepareTimeoutLocked(*t);
      prepare_timeouts.emplace_back(t, t->fail_reason);
    }
    TrimIdempotencyLocked();
  }
  for (const TxnPtr& t : expired) {
    DecideAbort(t,
                "open transaction timed out after " + std::to_string(t->timeout.count()) + " ms");
  }
  for (const auto& [t, why] : prepare_timeouts) DecideAbort(t, why);
}

void Engine::TrimIdempotencyLocked() {
  const Clock::WallTime cutoff = clock_.WallNow() - cfg_.idempotency_horizon;
  // Each entry is looked at once per call: a live one goes to the back for a later call.
  for (std::size_t n = idem_order_.size(); n > 0 && !idem_order_.empty(); --n) {
    const bool over_cap = idem_.size() > cfg_.max_idempotency_keys;
    if (idem_order_.front().first > cutoff && !over_cap) break;
    auto [created, key] = std::move(idem_order_.front());
    idem_order_.pop_front();
    auto it = idem_.find(key);
    if (it == idem_.end() || it->second.created != created) continue;  // replaced or gone
    auto t = txns_.find(it->second.gid);
    if (t != txns_.end() && !IsFinal(t->second->state)) {
      idem_order_.emplace_back(created, std::move(key));
      continue;
    }
    idem_.erase(it);
    if (created <= cutoff) continue;
    // Evicted before its horizon: the first time and every 100,000th, say how far back keys
    // are still remembered.
    if (metrics_.idempotency_evicted++ % 100'000 == 0) {
      const auto window = std::chrono::duration_cast<std::chrono::seconds>(
          clock_.WallNow() - (idem_order_.empty() ? created : idem_order_.front().first));
      log::Warn("idempotency keys evicted before their horizon (max_idempotency_keys)",
                {{"max_idempotency_keys", std::to_string(cfg_.max_idempotency_keys)},
                 {"evicted", std::to_string(metrics_.idempotency_evicted)},
                 {"window_seconds", std::to_string(window.count())}});
    }
  }
}

namespace {

namespace io = google::protobuf::io;
using internal::v1::Checkpoint;

// Checkpoint entries are appended to the body one by one: the wire format concatenates, so no
// message object holds every entry. `m` as one entry of the repeated message field `field`.
void WriteHeader(io::CodedOutputStream& out, int field, std::size_t bytes) {
  out.WriteVarint32((static_cast<std::uint32_t>(field) << 3) | 2);  // length-delimited
  out.WriteVarint32(static_cast<std::uint32_t>(bytes));
}
void WriteEntry(io::CodedOutputStream& out, int field, const google::protobuf::MessageLite& m) {
  WriteHeader(out, field, m.ByteSizeLong());
  m.SerializeWithCachedSizes(&out);
}
// `s` as one entry of the repeated string field `field`.
void WriteEntry(io::CodedOutputStream& out, int field, const std::string& s) {
  WriteHeader(out, field, s.size());
  out.WriteString(s);
}

// Appends records to `body` as Checkpoint.idempotency entries. `next` yields (key, record)
// pairs until it returns false.
template <typename Next>
void EncodeIdempotency(std::string& body, Next next) {
  io::StringOutputStream raw(&body);  // appends
  io::CodedOutputStream out(&raw);
  internal::v1::IdempotencyRecord p;  // reused: its strings keep their capacity
  const std::string* key = nullptr;
  const IdemRecord* r = nullptr;
  while (next(key, r)) {
    p.set_key(*key);
    p.set_request_hash(r->hash);
    p.set_gid(r->gid);
    p.set_created_unix_ms(internal::ToUnixMs(r->created));
    p.set_final_state(r->final_state);
    WriteEntry(out, Checkpoint::kIdempotencyFieldNumber, p);
  }
}

}  // namespace

bool Engine::SerializeLiveInSlices(std::string& body) {
  constexpr std::size_t kSlice = 256;            // transactions per hold of mu_
  std::vector<internal::v1::TxnSnapshot> slice;  // grows to one slice, reused
  std::size_t limit = 0;  // live_'s size at the start: the ones added since are touched
  for (std::size_t next = 0, n = 0;; n = 0) {
    bool more = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next == 0) {
        txn_tracking_ = true;
        limit = live_.size();
      }
      // A transaction that left live_ since the last slice moved the last one into its slot:
      // both are touched, so a slot passed over or seen twice is written again at the cut.
      const std::size_t end = std::min({limit, live_.size(), next + kSlice});
      for (; next < end; ++next, ++n) {
        if (n == slice.size()) slice.emplace_back();
        slice[n].Clear();
        LiveSnapshotLocked(*live_[next], slice[n]);
      }
      more = next < std::min(limit, live_.size());
    }
    io::StringOutputStream raw(&body);
    io::CodedOutputStream out(&raw);
    for (std::size_t i = 0; i < n; ++i) {
      WriteEntry(out, Checkpoint::kTransactionsFieldNumber, slice[i]);
    }
    if (!more) return true;
    if (!Fault("coordinator.checkpoint.between_slices")) return false;
  }
}

void Engine::AppendChangedLiveLocked(std::string& body) {
  std::sort(txn_dirty_.begin(), txn_dirty_.end());
  txn_dirty_.erase(std::unique(txn_dirty_.begin(), txn_dirty_.end()), txn_dirty_.end());
  {
    io::StringOutputStream raw(&body);
    io::CodedOutputStream out(&raw);
    internal::v1::TxnSnapshot s;
    for (const std::string& gid : txn_dirty_) {
      auto it = txns_.find(gid);
      if (it != txns_.end() && it->second->live_slot != Txn::kNotLive) {
        s.Clear();
        LiveSnapshotLocked(*it->second, s);
        WriteEntry(out, Checkpoint::kTransactionsFieldNumber, s);
      } else {
        WriteEntry(out, Checkpoint::kEndedFieldNumber, gid);
      }
    }
  }
  txn_dirty_.clear();
  txn_tracking_ = false;
}

void Engine::TouchLiveLocked(const std::string& gid) {
  if (txn_tracking_) txn_dirty_.push_back(gid);
}

void Engine::StopTrackingLocked() {
  txn_tracking_ = false;
  txn_dirty_.clear();
  idem_tracking_ = false;
  idem_dirty_.clear();
}

// Both slice loops copy a slice under mu_ and encode it after releasing it: a loop that only
// released mu_ to take it again at once would starve the threads waiting for it (the mutex is
// not fair), stalling every transaction for the whole pass.
std::string Engine::SerializeIdempotencyInSlices() {
  constexpr std::size_t kSlice = 4096;  // records per hold of mu_
  std::string body;
  std::vector<std::pair<std::string, IdemRecord>> slice;
  slice.reserve(kSlice);
  for (bool more = true; more;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = slice.empty() ? idem_.begin() : idem_.upper_bound(slice.back().first);
      slice.clear();
      for (; it != idem_.end() && slice.size() < kSlice; ++it) slice.emplace_back(*it);
      more = it != idem_.end();
    }
    auto at = slice.begin();
    EncodeIdempotency(body, [&](const std::string*& key, const IdemRecord*& r) {
      if (at == slice.end()) return false;
      key = &at->first;
      r = &at->second;
      ++at;
      return true;
    });
  }
  return body;
}

void Engine::AppendChangedIdempotencyLocked(std::string& body) {
  auto dirty = idem_dirty_.begin();
  EncodeIdempotency(body, [&](const std::string*& key, const IdemRecord*& r) {
    for (; dirty != idem_dirty_.end(); ++dirty) {
      auto it = idem_.find(*dirty);
      if (it == idem_.end()) continue;  // expired or evicted since
      key = &it->first;
      r = &it->second;
      ++dirty;
      return true;
    }
    return false;
  });
  idem_dirty_.clear();
  idem_tracking_ = false;
}

void Engine::TouchIdempotencyLocked(const std::string& key) {
  if (idem_tracking_) idem_dirty_.push_back(key);
}

void Engine::LiveSnapshotLocked(const Txn& t, internal::v1::TxnSnapshot& s) const {
  *s.mutable_begin() = BeginOf(t);
  for (const auto& line : t.timeline) *s.add_timeline() = line;
  if (t.saga) {
    SagaSnapshotLocked(t, s);
  } else {
    if (t.open) {
      for (const Branch& b : t.branches) {
        *s.add_registered() =
            internal::ToProto(BranchRequest{b.participant, b.action, b.payload, b.branch});
      }
    }
    if (t.state == TxnState::kCommitting || t.state == TxnState::kAborting) {
      Decision* d = s.mutable_decision();
      d->set_gid(t.gid);
      d->set_outcome(t.state == TxnState::kCommitting ? Decision::COMMIT : Decision::ABORT);
      d->set_reason(t.reason);
    }
  }
  if (t.heuristic || !t.operator_id.empty()) {
    Decision* d = s.mutable_decision();
    if (d->outcome() == Decision::OUTCOME_UNSPECIFIED) {  // a saga settling a heuristic commit
      d->set_gid(t.gid);
      d->set_outcome(t.state == TxnState::kCompensating ? Decision::ABORT : Decision::COMMIT);
    }
    OperatorFieldsOf(t, *d);
  }
  // A decision appended before this checkpoint's cut but not durable yet (nor published): the
  // snapshot follows it in the log, so it must carry it, as written.
  if (t.pending_decision) *s.mutable_decision() = *t.pending_decision;
}

std::uint64_t Engine::SerializeFinishedInSlices(std::string& body) {
  constexpr std::size_t kSlice = 256;            // transactions per hold of mu_
  std::vector<internal::v1::TxnSnapshot> slice;  // grows to one slice, reused
  std::uint64_t next = 0, limit = 0;             // numbers in finished_total_'s count
  for (bool first = true;; first = false) {
    std::size_t n = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const std::uint64_t front = finished_total_ - finished_.size();
      if (first) limit = finished_total_;
      next = std::max(next, front);  // the ones evicted meanwhile are gone
      for (; next < limit && n < kSlice; ++next) {
        auto it = txns_.find(finished_[next - front]);
        if (it == txns_.end()) continue;
        if (n == slice.size()) slice.emplace_back();
        slice[n].Clear();
        FinishedSnapshotLocked(*it->second, slice[n++]);
      }
    }
    io::StringOutputStream raw(&body);
    io::CodedOutputStream out(&raw);
    for (std::size_t i = 0; i < n; ++i) {
      WriteEntry(out, Checkpoint::kFinishedFieldNumber, slice[i]);
    }
    if (next >= limit) return limit;
  }
}

void Engine::AppendFinishedSinceLocked(std::string& body, std::uint64_t from) {
  io::StringOutputStream raw(&body);
  io::CodedOutputStream out(&raw);
  internal::v1::TxnSnapshot s;
  const std::uint64_t front = finished_total_ - finished_.size();
  for (std::uint64_t i = std::max(from, front); i < finished_total_; ++i) {
    auto it = txns_.find(finished_[i - front]);
    if (it == txns_.end()) continue;
    s.Clear();
    FinishedSnapshotLocked(*it->second, s);
    WriteEntry(out, Checkpoint::kFinishedFieldNumber, s);
  }
}

void Engine::FinishedSnapshotLocked(const Txn& t, internal::v1::TxnSnapshot& s) const {
  *s.mutable_begin() = BeginOf(t);
  if (t.saga) {
    SagaSnapshotLocked(t, s);  // the steps' states; no decision (t is final)
  } else if (t.open) {
    for (const Branch& b : t.branches) {
      *s.add_registered() =
          internal::ToProto(BranchRequest{b.participant, b.action, b.payload, b.branch});
    }
  }
  Decision* d = s.mutable_decision();
  d->set_gid(t.gid);
  d->set_outcome(t.state == TxnState::kCommitted ? Decision::COMMIT : Decision::ABORT);
  d->set_reason(t.reason);
  OperatorFieldsOf(t, *d);  // an operator's decision: its own reason, Txn::reason derived
  internal::v1::End* e = s.mutable_end();
  e->set_gid(t.gid);
  e->set_at_unix_ms(internal::ToUnixMs(t.updated));
  e->set_heuristic(t.heuristic);
  e->set_final_state(std::string(TxnStateName(t.state)));
  for (const Branch& b : t.branches) {
    if (b.state == BranchState::kHeuristic) e->add_heuristic_branches(b.branch);
  }
  for (const auto& line : t.timeline) *s.add_timeline() = line;
}

void Engine::RestoreFinishedLocked(const internal::ReplayTxn& rt) {
  const internal::v1::Begin& b = rt.begin;
  if (txns_.count(b.gid()) != 0) return;  // a later transaction with the gid is live
  auto txn = std::make_shared<Txn>();
  txn->gid = b.gid();
  txn->open = b.open();
  txn->created = internal::FromUnixMs(b.created_unix_ms());
  txn->updated = internal::FromUnixMs(rt.end.at_unix_ms());
  txn->timeout = std::chrono::milliseconds(b.timeout_ms());
  txn->idem_key = b.idempotency_key();
  txn->request_hash = b.request_hash();
  const bool commit = rt.end.final_state() == "committed";
  const Decision& d = rt.decision;
  if (b.mode() == "saga") {
    SagaStepsOf(rt, *txn);        // the steps as their records (or summaries) left them
    if (rt.saga_steps.empty()) {  // an older version's heuristic entry: no step states
      for (Branch& br : txn->branches) {
        br.state = commit ? BranchState::kDone : BranchState::kCompensated;
      }
    }
  } else {
    AddBranches(rt, commit ? BranchState::kCommitted : BranchState::kAborted, *txn);
  }
  txn->state = commit      ? TxnState::kCommitted
               : txn->saga ? TxnState::kCompensated
                           : TxnState::kAborted;
  txn->reason = d.reason();
  if (d.heuristic() || !d.operator_id().empty()) {
    txn->heuristic = d.heuristic();
    txn->heuristic_mixed = d.heuristic_mixed();
    txn->operator_id = d.operator_id();
    txn->operator_reason = d.reason();
    txn->reason =
        OperatorReason(commit, d.heuristic(), d.heuristic_mixed(), d.operator_id(), d.reason());
  }
  txn->end_started = true;
  // As far as the END tells: the branches it lists were settled by the operator unacknowledged.
  for (const std::string& settled : rt.end.heuristic_branches()) {
    for (Branch& br : txn->branches) {
      if (br.branch != settled) continue;
      br.state = BranchState::kHeuristic;
      br.last_error = "not acknowledged, settled by the operator";
    }
  }
  txn->timeline = rt.timeline;
  txns_[txn->gid] = txn;
  KeepFinishedLocked(txn->gid);
}

Status Engine::CheckpointNow() {
  std::lock_guard<std::mutex> one_at_a_time(checkpoint_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    TXC_RETURN_IF_ERROR(CheckReadyLocked());
    TrimIdempotencyLocked();
    idem_tracking_ = true;
  }
  // The live transactions, the idempotency records (up to max_idempotency_keys) and the kept
  // finished transactions (up to max_finished_kept) are serialized before the gate, a slice at
  // a time, while transactions go on; the ones touched meanwhile are written again, current,
  // under the gate (replay keeps the last entry of a gid or key; Checkpoint.ended drops a gid
  // that ended meanwhile), and so are the ones that finished meanwhile. The gate is held for
  // what changed, not for everything held.
  std::string body = SerializeIdempotencyInSlices();
  const bool serialized = SerializeLiveInSlices(body);
  const std::uint64_t finished_to = SerializeFinishedInSlices(body);
  body.reserve(body.size() + body.size() / 8 + (64u << 10));  // what the cut adds, not a copy
  if (!serialized || !Fault("coordinator.checkpoint.before_gate")) {
    std::lock_guard<std::mutex> lock(mu_);
    StopTrackingLocked();
    return Unavailable("coordinator stopped at a fault point before a checkpoint");
  }
  std::unique_lock<std::shared_mutex> gate(wal_gate_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    AppendChangedIdempotencyLocked(body);
    AppendChangedLiveLocked(body);
    // In this order: an AfterDurable that finds the request cleared finds the count reset.
    records_since_checkpoint_ = 0;
    bytes_since_checkpoint_ = 0;
    checkpoint_pending_ = false;
    AppendFinishedSinceLocked(body, finished_to);
    TXC_RETURN_IF_ERROR(CheckReadyLocked());
    internal::v1::Checkpoint c;
    c.set_at_unix_ms(internal::ToUnixMs(clock_.WallNow()));
    body += internal::Serialize(c);  // fields may come in any order
    last_checkpoint_bytes_ = body.size();
  }
  // Appends may go on once the WAL fixed the cut: they get later LSNs and are replayed after
  // the snapshot. The gate is not held through the checkpoint file's fsyncs.
  const std::size_t bytes = body.size();
  Status s = log_->CheckpointWithCut(std::move(body), [&gate] { gate.unlock(); });
  if (s.code() == Code::kInvalidArgument) {
    // Refused before the cut (larger than a WAL record may be): nothing was written or dropped;
    // the log keeps its segments and the engine goes on. Not a storage failure.
    log::Warn("checkpoint skipped: the snapshot is too large for the WAL",
              {{"bytes", std::to_string(bytes)}, {"error", s.ToString()}});
    return s;
  }
  if (!s.ok()) FailStop(s);
  return s;
}

Status Engine::RunOrphanScan() {
  using Key = std::pair<std::string, participant::BranchId>;
  std::set<Key> seen;
  std::vector<Key> to_abort, to_commit;
  Status first_error;
  for (const auto& [name, p] : parts_) {
    if (Stopped()) return Unavailable("coordinator stopped");
    Result<std::vector<participant::InDoubtBranch>> r =
        CallParticipant([&] { return p->InDoubt(cfg_.coordinator_id); });
    if (!r.ok()) {
      if (first_error.ok()) first_error = r.status().Annotate("in-doubt scan of " + name);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (const participant::InDoubtBranch& ib : *r) {
      if (ib.id.coordinator != cfg_.coordinator_id) continue;
      Key key{name, ib.id};
      auto t = txns_.find(ib.id.gid);
      if (t != txns_.end() && t->second->state == TxnState::kCommitted) {
        to_commit.push_back(key);  // committed is never aborted
        continue;
      }
      if (t != txns_.end() && t->second->state != TxnState::kAborted) continue;  // in progress
      seen.insert(key);
      auto s = orphan_seen_.find(key);
      if (s == orphan_seen_.end()) {
        orphan_seen_.emplace(key, clock_.Now());
      } else if (clock_.Now() - s->second >= cfg_.orphan_min_age) {
        to_abort.push_back(key);
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = orphan_seen_.begin(); it != orphan_seen_.end();) {
      it = seen.count(it->first) ? std::next(it) : orphan_seen_.erase(it);
    }
  }
  for (const Key& k : to_commit) {
    Status s = CallParticipant([&] { return parts_.at(k.first)->Commit(k.second); });
    CountCall(k.first, s.ok() ? "orphan.recommit.ok" : "orphan.recommit.error");
  }
  for (const Key& k : to_abort) {
    Status s = CallParticipant([&] { return parts_.at(k.first)->Abort(k.second); });
    CountCall(k.first, s.ok() ? "orphan.abort.ok" : "orphan.abort.error");
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      orphan_seen_.erase(k);
    } else if (first_error.ok()) {
      first_error = s.Annotate("orphan abort of " + participant::ToString(k.second));
    }
  }
  return first_error;
}

}  // namespace txcoord::coordinator
