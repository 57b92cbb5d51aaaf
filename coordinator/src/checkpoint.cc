// Checkpoints: live transactions, kept finished ones and idempotency records serialized in
// slices (the engine mutex released between them), the changes since appended at the cut.
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

}  // namespace txcoord::coordinator
