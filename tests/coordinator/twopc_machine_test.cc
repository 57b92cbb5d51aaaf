// The 2PC machine's transition table (machine.h), row by row; impossible transitions; the
// durable-before-visible rule; the codec round trip.
#include <gtest/gtest.h>

#include "txcoord/coordinator/twopc_codec.h"
#include "txcoord/twopc/machine.h"

namespace txcoord::twopc {
namespace {

template <typename T>
std::vector<T> Of(const Effects& fx) {
  std::vector<T> out;
  for (const Effect& f : fx) {
    if (auto* x = std::get_if<T>(&f)) out.push_back(*x);
  }
  return out;
}

BeginRecord Begin(std::size_t n, bool open = false) {
  BeginRecord b{"g1", {}, 1000, open, "", ""};
  for (std::size_t i = 0; i < n; ++i) {
    b.branches.push_back(BranchSpec{"p" + std::to_string(i), "act", {}, "b" + std::to_string(i)});
  }
  return b;
}

bool SaysCommitted(const Effects& fx) {
  for (const Publish& p : Of<Publish>(fx)) {
    if (p.view.state == State::kCommitting || p.view.state == State::kCommitted) return true;
  }
  for (const Answer& a : Of<Answer>(fx)) {
    if (a.result.ok() &&
        (a.result->state == State::kCommitting || a.result->state == State::kCommitted)) {
      return true;
    }
  }
  return false;
}

// A machine in Preparing with prepares sent; tokens[i] is branch i's call.
struct Fixture {
  Machine m{"g1"};
  std::vector<Token> tokens;
  Seq begin_seq = 0;
  explicit Fixture(std::size_t n) {
    Effects fx = m.Apply(Start{Begin(n), 7});
    begin_seq = Of<AppendRecord>(fx).at(0).seq;
    EXPECT_TRUE(Of<AppendRecord>(fx).at(0).forced);
    EXPECT_TRUE(Of<CallPrepare>(fx).empty());  // nothing before BEGIN is durable
    fx = m.Apply(RecordDurable{begin_seq});
    for (const CallPrepare& c : Of<CallPrepare>(fx)) tokens.push_back(c.token);
    EXPECT_EQ(m.state(), State::kPreparing);
  }
  // All yes: returns the COMMIT append's seq (state Deciding).
  Seq AllYes() {
    Effects fx;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      fx = m.Apply(PrepareReply{"b" + std::to_string(i), Vote::kYes, tokens[i], ""});
    }
    EXPECT_EQ(m.state(), State::kDeciding);
    auto appends = Of<AppendRecord>(fx);
    EXPECT_EQ(appends.size(), 1u);
    EXPECT_TRUE(appends.at(0).forced);
    return appends.at(0).seq;
  }
};

TEST(TwopcMachine, CommitsOnlyAfterTheDecisionIsDurable) {
  Fixture f(2);
  const Seq commit = f.AllYes();
  EXPECT_EQ(f.m.view().state, State::kPreparing);  // Deciding is not visible
  // Everything that could leak the decision, while the append is in flight:
  Effects fx = f.m.Apply(OperatorRetry{11});
  EXPECT_TRUE(Of<CallCommit>(fx).empty());
  EXPECT_FALSE(SaysCommitted(fx));
  fx = f.m.Apply(ClientCommit{12});
  EXPECT_TRUE(Of<Answer>(fx).empty());  // waits for the durable decision
  fx = f.m.Apply(OperatorResolve{Outcome::kAbort, false, "no", "op", 13});
  ASSERT_EQ(Of<Answer>(fx).size(), 1u);
  EXPECT_EQ(Of<Answer>(fx)[0].result.status().code(), Code::kConflict);
  EXPECT_EQ(f.m.state(), State::kDeciding);
  fx = f.m.Apply(RecordDurable{commit});
  EXPECT_EQ(f.m.state(), State::kCommitting);
  EXPECT_EQ(Of<CallCommit>(fx).size(), 2u);
  EXPECT_EQ(Of<Answer>(fx).size(), 2u);  // the Start waiter and the ClientCommit one
  EXPECT_TRUE(SaysCommitted(fx));
}

TEST(TwopcMachine, FailedCommitAppendHaltsWithUnknownOutcome) {
  Fixture f(1);
  const Seq commit = f.AllYes();
  Effects fx = f.m.Apply(RecordFailed{commit, DataLoss("fsync")});
  EXPECT_EQ(f.m.state(), State::kHalted);
  ASSERT_EQ(Of<Answer>(fx).size(), 1u);
  EXPECT_EQ(Of<Answer>(fx)[0].result.status().code(), Code::kUnknownOutcome);
  EXPECT_TRUE(Of<CallCommit>(fx).empty());
  fx = f.m.Apply(OperatorRetry{3});
  EXPECT_EQ(Of<Answer>(fx).at(0).result.status().code(), Code::kUnavailable);
}

TEST(TwopcMachine, AllAcknowledgedWritesLazyEndAndFinishes) {
  Fixture f(2);
  Effects fx = f.m.Apply(RecordDurable{f.AllYes()});
  auto calls = Of<CallCommit>(fx);
  f.m.Apply(Phase2Reply{"b0", Ack::kOk, calls[0].token, ""});
  fx = f.m.Apply(Phase2Reply{"b1", Ack::kOk, calls[1].token, ""});
  EXPECT_EQ(f.m.state(), State::kCommitted);
  ASSERT_EQ(Of<AppendRecord>(fx).size(), 1u);
  EXPECT_FALSE(Of<AppendRecord>(fx)[0].forced);
  EXPECT_TRUE(std::holds_alternative<EndRecord>(Of<AppendRecord>(fx)[0].record));
  fx = f.m.Apply(RecordDurable{Of<AppendRecord>(fx)[0].seq});  // accepted when final
  EXPECT_TRUE(Of<Rejected>(fx).empty());
}

TEST(TwopcMachine, RetryableAckArmsBackoffAndRetryTimerResends) {
  Fixture f(1);
  Effects fx = f.m.Apply(RecordDurable{f.AllYes()});
  fx = f.m.Apply(Phase2Reply{"b0", Ack::kUnknown, Of<CallCommit>(fx)[0].token, "timeout"});
  auto arm = Of<ArmTimer>(fx);
  ASSERT_EQ(arm.size(), 1u);
  EXPECT_EQ(arm[0].kind, TimerKind::kRetry);
  EXPECT_EQ(arm[0].attempt, 1u);
  EXPECT_EQ(Of<ReportCall>(fx).at(0).health, Health::kFailure);
  fx = f.m.Apply(TimerFired{arm[0].id});
  ASSERT_EQ(Of<CallCommit>(fx).size(), 1u);
  fx = f.m.Apply(Phase2Reply{"b0", Ack::kRetryable, Of<CallCommit>(fx)[0].token, ""});
  EXPECT_EQ(Of<ArmTimer>(fx).at(0).attempt, 2u);
  EXPECT_EQ(f.m.view().branches[0].attempts, 2u);
  // Operator retry: backoff reset, resent now, the old timer cancelled.
  fx = f.m.Apply(OperatorRetry{5});
  EXPECT_EQ(Of<CancelTimer>(fx).size(), 1u);
  ASSERT_EQ(Of<CallCommit>(fx).size(), 1u);
  fx = f.m.Apply(Phase2Reply{"b0", Ack::kRetryable, Of<CallCommit>(fx)[0].token, ""});
  EXPECT_EQ(Of<ArmTimer>(fx).at(0).attempt, 1u);
}

TEST(TwopcMachine, VoteNoAbortsLazilyAndAnswers) {
  Fixture f(2);
  Effects fx = f.m.Apply(PrepareReply{"b1", Vote::kNo, f.tokens[1], "funds"});
  EXPECT_EQ(f.m.state(), State::kAborting);
  ASSERT_EQ(Of<AppendRecord>(fx).size(), 1u);
  EXPECT_FALSE(Of<AppendRecord>(fx)[0].forced);
  EXPECT_EQ(Of<CallAbort>(fx).size(), 2u);
  EXPECT_EQ(Of<Answer>(fx).at(0).result->state, State::kAborting);
  // The other branch's late vote is stale: ignored, no effect.
  fx = f.m.Apply(PrepareReply{"b0", Vote::kYes, f.tokens[0], ""});
  EXPECT_TRUE(fx.empty());
}

TEST(TwopcMachine, ErrorAndUnknownVotesAbortAndCountAsFailures) {
  for (Vote v : {Vote::kError, Vote::kUnknown}) {
    Fixture f(1);
    Effects fx = f.m.Apply(PrepareReply{"b0", v, f.tokens[0], "x"});
    EXPECT_EQ(f.m.state(), State::kAborting);
    EXPECT_EQ(Of<ReportCall>(fx).at(0).health, Health::kFailure);
  }
}

TEST(TwopcMachine, PrepareDeadlineAborts) {
  Machine m("g1");
  Effects fx = m.Apply(Start{Begin(1), 1});
  fx = m.Apply(RecordDurable{Of<AppendRecord>(fx)[0].seq});
  auto arm = Of<ArmTimer>(fx);
  ASSERT_EQ(arm.at(0).kind, TimerKind::kPrepareDeadline);
  EXPECT_EQ(arm[0].timeout_ms, 1000);
  fx = m.Apply(TimerFired{arm[0].id});
  EXPECT_EQ(m.state(), State::kAborting);
  EXPECT_EQ(m.view().reason, "prepare timeout");
  fx = m.Apply(TimerFired{arm[0].id});  // a second firing is stale
  EXPECT_TRUE(fx.empty());
}

TEST(TwopcMachine, ConflictMarksStuckAndIsNotAParticipantFailure) {
  Fixture f(1);
  Effects fx = f.m.Apply(PrepareReply{"b0", Vote::kNo, f.tokens[0], ""});
  fx = f.m.Apply(Phase2Reply{"b0", Ack::kConflict, Of<CallAbort>(fx)[0].token, "committed"});
  EXPECT_TRUE(f.m.view().stuck);
  EXPECT_EQ(f.m.view().branches[0].state, BranchState::kConflict);
  EXPECT_EQ(Of<ReportCall>(fx).at(0).health, Health::kNeutral);
  EXPECT_TRUE(Of<ArmTimer>(fx).empty());  // not retried by itself
  EXPECT_EQ(f.m.state(), State::kAborting);
}

TEST(TwopcMachine, OpenTransactionRegistersThenCommits) {
  Machine m("g1");
  Effects fx = m.Apply(Start{Begin(0, true), 1});
  EXPECT_TRUE(Of<Answer>(fx).empty());
  fx = m.Apply(RecordDurable{Of<AppendRecord>(fx)[0].seq});
  EXPECT_EQ(m.state(), State::kActive);
  EXPECT_EQ(Of<Answer>(fx).size(), 1u);
  fx = m.Apply(RegisterBranch{BranchSpec{"p", "", {}, "r1"}, 2});
  const Seq reg = Of<AppendRecord>(fx).at(0).seq;
  fx = m.Apply(ClientCommit{3});  // registration in flight
  EXPECT_EQ(Of<Answer>(fx).at(0).result.status().code(), Code::kUnavailable);
  fx = m.Apply(RecordDurable{reg});
  EXPECT_EQ(Of<Answer>(fx).at(0).waiter, 2u);
  fx = m.Apply(ClientCommit{3});
  auto prep = Of<CallPrepare>(fx);
  ASSERT_EQ(prep.size(), 1u);
  fx = m.Apply(PrepareReply{"r1", Vote::kYes, prep[0].token, ""});
  fx = m.Apply(RecordDurable{Of<AppendRecord>(fx).at(0).seq});
  EXPECT_EQ(Of<Answer>(fx).at(0).result->state, State::kCommitting);
}

// Found by the simulation (seed 1670 of the first generator): the REGISTER became durable after
// the deadline had aborted the transaction; its waiter was never answered.
TEST(TwopcMachine, RegisterDurableAfterTheDeadlineAbortStillAnswers) {
  Machine m("g1");
  Effects fx = m.Apply(Start{Begin(0, true), 1});
  fx = m.Apply(RecordDurable{Of<AppendRecord>(fx)[0].seq});
  const TimerId deadline = Of<ArmTimer>(fx).at(0).id;
  fx = m.Apply(RegisterBranch{BranchSpec{"p", "", {}, "r1"}, 2});
  const Seq reg = Of<AppendRecord>(fx).at(0).seq;
  fx = m.Apply(TimerFired{deadline});
  EXPECT_EQ(m.state(), State::kAborted);  // its only branch needs no call: END at once
  // The registering branch was never handed out: aborted without a call.
  EXPECT_TRUE(Of<CallAbort>(fx).empty());
  EXPECT_EQ(m.view().branches.at(0).state, BranchState::kAborted);
  fx = m.Apply(RecordDurable{reg});
  EXPECT_TRUE(Of<Rejected>(fx).empty());
  ASSERT_EQ(Of<Answer>(fx).size(), 1u);
  EXPECT_EQ(Of<Answer>(fx)[0].waiter, 2u);
  EXPECT_EQ(Of<Answer>(fx)[0].result->state, State::kAborted);
}

TEST(TwopcMachine, OperatorAbortIsForcedAndAnsweredWhenDurable) {
  Fixture f(1);
  Effects fx = f.m.Apply(OperatorResolve{Outcome::kAbort, false, "stuck", "ann", 9});
  auto app = Of<AppendRecord>(fx);
  ASSERT_EQ(app.size(), 1u);
  EXPECT_TRUE(app[0].forced);
  for (const Answer& a : Of<Answer>(fx)) EXPECT_NE(a.waiter, 9u);
  fx = f.m.Apply(RecordDurable{app[0].seq});
  EXPECT_EQ(Of<Answer>(fx).at(0).waiter, 9u);
}

TEST(TwopcMachine, OperatorCommitNeedsEveryBranchPrepared) {
  Fixture f(2);
  f.m.Apply(PrepareReply{"b0", Vote::kYes, f.tokens[0], ""});
  Effects fx = f.m.Apply(OperatorResolve{Outcome::kCommit, false, "go", "ann", 9});
  EXPECT_EQ(Of<Answer>(fx).at(0).result.status().code(), Code::kConflict);
  EXPECT_EQ(f.m.state(), State::kPreparing);
}

TEST(TwopcMachine, HeuristicCommitSettlesAndEnds) {
  Fixture f(2);
  Effects fx = f.m.Apply(OperatorResolve{Outcome::kCommit, true, "gone", "ann", 9});
  EXPECT_EQ(f.m.state(), State::kHeuristic);
  auto app = Of<AppendRecord>(fx);
  ASSERT_TRUE(app.at(0).forced);
  EXPECT_TRUE(std::get<DecisionRecord>(app[0].record).heuristic);
  EXPECT_TRUE(Of<CallCommit>(fx).empty());  // best-effort calls only once durable
  fx = f.m.Apply(RecordDurable{app[0].seq});
  auto calls = Of<CallCommit>(fx);
  ASSERT_EQ(calls.size(), 2u);
  f.m.Apply(Phase2Reply{"b0", Ack::kOk, calls[0].token, ""});
  fx = f.m.Apply(Phase2Reply{"b1", Ack::kConflict, calls[1].token, ""});
  auto end = Of<AppendRecord>(fx);
  ASSERT_EQ(end.size(), 1u);
  EXPECT_TRUE(end[0].forced);
  EXPECT_EQ(std::get<EndRecord>(end[0].record).heuristic_branches, std::vector<std::string>{"b1"});
  fx = f.m.Apply(RecordDurable{end[0].seq});
  EXPECT_EQ(f.m.state(), State::kCommitted);
  EXPECT_EQ(Of<Answer>(fx).at(0).waiter, 9u);
  EXPECT_TRUE(f.m.view().heuristic);
}

TEST(TwopcMachine, ImpossibleTransitionsAreRejectedAndChangeNothing) {
  Machine idle("g1");
  Effects fx = idle.Apply(RecordDurable{1});
  ASSERT_EQ(Of<Rejected>(fx).size(), 1u);
  EXPECT_EQ(idle.state(), State::kIdle);
  fx = idle.Apply(ClientCommit{4});
  EXPECT_EQ(Of<Answer>(fx).at(0).result.status().code(), Code::kFailedPrecondition);
  Fixture f(1);
  fx = f.m.Apply(Start{Begin(1), 2});  // a second Start
  EXPECT_FALSE(Of<Answer>(fx).at(0).result.ok());
  EXPECT_EQ(f.m.state(), State::kPreparing);
  fx = f.m.Apply(Recovered{});
  EXPECT_EQ(Of<Rejected>(fx).size(), 1u);
  EXPECT_NE(Of<Rejected>(fx)[0].why.message().find("preparing"), std::string::npos);
  EXPECT_NE(Of<Rejected>(fx)[0].why.message().find("Recovered"), std::string::npos);
  fx = f.m.Apply(RecordDurable{99});  // a seq it never appended
  EXPECT_EQ(Of<Rejected>(fx).at(0).why.code(), Code::kInternal);
  EXPECT_EQ(f.m.state(), State::kPreparing);
}

TEST(TwopcMachine, RecoveryFollowsTheRecords) {
  BeginRecord b = Begin(2);
  {  // BEGIN without decision: abort every branch
    Machine m("g1");
    m.Apply(Replayed{b});
    Effects fx = m.Apply(Recovered{});
    EXPECT_EQ(Of<CallAbort>(fx).size(), 2u);
    EXPECT_EQ(m.state(), State::kAborting);
  }
  {  // COMMIT without END: resend commits
    Machine m("g1");
    m.Apply(Replayed{b});
    m.Apply(Replayed{DecisionRecord{"g1", Outcome::kCommit, "", false, false, ""}});
    Effects fx = m.Apply(Recovered{});
    EXPECT_EQ(Of<CallCommit>(fx).size(), 2u);
    EXPECT_TRUE(Of<AppendRecord>(fx).empty());
  }
  {  // ABORT without END: resend aborts, no second record
    Machine m("g1");
    m.Apply(Replayed{b});
    m.Apply(Replayed{DecisionRecord{"g1", Outcome::kAbort, "x", false, false, ""}});
    Effects fx = m.Apply(Recovered{});
    EXPECT_EQ(Of<CallAbort>(fx).size(), 2u);
    EXPECT_TRUE(Of<AppendRecord>(fx).empty());
  }
  {  // END: final, kept for queries
    Machine m("g1");
    m.Apply(Replayed{b});
    m.Apply(Replayed{DecisionRecord{"g1", Outcome::kCommit, "", false, false, ""}});
    m.Apply(Replayed{EndRecord{"g1", "", false, {}}});
    Effects fx = m.Apply(Recovered{});
    EXPECT_EQ(m.state(), State::kCommitted);
    EXPECT_TRUE(Of<CallCommit>(fx).empty());
  }
}

TEST(TwopcCodec, RoundTripsEveryRecord) {
  BeginRecord b = Begin(2, true);
  b.branches[0].payload = {{"amount", "5"}};
  b.idempotency_key = "k";
  const Record records[] = {b, RegisterRecord{"g1", BranchSpec{"p", "", {}, "r1"}},
                            DecisionRecord{"g1", Outcome::kCommit, "why", true, true, "ann"},
                            EndRecord{"g1", "committed", true, {"b1"}}};
  for (const Record& r : records) {
    Result<Record> back = coordinator::DecodeTwopcRecord(coordinator::EncodeTwopcRecord(r));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->index(), r.index());
    EXPECT_EQ(coordinator::EncodeTwopcRecord(*back), coordinator::EncodeTwopcRecord(r));
  }
  EXPECT_FALSE(coordinator::DecodeTwopcRecord("\xff\xff garbage").ok());
}

}  // namespace
}  // namespace txcoord::twopc
