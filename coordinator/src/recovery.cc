#include "txcoord/coordinator/recovery.h"

#include "records.h"

namespace txcoord::coordinator {
namespace {

using internal::ReplayTables;
using internal::ReplayTxn;
namespace v1 = internal::v1;

void ApplyBeginIdempotency(ReplayTables& t, const v1::Begin& b) {
  if (!b.idempotency_key().empty() && t.idem.count(b.idempotency_key()) == 0) {
    v1::IdempotencyRecord r;
    r.set_key(b.idempotency_key());
    r.set_request_hash(b.request_hash());
    r.set_gid(b.gid());
    r.set_created_unix_ms(b.created_unix_ms());
    t.idem.emplace(r.key(), r);
    t.key_of_gid[b.gid()] = r.key();
  }
}

// Takes the record's fields (swapped out of `b`, which is left empty).
void ApplyBegin(ReplayTables& t, v1::Begin& b) {
  if (t.live.count(b.gid()) != 0) return;  // already known (snapshot + replay overlap)
  const std::string gid = b.gid();
  ReplayTxn& txn = t.live[gid];
  v1::Record rec;  // for the timeline line, without copying the branches
  rec.mutable_begin()->Swap(&b);
  internal::AppendTimeline(txn.timeline, internal::TimelineOf(rec));
  txn.begin.Swap(rec.mutable_begin());
  ApplyBeginIdempotency(t, txn.begin);
}

void ApplyRegister(ReplayTables& t, const v1::RegisterBranch& r) {
  auto it = t.live.find(r.gid());
  if (it == t.live.end()) return;
  for (const auto& b : it->second.registered) {
    if (b.branch() == r.branch().branch()) return;
  }
  it->second.registered.push_back(r.branch());
  v1::Record rec;
  *rec.mutable_register_branch() = r;
  internal::AppendTimeline(it->second.timeline, internal::TimelineOf(rec));
}

void ApplyDecision(ReplayTables& t, const v1::Decision& d) {
  auto it = t.live.find(d.gid());
  if (it == t.live.end()) return;
  // The first decision stands, except that an operator's heuristic decision replaces it
  // (docs/coordinator.md, "Operator decisions").
  if (it->second.decision.outcome() != v1::Decision::OUTCOME_UNSPECIFIED && !d.heuristic()) {
    return;
  }
  if (it->second.decision.heuristic()) return;
  it->second.decision = d;
  v1::Record rec;
  *rec.mutable_decision() = d;
  internal::AppendTimeline(it->second.timeline, internal::TimelineOf(rec));
}

void ApplySagaStep(ReplayTables& t, const v1::SagaStep& s) {
  auto it = t.live.find(s.gid());
  if (it == t.live.end()) return;
  it->second.saga_steps.push_back(s);
  v1::Record rec;
  *rec.mutable_saga_step() = s;
  internal::AppendTimeline(it->second.timeline, internal::TimelineOf(rec));
}

// Keeps an ENDed transaction, the newest t.max_finished (a gid kept again replaces its entry).
void KeepFinished(ReplayTables& t, ReplayTxn txn) {
  if (t.max_finished == 0) return;
  const std::string gid = txn.begin.gid();
  auto [at, fresh] = t.finished.try_emplace(gid);
  at->second = std::move(txn);
  if (fresh) t.finished_order.push_back(gid);
  while (t.finished_order.size() > t.max_finished) {
    t.finished.erase(t.finished_order.front());
    t.finished_order.pop_front();
  }
}

void ApplyEnd(ReplayTables& t, const v1::End& e) {
  auto it = t.live.find(e.gid());
  if (it == t.live.end()) return;
  const bool committed = it->second.decision.outcome() == v1::Decision::COMMIT;
  std::string final_state = e.final_state();
  if (final_state.empty()) final_state = committed ? "committed" : "aborted";
  if (auto k = t.key_of_gid.find(e.gid()); k != t.key_of_gid.end()) {
    // The key may have gone to a later transaction (evicted, then used again).
    if (auto r = t.idem.find(k->second); r != t.idem.end() && r->second.gid() == e.gid()) {
      r->second.set_final_state(final_state);
    }
  }
  ReplayTxn done = std::move(it->second);
  t.live.erase(it);
  done.end = e;
  done.end.set_final_state(final_state);
  v1::Record rec;
  *rec.mutable_end() = e;
  internal::AppendTimeline(done.timeline, internal::TimelineOf(rec, final_state));
  KeepFinished(t, std::move(done));
}

Status ApplyCheckpoint(ReplayTables& t, std::string_view body) {
  v1::Checkpoint c;
  if (!c.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return DataLoss("coordinator checkpoint does not parse");
  }
  const std::size_t max_finished = t.max_finished;
  t = ReplayTables{};
  t.max_finished = max_finished;
  t.checkpoint_bytes = body.size();
  // Swapped out of the parsed message, not copied: a checkpoint may hold 100k transactions.
  for (v1::TxnSnapshot& s : *c.mutable_transactions()) {
    auto [at, fresh] = t.live.try_emplace(s.begin().gid());
    ReplayTxn& txn = at->second;
    if (!fresh) txn = ReplayTxn{};  // a later entry of a gid replaces the earlier one
    txn.registered.reserve(static_cast<std::size_t>(s.registered_size()));
    for (v1::Branch& b : *s.mutable_registered()) txn.registered.emplace_back().Swap(&b);
    txn.decision.Swap(s.mutable_decision());
    txn.saga_steps.reserve(static_cast<std::size_t>(s.saga_steps_size()));
    for (v1::SagaStep& st : *s.mutable_saga_steps()) txn.saga_steps.emplace_back().Swap(&st);
    txn.timeline.reserve(static_cast<std::size_t>(s.timeline_size()));
    for (v1::TimelineEntry& e : *s.mutable_timeline()) txn.timeline.emplace_back().Swap(&e);
    if (txn.timeline.empty()) {  // a checkpoint written before timelines existed
      v1::Record rec;
      rec.mutable_begin()->Swap(s.mutable_begin());
      internal::AppendTimeline(txn.timeline, internal::TimelineOf(rec));
      s.mutable_begin()->Swap(rec.mutable_begin());
    }
    txn.begin.Swap(s.mutable_begin());
  }
  for (const std::string& gid : c.ended()) t.live.erase(gid);
  // Oldest first: an older version's heuristic ones, then the finished ones in their order.
  for (auto* list : {c.mutable_finished_heuristic(), c.mutable_finished()}) {
    for (v1::TxnSnapshot& s : *list) {
      ReplayTxn txn;
      txn.begin.Swap(s.mutable_begin());
      txn.registered.reserve(static_cast<std::size_t>(s.registered_size()));
      for (v1::Branch& b : *s.mutable_registered()) txn.registered.emplace_back().Swap(&b);
      txn.decision.Swap(s.mutable_decision());
      for (v1::SagaStep& st : *s.mutable_saga_steps()) txn.saga_steps.emplace_back().Swap(&st);
      txn.end.Swap(s.mutable_end());
      for (v1::TimelineEntry& e : *s.mutable_timeline()) txn.timeline.emplace_back().Swap(&e);
      KeepFinished(t, std::move(txn));
    }
  }
  for (v1::IdempotencyRecord& r : *c.mutable_idempotency()) {
    t.key_of_gid[r.gid()] = r.key();
    const std::string key = r.key();
    t.idem[key].Swap(&r);
  }
  return Status::Ok();
}

}  // namespace

RecoveredState::RecoveredState(std::size_t max_finished_kept)
    : tables_(std::make_unique<ReplayTables>()) {
  tables_->max_finished = max_finished_kept;
}
RecoveredState::~RecoveredState() = default;
RecoveredState::RecoveredState(RecoveredState&&) noexcept = default;
RecoveredState& RecoveredState::operator=(RecoveredState&&) noexcept = default;

wal::ReplayVisitor RecoveredState::Visitor() {
  return [this](const wal::ReplayedRecord& r) { return Apply(r); };
}

Status RecoveredState::Apply(const wal::ReplayedRecord& record) {
  ++records_seen_;
  ReplayTables& t = *tables_;
  if (record.kind == wal::RecordKind::kCheckpoint) return ApplyCheckpoint(t, record.body);
  v1::Record rec;
  if (!rec.ParseFromArray(record.body.data(), static_cast<int>(record.body.size()))) {
    return DataLoss("coordinator WAL record at lsn " + std::to_string(record.lsn) +
                    " does not parse");
  }
  ++t.records_after_checkpoint;
  t.bytes_after_checkpoint += record.body.size();
  switch (rec.kind_case()) {
    case v1::Record::kBegin:
      ApplyBegin(t, *rec.mutable_begin());
      break;
    case v1::Record::kRegisterBranch:
      ApplyRegister(t, rec.register_branch());
      break;
    case v1::Record::kDecision:
      ApplyDecision(t, rec.decision());
      break;
    case v1::Record::kEnd:
      ApplyEnd(t, rec.end());
      break;
    case v1::Record::kSagaStep:
      ApplySagaStep(t, rec.saga_step());
      break;
    case v1::Record::KIND_NOT_SET:
      return DataLoss("coordinator WAL record at lsn " + std::to_string(record.lsn) +
                      " has no kind (written by a newer version?)");
  }
  return Status::Ok();
}

std::size_t RecoveredState::live_transactions() const {
  return tables_->live.size();
}
std::size_t RecoveredState::idempotency_records() const {
  return tables_->idem.size();
}

}  // namespace txcoord::coordinator
