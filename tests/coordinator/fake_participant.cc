#include "fake_participant.h"

#include <algorithm>
#include <stdexcept>
#include <thread>

namespace txcoord::testing {
namespace {

// A slow store's call: the time passing is the point, there is no state to wait for.
void Delay(std::chrono::microseconds d) {
  if (d.count() > 0) std::this_thread::sleep_for(d);
}

}  // namespace

void EventLog::Add(std::string e) {
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(std::move(e));
}

std::vector<std::string> EventLog::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

int EventLog::First(const std::string& prefix) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::size_t i = 0; i < events_.size(); ++i) {
    if (events_[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
  }
  return -1;
}

int EventLog::Last(const std::string& prefix) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::size_t i = events_.size(); i-- > 0;) {
    if (events_[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
  }
  return -1;
}

void Gate::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
}

void Gate::Open() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = false;
  }
  cv_.notify_all();
}

void Gate::Pass() {
  std::unique_lock<std::mutex> lock(mu_);
  ++waiting_;
  cv_.wait(lock, [&] { return !closed_; });
  --waiting_;
}

int Gate::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

namespace {
std::string Key(const participant::BranchId& id) {
  return id.gid + "/" + id.branch;
}
}  // namespace

Status FakeParticipant::Validate(std::string_view action, const participant::Payload&) const {
  if (action == "bad") return InvalidArgument("action 'bad' is not declared");
  return Status::Ok();
}

Status FakeParticipant::Scripted(Code& code, int& count) {
  if (count == 0) return Status::Ok();
  if (count > 0) --count;
  return Status(code, "scripted failure of " + name_);
}

Result<participant::PrepareResult> FakeParticipant::Prepare(const participant::BranchCall& call) {
  prepare_gate.Pass();
  Delay(call_delay.load());
  std::lock_guard<std::mutex> lock(mu_);
  ++prepares_;
  if (events_) events_->Add("prepare:" + name_ + ":" + Key(call.id));
  if (Status s = Scripted(prepare_code_, prepare_fails_); !s.ok()) return s;
  FakeState& st = states_[call.id];
  if (st == FakeState::kAborted)
    return participant::PrepareResult{participant::Vote::kNo, "aborted"};
  if (st != FakeState::kNone) return participant::PrepareResult{participant::Vote::kYes, ""};
  if (vote_no_) {
    st = FakeState::kAborted;
    return participant::PrepareResult{participant::Vote::kNo, "insufficient funds"};
  }
  st = FakeState::kPrepared;
  return participant::PrepareResult{participant::Vote::kYes, ""};
}

Status FakeParticipant::Commit(const BranchId& id) {
  commit_gate.Pass();
  Delay(call_delay.load());
  if (throw_commits.fetch_sub(1) > 0) throw std::runtime_error("buggy adapter");
  throw_commits.store(std::max(throw_commits.load(), 0));
  std::lock_guard<std::mutex> lock(mu_);
  ++commits_;
  if (events_) events_->Add("commit:" + name_ + ":" + Key(id));
  TXC_RETURN_IF_ERROR(Scripted(commit_code_, commit_fails_));
  FakeState& st = states_[id];
  if (st == FakeState::kAborted || st == FakeState::kNone) {
    return Conflict("commit of a branch that is not prepared: " + Key(id));
  }
  st = FakeState::kCommitted;
  return Status::Ok();
}

Status FakeParticipant::Abort(const BranchId& id) {
  std::lock_guard<std::mutex> lock(mu_);
  ++aborts_;
  if (events_) events_->Add("abort:" + name_ + ":" + Key(id));
  TXC_RETURN_IF_ERROR(Scripted(abort_code_, abort_fails_));
  FakeState& st = states_[id];
  if (st == FakeState::kCommitted) return Conflict("abort of a committed branch: " + Key(id));
  st = FakeState::kAborted;
  return Status::Ok();
}

