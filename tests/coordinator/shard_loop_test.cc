// ShardLoop (coordinator/loop): the 2PC shard core on one Asio loop, a real WAL in a temp
// directory, fake participants on the loop's pool.
#include "txcoord/loop/shard_loop.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "fake_participant.h"
#include "txcoord/testing/poll.h"

namespace txcoord::loop {
namespace {

using testing::Eventually;
using testing::FakeParticipant;
using testing::FakeState;
using twopc::State;

constexpr auto kWait = std::chrono::seconds(10);

class ShardLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> n{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("shard_loop_test." + std::to_string(::getpid()) + "." + std::to_string(n++));
    std::filesystem::remove_all(dir_);
    events_ = std::make_shared<testing::EventLog>();
    a_ = std::make_shared<FakeParticipant>("a", events_);
    b_ = std::make_shared<FakeParticipant>("b", events_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Opens the WAL (replaying it into a new loop) and starts the loop.
  std::unique_ptr<ShardLoop> Open() {
    std::vector<std::string> bodies;
    wal::Options o;
    o.dir = dir_.string();
    o.sync = wal::SyncMode::kNoSyncTestsOnly;
    o.lazy_delay = std::chrono::microseconds(1'000);
    auto log = wal::Log::Open(o, [&](const wal::ReplayedRecord& r) {
      if (r.kind == wal::RecordKind::kEntry) bodies.emplace_back(r.body);
      return Status::Ok();
    });
    EXPECT_TRUE(log.ok()) << log.status();
    if (!log.ok()) return nullptr;
    ShardLoopOptions options;
    options.retry_backoff.initial = std::chrono::milliseconds(5);
    options.retry_backoff.cap = std::chrono::milliseconds(20);
    options.default_timeout_ms = 5'000;
    auto loop = std::make_unique<ShardLoop>(std::shared_ptr<wal::Log>(std::move(*log)),
                                            Participants{{"a", a_}, {"b", b_}}, random_, options);
    for (const std::string& body : bodies) {
      Status s = loop->Replay(body);
      EXPECT_TRUE(s.ok()) << s;
    }
    loop->Start();
    return loop;
  }

  static twopc::BeginRequest OneShot(const std::string& gid, const std::string& b_action = "x") {
    twopc::BeginRequest r;
    r.gid = gid;
    r.branches = {{"a", "x", {{"k", "1"}}, ""}, {"b", b_action, {}, ""}};
    return r;
  }

  static Result<twopc::View> Await(ViewFuture f) {
    if (f.wait_for(kWait) != std::future_status::ready) return Timeout("no answer");
    return f.get();
  }

  // The branch ids the stores saw, from the view.
  static participant::BranchId Id(const twopc::View& v, std::size_t i) {
    return {"txc", v.gid, v.branches.at(i).spec.branch};
  }

  // The answer comes with the durable decision; phase 2 may still be under way.
  static bool Decided(const twopc::View& v, State final_state) {
    const State phase2 = final_state == State::kCommitted ? State::kCommitting : State::kAborting;
    return v.state == final_state || v.state == phase2;
  }

  bool StateIs(ShardLoop& loop, const std::string& gid, State s) {
    Result<twopc::View> v = Await(loop.Get(gid));
    return v.ok() && v->state == s;
  }

  std::filesystem::path dir_;
  SeededRandom random_{7};
  std::shared_ptr<testing::EventLog> events_;
  std::shared_ptr<FakeParticipant> a_, b_;
};

TEST_F(ShardLoopTest, OneShotCommitReachesBothParticipants) {
  auto loop = Open();
  ASSERT_NE(loop, nullptr);
  Result<twopc::View> v = Await(loop->Begin(OneShot("g1")));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(Decided(*v, State::kCommitted)) << twopc::StateName(v->state);
  ASSERT_EQ(v->branches.size(), 2u);
  EXPECT_TRUE(Eventually([&] { return StateIs(*loop, "g1", State::kCommitted); }, kWait));
  EXPECT_EQ(a_->StateOf(Id(*v, 0)), FakeState::kCommitted);
  EXPECT_EQ(b_->StateOf(Id(*v, 1)), FakeState::kCommitted);
  EXPECT_EQ(loop->rejected(), 0u);
}

TEST_F(ShardLoopTest, ARefusalAbortsBoth) {
  auto loop = Open();
  ASSERT_NE(loop, nullptr);
  b_->VoteNo(true);
  Result<twopc::View> v = Await(loop->Begin(OneShot("g2")));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(Decided(*v, State::kAborted)) << twopc::StateName(v->state);
  ASSERT_EQ(v->branches.size(), 2u);
  EXPECT_TRUE(Eventually([&] { return StateIs(*loop, "g2", State::kAborted); }, kWait));
  EXPECT_TRUE(Eventually([&] {
    return a_->StateOf(Id(*v, 0)) == FakeState::kAborted &&
           b_->StateOf(Id(*v, 1)) == FakeState::kAborted;
  }));
  EXPECT_EQ(a_->committed_count(), 0u);
}

TEST_F(ShardLoopTest, AnUnknownParticipantOrBadActionIsRefusedBeforeTheLog) {
  auto loop = Open();
  ASSERT_NE(loop, nullptr);
  twopc::BeginRequest r = OneShot("g3");
  r.branches[1].participant = "nobody";
  EXPECT_EQ(Await(loop->Begin(r)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Await(loop->Begin(OneShot("g4", "bad"))).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Await(loop->Get("g3")).status().code(), Code::kNotFound);
  EXPECT_EQ(a_->prepares(), 0);
  // Requests about a gid the shard does not know are answered, not lost.
  EXPECT_EQ(Await(loop->Commit("g3")).status().code(), Code::kNotFound);
  EXPECT_EQ(Await(loop->Retry("g3")).status().code(), Code::kNotFound);
  EXPECT_EQ(Await(loop->Resolve("g3", {})).status().code(), Code::kNotFound);
}

TEST_F(ShardLoopTest, AThrowingParticipantIsAnUnknownAckAndRetried) {
  auto loop = Open();
  ASSERT_NE(loop, nullptr);
  a_->throw_commits = 2;
  Result<twopc::View> v = Await(loop->Begin(OneShot("g5")));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(Decided(*v, State::kCommitted)) << twopc::StateName(v->state);
  EXPECT_TRUE(Eventually([&] { return StateIs(*loop, "g5", State::kCommitted); }, kWait));
  EXPECT_EQ(a_->StateOf(Id(*v, 0)), FakeState::kCommitted);
  EXPECT_EQ(a_->throw_commits.load(), 0);  // both throws seen, then a retry committed
}

TEST_F(ShardLoopTest, OpenTransactionCommitsOnRequest) {
  auto loop = Open();
  ASSERT_NE(loop, nullptr);
  twopc::BeginRequest r;
  r.gid = "g6";
  r.open = true;
  Result<twopc::View> v = Await(loop->Begin(r));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->state, State::kActive);
  for (const char* p : {"a", "b"}) {
    v = Await(loop->Register("g6", p));
    ASSERT_TRUE(v.ok()) << v.status();
  }
  EXPECT_EQ(Await(loop->Register("g6", "nobody")).status().code(), Code::kInvalidArgument);
  ASSERT_EQ(v->branches.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) (i == 0 ? a_ : b_)->SetPrepared(Id(*v, i));
  v = Await(loop->Commit("g6"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(Decided(*v, State::kCommitted)) << twopc::StateName(v->state);
  EXPECT_TRUE(Eventually([&] { return StateIs(*loop, "g6", State::kCommitted); }, kWait));
  EXPECT_EQ(a_->StateOf(Id(*v, 0)), FakeState::kCommitted);
  EXPECT_EQ(b_->StateOf(Id(*v, 1)), FakeState::kCommitted);
}

TEST_F(ShardLoopTest, AReplayedLogFinishesACommitTheLastLoopLeftUndelivered) {
  a_->FailCommits(Code::kUnavailable, -1);  // COMMIT durable, a's commit keeps failing
  std::string branch_a;
  {
    auto loop = Open();
    ASSERT_NE(loop, nullptr);
    ViewFuture f = loop->Begin(OneShot("g7"));
    ASSERT_TRUE(Eventually([&] { return a_->commits() >= 2; }, kWait));
    Result<twopc::View> v = Await(loop->Get("g7"));
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->state, State::kCommitting);
    branch_a = v->branches.at(0).spec.branch;
    // The loop goes away mid-way: the caller's future is broken, nothing more runs.
  }
  const participant::BranchId id{"txc", "g7", branch_a};
  EXPECT_EQ(a_->StateOf(id), FakeState::kPrepared);
  a_->FailCommits(Code::kOk, 0);
  auto loop = Open();
  ASSERT_NE(loop, nullptr);
  EXPECT_TRUE(Eventually([&] { return StateIs(*loop, "g7", State::kCommitted); }, kWait));
  EXPECT_EQ(a_->StateOf(id), FakeState::kCommitted);
  EXPECT_EQ(loop->rejected(), 0u);
}

TEST_F(ShardLoopTest, ALoopStoppedDuringACommitCallIsFinishedByReplay) {
  a_->commit_gate.Close();
  std::string branch_a;
  auto loop = Open();
  ASSERT_NE(loop, nullptr);
  ViewFuture f = loop->Begin(OneShot("g8"));
  ASSERT_TRUE(Eventually([&] { return a_->commit_gate.waiting() == 1; }, kWait));
  Result<twopc::View> v = Await(loop->Get("g8"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->state, State::kCommitting);
  branch_a = v->branches.at(0).spec.branch;
  loop->Stop();  // the shard sees nothing more: a's acknowledgement is never delivered
  a_->commit_gate.Open();
  loop.reset();  // waits for the call in flight, drops its reply
  Result<twopc::View> answer = Await(std::move(f));  // answered once COMMIT was durable
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->state, State::kCommitting);

  loop = Open();
  ASSERT_NE(loop, nullptr);
  EXPECT_TRUE(Eventually([&] { return StateIs(*loop, "g8", State::kCommitted); }, kWait));
  const participant::BranchId id{"txc", "g8", branch_a};
  EXPECT_EQ(a_->StateOf(id), FakeState::kCommitted);
  EXPECT_GE(a_->commits(), 2);  // the call the old loop never heard back from, and replay's
  EXPECT_EQ(loop->rejected(), 0u);
}

}  // namespace
}  // namespace txcoord::loop
