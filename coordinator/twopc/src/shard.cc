// The shard core (shard.h): routes requests and completions to machines, runs their effects.
#include "txcoord/twopc/shard.h"

namespace txcoord::twopc {

Shard::Shard(ShardPorts ports, std::size_t max_finished_kept)
    : ports_(ports), max_finished_(max_finished_kept) {}

Shard::Entry* Shard::Find(const std::string& gid) {
  auto it = txns_.find(gid);
  return it == txns_.end() ? nullptr : &it->second;
}

Shard::Entry& Shard::Create(const std::string& gid) {
  Entry& e = txns_[gid];
  e.incarnation = next_incarnation_++;
  e.machine = std::make_unique<Machine>(gid);
  return e;
}

bool Shard::Refuse(Waiter waiter) {
  if (!halted_) return false;
  ports_.answers->Answer(waiter, Unavailable("the coordinator's log failed: fail-stop"));
  return true;
}

void Shard::Begin(const BeginRequest& r, Waiter waiter) {
  if (Refuse(waiter)) return;
  if (!r.idempotency_key.empty()) {
    auto k = key_to_gid_.find(r.idempotency_key);
    if (k != key_to_gid_.end()) {
      Entry* e = Find(k->second);
      if (e != nullptr && e->hash != r.request_hash) {
        return ports_.answers->Answer(waiter, Conflict("idempotency key reused with another "
                                                       "request"));
      }
      // The earlier request's view as it stands: a decision not yet durable is not in it.
      if (e != nullptr) return ports_.answers->Answer(waiter, e->machine->view());
    }
  }
  if (Find(r.gid) != nullptr) {
    return ports_.answers->Answer(waiter, Conflict("transaction " + r.gid + " already exists"));
  }
  BeginRecord b{r.gid, r.branches, r.timeout_ms, r.open, r.idempotency_key, r.request_hash};
  for (std::size_t i = 0; i < b.branches.size(); ++i) {  // incarnations belong to the engine
    b.branches[i].branch = "b" + std::to_string(i) + "." + ports_.answers->NewIncarnation();
  }
  Entry& e = Create(r.gid);
  e.key = r.idempotency_key;
  e.hash = r.request_hash;
  if (!e.key.empty()) key_to_gid_[e.key] = r.gid;
  Run(e, Start{std::move(b), waiter});
}

void Shard::Register(const std::string& gid, const std::string& participant, Waiter waiter) {
  if (Refuse(waiter)) return;
  Entry* e = Find(gid);
  if (e == nullptr) return ports_.answers->Answer(waiter, NotFound("no transaction " + gid));
  BranchSpec b{participant, "", {}, "r." + ports_.answers->NewIncarnation()};
  Run(*e, RegisterBranch{std::move(b), waiter});
}

void Shard::Commit(const std::string& gid, Waiter waiter) {
  if (Refuse(waiter)) return;
  Entry* e = Find(gid);
  if (e == nullptr) return ports_.answers->Answer(waiter, NotFound("no transaction " + gid));
  Run(*e, ClientCommit{waiter});
}

void Shard::Abort(const std::string& gid, const std::string& reason, Waiter waiter) {
  if (Refuse(waiter)) return;
  Entry* e = Find(gid);
  if (e == nullptr) return ports_.answers->Answer(waiter, NotFound("no transaction " + gid));
  Run(*e, ClientAbort{reason, waiter});
}

void Shard::Retry(const std::string& gid, Waiter waiter) {
  if (Refuse(waiter)) return;
  Entry* e = Find(gid);
  if (e == nullptr) return ports_.answers->Answer(waiter, NotFound("no transaction " + gid));
  Run(*e, OperatorRetry{waiter});
}

void Shard::Resolve(const std::string& gid, OperatorResolve resolve) {
  if (Refuse(resolve.waiter)) return;
  Entry* e = Find(gid);
  if (e == nullptr) {
    return ports_.answers->Answer(resolve.waiter, NotFound("no transaction " + gid));
  }
  Run(*e, std::move(resolve));
}

Result<View> Shard::Get(const std::string& gid) const {
  auto it = txns_.find(gid);
  // Unknown gid: presumed abort for a participant that asks; NotFound for a client.
  if (it == txns_.end()) return NotFound("no transaction " + gid);
  return it->second.machine->view();
}

void Shard::OnDurable(const Ref& ref, Seq seq) {
  Dispatch(ref, RecordDurable{seq});
}

void Shard::OnAppendFailed(const Ref& ref, Seq seq, const Status& why) {
  halted_ = true;  // fail-stop: no fsync retry, no further answers as if durable
  Dispatch(ref, RecordFailed{seq, why});
}

void Shard::OnPrepareReply(const Ref& ref, PrepareReply reply) {
  Dispatch(ref, std::move(reply));
}

void Shard::OnPhase2Reply(const Ref& ref, Phase2Reply reply) {
  Dispatch(ref, std::move(reply));
}

void Shard::OnTimer(const Ref& ref, TimerId id) {
  Dispatch(ref, TimerFired{id});
}

void Shard::Replay(const Record& record) {
  if (auto* b = std::get_if<BeginRecord>(&record)) {
    if (Entry* old = Find(b->gid)) {  // an older incarnation of a reused gid
      ForgetKey(*old, b->gid);
      txns_.erase(b->gid);
    }
    Entry& e = Create(b->gid);
    e.key = b->idempotency_key;
    e.hash = b->request_hash;
    if (!e.key.empty()) key_to_gid_[e.key] = b->gid;
    Run(e, Replayed{record});
    return;
  }
  const std::string& gid =
      std::visit([](const auto& r) -> const std::string& { return r.gid; }, record);
  if (Entry* e = Find(gid)) Run(*e, Replayed{record});
}

void Shard::Recovered() {
  std::vector<std::string> gids;
  for (const auto& [gid, e] : txns_) gids.push_back(gid);
  std::sort(gids.begin(), gids.end());  // deterministic order of effects
  for (const std::string& gid : gids) {
    if (Entry* e = Find(gid)) Run(*e, twopc::Recovered{});
  }
}

std::size_t Shard::live() const {
  std::size_t n = 0;
  for (const auto& [gid, e] : txns_) n += e.machine->final() ? 0 : 1;
  return n;
}

void Shard::Dispatch(const Ref& ref, const Event& event) {
  Entry* e = Find(ref.gid);
  if (e == nullptr || e->incarnation != ref.incarnation) return;  // forgotten or replaced
  Run(*e, event);
}

void Shard::Run(Entry& e, const Event& event) {
  const Ref ref{e.machine->gid(), e.incarnation};
  Execute(ref, e.machine->Apply(event));
  if (e.machine->final() && !e.kept) {
    e.kept = true;
    finished_.emplace_back(ref.gid, ref.incarnation);
    KeepFinished(ref.gid);
  }
}

void Shard::ForgetKey(const Entry& e, const std::string& gid) {
  auto it = key_to_gid_.find(e.key);
  if (it != key_to_gid_.end() && it->second == gid) key_to_gid_.erase(it);
}

void Shard::KeepFinished(const std::string&) {
  while (finished_.size() > max_finished_) {
    auto [gid, inc] = finished_.front();
    finished_.pop_front();
    Entry* e = Find(gid);
    if (e == nullptr || e->incarnation != inc) continue;
    ForgetKey(*e, gid);
    txns_.erase(gid);
  }
}

namespace {
struct Executor {
  const Ref& ref;
  const ShardPorts& p;
  void operator()(const AppendRecord& a) const { p.log->Append(ref, a.seq, a.record, a.forced); }
  void operator()(const CallPrepare& c) const { p.participants->Prepare(ref, c.branch, c.token); }
  void operator()(const CallCommit& c) const {
    p.participants->Commit(ref, c.participant, c.branch, c.token);
  }
  void operator()(const CallAbort& c) const {
    p.participants->Abort(ref, c.participant, c.branch, c.token);
  }
  void operator()(const ArmTimer& t) const {
    p.timers->Arm(ref, t.id, t.kind, t.attempt, t.timeout_ms);
  }
  void operator()(const CancelTimer& t) const { p.timers->Cancel(ref, t.id); }
  void operator()(const twopc::Answer& a) const { p.answers->Answer(a.waiter, a.result); }
  void operator()(const twopc::Publish& v) const { p.answers->Publish(v.view); }
  void operator()(const ReportCall& r) const { p.participants->Report(r.participant, r.health); }
  void operator()(const twopc::Rejected& r) const { p.answers->Rejected(ref, r.why); }
};
}  // namespace

void Shard::Execute(const Ref& ref, Effects effects) {
  for (const Effect& f : effects) std::visit(Executor{ref, ports_}, f);
}

}  // namespace txcoord::twopc
