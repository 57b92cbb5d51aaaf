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
  txn.begin.Swap(&b);
  ApplyBeginIdempotency(t, txn.begin);
}

void ApplyRegister(ReplayTables& t, const v1::RegisterBranch& r) {
  auto it = t.live.find(r.gid());
  if (it == t.live.end()) return;
  for (const auto& b : it->second.registered) {
    if (b.branch() == r.branch().branch()) return;
  }
  it->second.registered.push_back(r.branch());
}

void ApplyDecision(ReplayTables& t, const v1::Decision& d) {
  auto it = t.live.find(d.gid());
  if (it == t.live.end()) return;
  if (it->second.decision.outcome() != v1::Decision::OUTCOME_UNSPECIFIED) return;
  it->second.decision = d;
}

void ApplySagaStep(ReplayTables& t, const v1::SagaStep& s) {
  auto it = t.live.find(s.gid());
  if (it == t.live.end()) return;
  it->second.saga_steps.push_back(s);
}

void ApplyEnd(ReplayTables& t, const v1::End& e) {
  auto it = t.live.find(e.gid());
  if (it == t.live.end()) return;
  const bool committed = it->second.decision.outcome() == v1::Decision::COMMIT;
  std::string final_state = e.final_state();
  if (final_state.empty()) final_state = committed ? "committed" : "aborted";
  if (auto k = t.key_of_gid.find(e.gid()); k != t.key_of_gid.end()) {
    if (auto r = t.idem.find(k->second); r != t.idem.end()) {
      r->second.set_final_state(final_state);
    }
  }
  t.live.erase(it);
}

Status ApplyCheckpoint(ReplayTables& t, std::string_view body) {
  v1::Checkpoint c;
  if (!c.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return DataLoss("coordinator checkpoint does not parse");
  }
  t = ReplayTables{};
  // Swapped out of the parsed message, not copied: a checkpoint may hold 100k transactions.
  for (v1::TxnSnapshot& s : *c.mutable_transactions()) {
    ReplayTxn& txn = t.live[s.begin().gid()];
    txn.begin.Swap(s.mutable_begin());
    txn.registered.reserve(static_cast<std::size_t>(s.registered_size()));
    for (v1::Branch& b : *s.mutable_registered()) txn.registered.emplace_back().Swap(&b);
    txn.decision.Swap(s.mutable_decision());
    txn.saga_steps.reserve(static_cast<std::size_t>(s.saga_steps_size()));
    for (v1::SagaStep& st : *s.mutable_saga_steps()) txn.saga_steps.emplace_back().Swap(&st);
  }
  for (v1::IdempotencyRecord& r : *c.mutable_idempotency()) {
    t.key_of_gid[r.gid()] = r.key();
    const std::string key = r.key();
    t.idem[key].Swap(&r);
  }
  return Status::Ok();
}

}  // namespace

RecoveredState::RecoveredState() : tables_(std::make_unique<ReplayTables>()) {}
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
