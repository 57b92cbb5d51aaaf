// The shard core with recording ports: issue 19's first bug as a directed test (nothing may see
// or act on a COMMIT decision while its append is in flight), fresh incarnations, gid reuse.
#include <gtest/gtest.h>

#include "txcoord/twopc/shard.h"

namespace txcoord::twopc {
namespace {

struct Ports : LogPort, ParticipantPort, TimerPort, AnswerPort {
  struct Append {
    Ref ref;
    Seq seq;
    Record record;
  };
  std::vector<Append> appends;
  std::vector<std::pair<std::string, Token>> prepares, commits, aborts;
  std::map<Waiter, Result<View>> answers;
  std::vector<View> published;
  int n = 0;

  void Append(const Ref& ref, Seq seq, const Record& record, bool) override {
    appends.push_back({ref, seq, record});
  }
  void Prepare(const Ref&, const BranchSpec& b, Token t) override {
    prepares.emplace_back(b.branch, t);
  }
  void Commit(const Ref&, const std::string&, const std::string& b, Token t) override {
    commits.emplace_back(b, t);
  }
  void Abort(const Ref&, const std::string&, const std::string& b, Token t) override {
    aborts.emplace_back(b, t);
  }
  void Report(const std::string&, Health) override {}
  void Arm(const Ref&, TimerId, TimerKind, std::uint32_t, std::int64_t) override {}
  void Cancel(const Ref&, TimerId) override {}
  void Answer(Waiter w, const Result<View>& r) override { answers.insert_or_assign(w, r); }
  void Publish(const View& v) override { published.push_back(v); }
  void Rejected(const Ref&, const Status& why) override { ADD_FAILURE() << why; }
  std::string NewIncarnation() override { return std::to_string(++n); }
};

bool Committed(State s) {
  return s == State::kCommitting || s == State::kCommitted;
}

BeginRequest Request(const std::string& gid) {
  BeginRequest r{
      gid,     {BranchSpec{"pg", "debit", {}, "caller-id"}, BranchSpec{"redis", "credit", {}, ""}},
      1000,    false,
      "key-1", "hash-1"};
  return r;
}

TEST(TwopcShard, NothingSeesOrActsOnACommitDecisionBeforeItIsDurable) {
  Ports p;
  Shard shard(ShardPorts{&p, &p, &p, &p}, 10);
  shard.Begin(Request("g1"), 1);
  shard.OnDurable(p.appends.at(0).ref, p.appends.at(0).seq);  // BEGIN
  ASSERT_EQ(p.prepares.size(), 2u);
  for (auto& [branch, token] : p.prepares) {
    shard.OnPrepareReply(p.appends[0].ref, PrepareReply{branch, Vote::kYes, token, ""});
  }
  ASSERT_EQ(p.appends.size(), 2u);  // COMMIT, in flight
  // While it is in flight: an operator retry, the keyed retry, a Get, an operator abort.
  shard.Retry("g1", 2);
  shard.Begin(Request("g1"), 3);
  Result<View> got = shard.Get("g1");
  shard.Resolve("g1", OperatorResolve{Outcome::kAbort, false, "why", "ann", 4});
  EXPECT_TRUE(p.commits.empty());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, State::kPreparing);
  EXPECT_FALSE(p.answers.contains(1));
  EXPECT_FALSE(p.answers.at(2).ok());
  ASSERT_TRUE(p.answers.at(3).ok());
  EXPECT_EQ(p.answers.at(3)->state, State::kPreparing);
  EXPECT_EQ(p.answers.at(4).status().code(), Code::kConflict);
  for (const View& v : p.published) EXPECT_FALSE(Committed(v.state));
  // Durable: now, and only now, the commits and the answer.
  shard.OnDurable(p.appends[1].ref, p.appends[1].seq);
  EXPECT_EQ(p.commits.size(), 2u);
  EXPECT_EQ(p.answers.at(1)->state, State::kCommitting);
}

TEST(TwopcShard, FailedCommitAppendFailStopsWithoutCommitCalls) {
  Ports p;
  Shard shard(ShardPorts{&p, &p, &p, &p}, 10);
  shard.Begin(Request("g1"), 1);
  shard.OnDurable(p.appends.at(0).ref, p.appends.at(0).seq);
  for (auto& [branch, token] : p.prepares) {
    shard.OnPrepareReply(p.appends[0].ref, PrepareReply{branch, Vote::kYes, token, ""});
  }
  shard.OnAppendFailed(p.appends.at(1).ref, p.appends[1].seq, DataLoss("fsync"));
  EXPECT_TRUE(shard.halted());
  EXPECT_TRUE(p.commits.empty());
  EXPECT_EQ(p.answers.at(1).status().code(), Code::kUnknownOutcome);
  shard.Begin(Request("g2"), 2);
  EXPECT_EQ(p.answers.at(2).status().code(), Code::kUnavailable);
}

TEST(TwopcShard, IncarnationsAreFreshAndAForgottenGidIsReusable) {
  Ports p;
  Shard shard(ShardPorts{&p, &p, &p, &p}, 0);  // keeps no finished transaction
  BeginRequest r = Request("g1");
  r.idempotency_key.clear();
  shard.Begin(r, 1);
  const BeginRecord first = std::get<BeginRecord>(p.appends.at(0).record);
  EXPECT_NE(first.branches[0].branch, "caller-id");  // the shard mints, whatever was sent
  shard.OnDurable(p.appends[0].ref, p.appends[0].seq);
  shard.OnPrepareReply(p.appends[0].ref,
                       PrepareReply{p.prepares[0].first, Vote::kNo, p.prepares[0].second, ""});
  for (auto& [branch, token] : p.aborts) {
    shard.OnPhase2Reply(p.appends[0].ref, Phase2Reply{branch, Ack::kOk, token, ""});
  }
  EXPECT_FALSE(shard.Get("g1").ok());  // finished and forgotten
  const Ref old = p.appends[0].ref;
  shard.Begin(r, 2);
  const BeginRecord second = std::get<BeginRecord>(p.appends.back().record);
  EXPECT_NE(second.branches[0].branch, first.branches[0].branch);
  EXPECT_NE(p.appends.back().ref.incarnation, old.incarnation);
  shard.OnDurable(old, 1);  // a completion for the old incarnation: dropped
  EXPECT_EQ(shard.Get("g1")->state, State::kPreparing);
}

}  // namespace
}  // namespace txcoord::twopc
