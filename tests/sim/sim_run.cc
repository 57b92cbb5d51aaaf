// The simulation's driver loop: random clients and operators, crashes and recovery from the
// durable records (via the codec), and the invariants (sim_world.h).
#include <iostream>

#include "sim_world.h"
#include "txcoord/coordinator/twopc_codec.h"

namespace txcoord::sim {

using namespace twopc;

namespace {
constexpr std::size_t kMaxFinishedKept = 4;  // small: forgotten gids get reused
bool Committed(State s) {
  return s == State::kCommitting || s == State::kCommitted;
}
bool Aborted(State s) {
  return s == State::kAborting || s == State::kAborted;
}
}  // namespace

SimResult RunSeed(const SimOptions& options) {
  return World(options).Run();
}

SimResult World::Run() {
  shard_ = std::make_unique<Shard>(ShardPorts{this, this, this, this}, kMaxFinishedKept);
  if (opt_.fault_steps == 0) opt_.fault_steps = Between(50, 1500);  // 0 = the seed picks
  std::function<void()> tick = [this, &tick] {
    if (!faults_) return;
    if (Chance(0.4)) ClientAction();
    if (Chance(0.01)) Crash("random crash");
    At(Between(1, 8), tick);
  };
  At(0, tick);
  while (result_.ok && !queue_.empty()) {
    if (result_.steps == opt_.fault_steps) {
      faults_ = false;
      Trace("faults off");
    }
    if (result_.steps >= opt_.max_steps) {
      Violation("not quiescent after " + std::to_string(result_.steps) + " steps");
      break;
    }
    Item item = queue_.top();
    queue_.pop();
    now_ = item.at;
    item.fn();
    ++result_.steps;
    // A crash may land between any two steps (one step = one delivered message, timer, sync
    // or client request), also inside a group-commit window.
    if (faults_ && Chance(0.004)) Crash("crash between steps");
  }
  if (result_.ok) CheckQuiescent();
  result_.sim_ms = now_;
  return result_;
}

std::string World::PickGid() {
  if (gid_counter_ > 0 && Chance(0.25)) return "g" + std::to_string(Between(0, gid_counter_ - 1));
  return "g" + std::to_string(gid_counter_++);
}

void World::ClientAction() {
  if (down_) return;  // the coordinator is restarting: the client's connection is refused
  const Waiter w = next_waiter_++;
  const std::uint64_t r = Between(0, 99);
  // Mostly one of the newest gids (likely live), sometimes any earlier one.
  const std::uint64_t back = Chance(0.8) ? Between(0, 4) : Between(0, gid_counter_);
  const std::string gid = "g" + std::to_string(gid_counter_ > back ? gid_counter_ - 1 - back : 0);
  auto ask = [&](const std::string& what) {
    waiters_[w] = what;
    Trace("client " + std::to_string(w) + ": " + what);
  };
  if (r < 38) {
    BeginRequest b;
    const bool retry = r >= 30 && !sent_.empty();
    if (retry) {
      b = sent_[Between(0, sent_.size() - 1)];
    } else {
      b.gid = PickGid();
      b.open = r >= 30;
      b.timeout_ms = static_cast<std::int64_t>(Between(50, 300));
      const std::uint64_t n = b.open ? 0 : Between(1, 3);
      for (std::uint64_t i = 0; i < n; ++i) {
        b.branches.push_back(BranchSpec{"p" + std::to_string(i),
                                        Chance(0.08) ? "refuse" : "do",
                                        {{"n", std::to_string(i)}},
                                        ""});
      }
      b.request_hash = b.gid + "/" + std::to_string(n);
      if (Chance(0.3)) {
        b.idempotency_key = "k" + std::to_string(Between(0, 1u << 20));
        sent_.push_back(b);
      }
    }
    ask(std::string(retry ? "keyed retry " : b.open ? "begin open " : "begin ") + b.gid);
    return shard_->Begin(b, w);
  }
  if (r < 48) {
    ask("register " + gid);
    return shard_->Register(gid, "p" + std::to_string(Between(0, 2)), w);
  }
  if (r < 58) {
    ask("commit " + gid);
    return shard_->Commit(gid, w);
  }
  if (r < 62) {
    ask("abort " + gid);
    return shard_->Abort(gid, "client", w);
  }
  if (r < 70) {
    ask("retry " + gid);
    return shard_->Retry(gid, w);
  }
  if (r < 74) {
    OperatorResolve o{Chance(0.5) ? Outcome::kCommit : Outcome::kAbort, Chance(0.2), "sim", "op",
                      w};
    ask(std::string(o.force ? "force " : "") + "resolve " + gid);
    return shard_->Resolve(gid, o);
  }
  Result<View> v = shard_->Get(gid);
  if (v.ok()) CheckView(*v, "get");
}

void World::Crash(const char* why) {
  if (down_) return;
  Trace(std::string("CRASH: ") + why + " (" + std::to_string(unsynced_.size()) +
        " unsynced records lost)");
  ++epoch_;
  ++result_.crashes;
  down_ = true;
  shard_.reset();
  unsynced_.clear();
  sync_scheduled_ = false;
  cancelled_.clear();
  waiters_.clear();  // clients see their connection drop: no answer, outcome unknown
  At(Between(1, 50), [this] { Restart(); });
}

void World::Restart() {
  Trace("restart: replaying " + std::to_string(wal_.size()) + " records");
  down_ = false;
  shard_ = std::make_unique<Shard>(ShardPorts{this, this, this, this}, kMaxFinishedKept);
  for (const std::string& bytes : wal_) {
    Result<Record> r = coordinator::DecodeTwopcRecord(bytes);
    if (!r.ok()) return Violation("replay: " + r.status().ToString());
    shard_->Replay(*r);
  }
  shard_->Recovered();
}

void World::CheckView(const View& v, const char* what) {
  if (v.heuristic) return;
  Truth* t = nullptr;
  if (!v.branches.empty()) {
    auto it = branch_truth_.find(v.branches[0].spec.branch);
    if (it != branch_truth_.end()) t = &truths_[it->second];
  } else if (auto it = gid_truth_.find(v.gid); it != gid_truth_.end()) {
    t = &truths_[it->second];
  }
  if (Committed(v.state) && (t == nullptr || !t->commit_durable)) {
    return Violation(std::string(what) + " says " + std::string(StateName(v.state)) + " for " +
                     v.gid + " before its COMMIT decision is durable");
  }
  if (t == nullptr || std::string_view(what) != "answer") return;
  if (Committed(v.state)) t->told_committed = true;
  if (Aborted(v.state)) t->told_aborted = true;
  for (const std::string& b : t->branches) CheckStore(b);
}

void World::CheckStore(const std::string& branch) {
  auto it = branch_truth_.find(branch);
  if (it == branch_truth_.end()) {
    return Violation("the store saw branch " + branch + " before its BEGIN was durable");
  }
  const Truth& t = truths_[it->second];
  int committed = 0;
  int aborted = 0;
  for (const std::string& b : t.branches) {
    const StoreBranch* s = store_.Find(b);
    if (s == nullptr) continue;
    if (s->applied > 1) return Violation("branch " + b + " applied " + std::to_string(s->applied));
    committed += s->state == StoreState::kCommitted ? 1 : 0;
    aborted += s->state == StoreState::kAborted ? 1 : 0;
  }
  if (t.heuristic) return;  // an operator's forced decision, recorded as such
  const std::string g = "transaction " + t.gid + " (" + branch + "): ";
  if (committed > 0 && aborted > 0) return Violation(g + "one branch committed, another aborted");
  if (committed > 0 && !t.commit_durable) return Violation(g + "committed without durable COMMIT");
  if (committed > 0 && t.told_aborted) return Violation(g + "told aborted, but committed");
  if (aborted > 0 && t.told_committed) return Violation(g + "told committed, but aborted");
}

void World::CheckQuiescent() {
  if (down_ || !shard_) return Violation("quiescent while the coordinator is down");
  if (shard_->live() != 0) {
    return Violation(std::to_string(shard_->live()) + " transactions never finished");
  }
  if (!waiters_.empty()) return Violation("request never answered: " + waiters_.begin()->second);
  for (const Truth& t : truths_) {
    if (t.heuristic) continue;
    for (const std::string& b : t.branches) {
      const StoreBranch* s = store_.Find(b);
      const StoreState st = s == nullptr ? StoreState::kNone : s->state;
      if (t.commit_durable && st != StoreState::kCommitted) {
        return Violation("transaction " + t.gid + " decided commit; branch " + b +
                         " not committed");
      }
      if (!t.commit_durable && (st == StoreState::kCommitted || st == StoreState::kPrepared)) {
        return Violation("transaction " + t.gid + " not committed; branch " + b + " left " +
                         (st == StoreState::kPrepared ? "prepared" : "committed"));
      }
    }
  }
}

void World::Violation(const std::string& what) {
  if (!result_.ok) return;
  result_.ok = false;
  result_.violation =
      what + " (step " + std::to_string(result_.steps) + ", t=" + std::to_string(now_) + "ms)";
  Trace("VIOLATION: " + what);
}

void World::Trace(const std::string& line) {
  if (!opt_.verbose) return;
  std::cout << "[" << now_ << "ms #" << result_.steps << "] " << line << "\n";
}

}  // namespace txcoord::sim