Result<participant::ExecuteResult> FakeParticipant::Execute(const participant::BranchCall& call) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++executes_;
    max_running_ = std::max(max_running_, ++running_);
    if (events_) events_->Add("execute:" + name_ + ":" + Key(call.id));
  }
  execute_gate.Pass();
  std::lock_guard<std::mutex> lock(mu_);
  --running_;
  if (Status s = Scripted(execute_code_, execute_fails_); !s.ok()) return s;
  FakeSagaState& st = saga_[call.id];
  using participant::Outcome;
  if (st == FakeSagaState::kNone) {
    if (refuse_.count(call.action) != 0) {
      st = FakeSagaState::kRefused;
    } else {
      st = FakeSagaState::kExecuted;
      ++effects_;
    }
  }
  if (unknown_after_ > 0 && st == FakeSagaState::kExecuted) {
    --unknown_after_;
    return UnknownOutcome("scripted: reply lost after execute of " + Key(call.id));
  }
  if (st == FakeSagaState::kExecuted) return participant::ExecuteResult{Outcome::kDone, ""};
  return participant::ExecuteResult{
      Outcome::kRefused, st == FakeSagaState::kRefused ? "out of stock" : "already compensated"};
}

Status FakeParticipant::Compensate(const participant::BranchCall& call) {
  std::lock_guard<std::mutex> lock(mu_);
  ++compensates_;
  if (events_) events_->Add("compensate:" + name_ + ":" + Key(call.id));
  TXC_RETURN_IF_ERROR(Scripted(compensate_code_, compensate_fails_));
  FakeSagaState& st = saga_[call.id];
  if (st == FakeSagaState::kExecuted) st = FakeSagaState::kCompensated;
  if (st == FakeSagaState::kNone) st = FakeSagaState::kNullCompensated;
  return Status::Ok();
}

void FakeParticipant::RefuseAction(const std::string& action) {
  std::lock_guard<std::mutex> lock(mu_);
  refuse_.insert(action);
}

void FakeParticipant::FailExecutes(Code code, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  execute_code_ = code;
  execute_fails_ = count;
}

void FakeParticipant::UnknownAfterExecute(int count) {
  std::lock_guard<std::mutex> lock(mu_);
  unknown_after_ = count;
}

void FakeParticipant::FailCompensates(Code code, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  compensate_code_ = code;
  compensate_fails_ = count;
}

FakeSagaState FakeParticipant::SagaStateOf(const BranchId& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = saga_.find(id);
  return it == saga_.end() ? FakeSagaState::kNone : it->second;
}

int FakeParticipant::executes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return executes_;
}
int FakeParticipant::execute_effects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return effects_;
}
int FakeParticipant::compensates() const {
  std::lock_guard<std::mutex> lock(mu_);
  return compensates_;
}
int FakeParticipant::max_concurrent_executes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_running_;
}

Result<std::vector<participant::InDoubtBranch>> FakeParticipant::InDoubt(
    std::string_view coordinator) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<participant::InDoubtBranch> out;
  for (const auto& [id, st] : states_) {
    if (st != FakeState::kPrepared) continue;
    if (!coordinator.empty() && id.coordinator != coordinator) continue;
    out.push_back(participant::InDoubtBranch{id, {}});
  }
  return out;
}

void FakeParticipant::VoteNo(bool no) {
  std::lock_guard<std::mutex> lock(mu_);
  vote_no_ = no;
}

void FakeParticipant::FailPrepares(Code code, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  prepare_code_ = code;
  prepare_fails_ = count;
}

void FakeParticipant::FailCommits(Code code, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  commit_code_ = code;
  commit_fails_ = count;
}

void FakeParticipant::FailAborts(Code code, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  abort_code_ = code;
  abort_fails_ = count;
}

void FakeParticipant::SetPrepared(const BranchId& id) {
  std::lock_guard<std::mutex> lock(mu_);
  states_[id] = FakeState::kPrepared;
}

FakeState FakeParticipant::StateOf(const BranchId& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = states_.find(id);
  return it == states_.end() ? FakeState::kNone : it->second;
}

int FakeParticipant::prepares() const {
  std::lock_guard<std::mutex> lock(mu_);
  return prepares_;
}
int FakeParticipant::commits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return commits_;
}
int FakeParticipant::aborts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return aborts_;
}

std::size_t FakeParticipant::prepared_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t n = 0;
  for (const auto& [id, st] : states_) n += st == FakeState::kPrepared;
  return n;
}

std::size_t FakeParticipant::committed_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t n = 0;
  for (const auto& [id, st] : states_) n += st == FakeState::kCommitted;
  return n;
}

}  // namespace txcoord::testing
