// 2PC through the Redis participant against the real server: happy path, votes, duplicated and
// reordered deliveries, locks between concurrent branches, recovery listing.
#include <algorithm>
#include <atomic>
#include <thread>

#include "redis_fixture.h"
#include "txcoord/core/fault.h"

namespace txcoord::redis::testing {
namespace {

using participant::Vote;

class TwoPcTest : public RedisTest {};

TEST_F(TwoPcTest, PrepareStagesAndCommitApplies) {
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const auto id = Branch(Unique("g"));
  auto v = p_->Prepare(Call(id, "debit", {{"account", acct}, {"amount", "30"}}));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->vote, Vote::kYes) << v->reason;
  EXPECT_EQ(Get(Wallet(acct)), "100");  // staged only
  EXPECT_EQ(Get("txc:{" + acct + "}:l:" + Wallet(acct)), participant::PreparedName(id));
  EXPECT_EQ(Int({"TTL", "txc:{" + acct + "}:b:coord-t:" + id.gid + ":b1"}), -1);
  const std::string barrier = "txc:{" + acct + "}:b:coord-t:" + id.gid + ":b1";
  EXPECT_EQ(Int({"HEXISTS", barrier, "keys"}), 1);  // the staged data keys, for commit/abort
  EXPECT_EQ(Int({"HEXISTS", barrier, "writes"}), 1);

  ASSERT_TRUE(p_->Commit(id).ok());
  EXPECT_EQ(Get(Wallet(acct)), "70");
  EXPECT_EQ(Get("txc:{" + acct + "}:l:" + Wallet(acct)), "<nil>");
  EXPECT_GT(Int({"TTL", barrier}), 0);  // finished
  EXPECT_EQ(Int({"HEXISTS", barrier, "keys"}), 0);
  EXPECT_EQ(Int({"HEXISTS", barrier, "writes"}), 0);
  EXPECT_EQ(Get("txc:{" + acct + "}:k:coord-t:" + id.gid + ":b1"), "<nil>");  // no key list
  // Duplicates: commit again is ok and applies nothing; a late prepare answers yes again.
  ASSERT_TRUE(p_->Commit(id).ok());
  EXPECT_EQ(Get(Wallet(acct)), "70");
  auto again = p_->Prepare(Call(id, "debit", {{"account", acct}, {"amount", "30"}}));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->vote, Vote::kYes);
  EXPECT_EQ(Get(Wallet(acct)), "70");
  EXPECT_EQ(p_->Abort(id).code(), Code::kConflict);
}

TEST_F(TwoPcTest, AbortDropsStagedWritesAndIsIdempotent) {
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const auto id = Branch(Unique("g"));
  auto v = p_->Prepare(Call(id, "debit", {{"account", acct}, {"amount", "30"}}));
  ASSERT_TRUE(v.ok() && v->vote == Vote::kYes);
  ASSERT_TRUE(p_->Abort(id).ok());
  ASSERT_TRUE(p_->Abort(id).ok());
  EXPECT_EQ(Get(Wallet(acct)), "100");
  EXPECT_EQ(Get("txc:{" + acct + "}:l:" + Wallet(acct)), "<nil>");
  EXPECT_EQ(p_->Commit(id).code(), Code::kConflict);
  auto late = p_->Prepare(Call(id, "debit", {{"account", acct}, {"amount", "30"}}));
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->vote, Vote::kNo);
}

TEST_F(TwoPcTest, AbortBeforePrepareMakesTheLatePrepareVoteNo) {
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const auto id = Branch(Unique("g"));
  ASSERT_TRUE(p_->Abort(id).ok());
  ASSERT_TRUE(p_->Abort(id).ok());
  auto late = p_->Prepare(Call(id, "debit", {{"account", acct}, {"amount", "30"}}));
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->vote, Vote::kNo);
  EXPECT_EQ(p_->Commit(id).code(), Code::kConflict);
  EXPECT_EQ(Get(Wallet(acct)), "100");
  EXPECT_EQ(Get("txc:{" + acct + "}:l:" + Wallet(acct)), "<nil>");
}

TEST_F(TwoPcTest, AbortRacingBetweenBindAndPrepareScriptWins) {
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const auto id = Branch(Unique("g"));
  Status abort_status;
  fault::ScopedFault f("redis.prepare.before_script",
                       fault::Spec::Callback([&] { abort_status = p_->Abort(id); }).Times(1));
  auto v = p_->Prepare(Call(id, "debit", {{"account", acct}, {"amount", "30"}}));
  ASSERT_TRUE(abort_status.ok()) << abort_status;
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->vote, Vote::kNo);
  EXPECT_EQ(p_->Commit(id).code(), Code::kConflict);
  EXPECT_EQ(Get("txc:{" + acct + "}:l:" + Wallet(acct)), "<nil>");
}

// Phase 2 of a branch this participant staged skips the index and key-list reads (branch
// cache). An entry made stale by another process finishing the branch still gets the answer
// the barrier gives.
TEST_F(TwoPcTest, CachedPhaseTwoAnswersFromTheBarrierWhenAnotherProcessFinished) {
  auto other = Make(0);
  ASSERT_NE(other, nullptr);
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const auto a = Branch(Unique("ga"));
  auto va = p_->Prepare(Call(a, "debit", {{"account", acct}, {"amount", "30"}}));
  ASSERT_TRUE(va.ok() && va->vote == Vote::kYes);
  ASSERT_TRUE(other->Abort(a).ok());
  EXPECT_EQ(p_->Commit(a).code(), Code::kConflict);
  EXPECT_TRUE(p_->Abort(a).ok());
  const auto b = Branch(Unique("gb"));
  auto vb = p_->Prepare(Call(b, "debit", {{"account", acct}, {"amount", "30"}}));
  ASSERT_TRUE(vb.ok() && vb->vote == Vote::kYes);
  ASSERT_TRUE(other->Commit(b).ok());
  EXPECT_EQ(p_->Abort(b).code(), Code::kConflict);
  EXPECT_TRUE(p_->Commit(b).ok());
  EXPECT_EQ(Get(Wallet(acct)), "70");
  EXPECT_EQ(Get("txc:{" + acct + "}:l:" + Wallet(acct)), "<nil>");
}

// The index gets its TTL only once the branch is final; the EXPIRE rides in the pipeline of the
// participant's next mutating call.
TEST_F(TwoPcTest, TheIndexGetsItsTtlOnlyOnceTheBranchIsFinal) {
  const std::string acct = Unique();
  const auto index = [](const participant::BranchId& id) {
    return "txc:i:" + id.coordinator + ":" + id.gid + ":" + id.branch;
  };
  const auto a = Branch(Unique("ga"));
  auto va = p_->Prepare(Call(a, "credit", {{"account", acct}, {"amount", "1"}}));
  ASSERT_TRUE(va.ok() && va->vote == Vote::kYes);
  EXPECT_EQ(Int({"TTL", index(a)}), -1);
  ASSERT_TRUE(p_->Commit(a).ok());
  const auto b = Branch(Unique("gb"));
  auto vb = p_->Prepare(Call(b, "credit", {{"account", acct}, {"amount", "1"}}));
  ASSERT_TRUE(vb.ok() && vb->vote == Vote::kYes);
  EXPECT_GT(Int({"TTL", index(a)}), 0);
  EXPECT_EQ(Int({"TTL", index(b)}), -1);  // prepared: never a TTL
  ASSERT_TRUE(p_->Abort(b).ok());
  EXPECT_TRUE(p_->Commit(Branch(Unique("unknown"))).code() == Code::kConflict);  // a read only
  EXPECT_EQ(Int({"TTL", index(b)}), -1);
  ASSERT_TRUE(p_->Abort(Branch(Unique("gc"))).ok());  // Abort's fence carries it
  EXPECT_GT(Int({"TTL", index(b)}), 0);
  EXPECT_EQ(Get(Wallet(acct)), "1");
}

TEST_F(TwoPcTest, CommitOfUnknownBranchIsAConflict) {
  EXPECT_EQ(p_->Commit(Branch(Unique("g"))).code(), Code::kConflict);
}

TEST_F(TwoPcTest, EachFailedGuardKindVotesNoAndChangesNothing) {
  const std::string acct = Unique();
  Set(Wallet(acct), "10");
  struct Case {
    std::string action;
    participant::Payload payload;
  };
  const std::vector<Case> cases = {
      {"debit", {{"account", acct}, {"amount", "11"}}},                 // >=
      {"bump", {{"account", acct}, {"max", "9"}}},                      // <=
      {"open", {{"account", acct}, {"initial", "5"}}},                  // not_exists
      {"close", {{"account", acct}}},                                   // ==
      {"close", {{"account", Unique("missing")}}},                      // exists
      {"debit", {{"account", acct}, {"amount", "99999999999999999"}}},  // big ints compare exactly
  };
  for (const Case& c : cases) {
    const auto id = Branch(Unique("g"));
    auto v = p_->Prepare(Call(id, c.action, c.payload));
    ASSERT_TRUE(v.ok()) << c.action << ": " << v.status();
    EXPECT_EQ(v->vote, Vote::kNo) << c.action;
    EXPECT_NE(v->reason.find("guard failed"), std::string::npos) << v->reason;
    auto dup = p_->Prepare(Call(id, c.action, c.payload));  // same answer again
    ASSERT_TRUE(dup.ok());
    EXPECT_EQ(dup->vote, Vote::kNo);
    EXPECT_TRUE(p_->Abort(id).ok());
  }
  EXPECT_EQ(Get(Wallet(acct)), "10");
  EXPECT_EQ(Get("txc:{" + acct + "}:l:" + Wallet(acct)), "<nil>");
  // And the passing side of each bound.
  const auto ok_id = Branch(Unique("g"));
  auto v = p_->Prepare(Call(ok_id, "debit", {{"account", acct}, {"amount", "10"}}));
  ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v->reason;
  ASSERT_TRUE(p_->Commit(ok_id).ok());
  EXPECT_EQ(Get(Wallet(acct)), "0");
}

TEST_F(TwoPcTest, WriteToNonIntegerVotesNo) {
  const std::string acct = Unique();
  Set(Wallet(acct), "abc");
  auto v = p_->Prepare(Call(Branch(Unique("g")), "credit", {{"account", acct}, {"amount", "1"}}));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->vote, Vote::kNo);
  EXPECT_NE(v->reason.find("not an integer"), std::string::npos) << v->reason;
}

TEST_F(TwoPcTest, GuardOnAKeyOfTheWrongTypeVotesNo) {
  const std::string acct = Unique();
  ASSERT_EQ(Int({"SADD", Wallet(acct), "m"}), 1);
  auto v = p_->Prepare(Call(Branch(Unique("g")), "debit", {{"account", acct}, {"amount", "1"}}));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->vote, Vote::kNo);
  EXPECT_NE(v->reason.find("holds a set"), std::string::npos) << v->reason;
}

TEST_F(TwoPcTest, ConcurrentPreparesOnOneKeyNeverBothSayYes) {
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const auto a = Branch(Unique("ga"));
  const auto b = Branch(Unique("gb"));
  Result<participant::PrepareResult> ra = Internal("not run"), rb = Internal("not run");
  std::thread ta([&] {
    ra = p_->Prepare(Call(a, "debit", {{"account", acct}, {"amount", "60"}}));
  });
  std::thread tb([&] {
    rb = p_->Prepare(Call(b, "debit", {{"account", acct}, {"amount", "60"}}));
  });
  ta.join();
  tb.join();
  ASSERT_TRUE(ra.ok() && rb.ok()) << ra.status() << rb.status();
  EXPECT_EQ((ra->vote == Vote::kYes) + (rb->vote == Vote::kYes), 1);
  const auto& loser = ra->vote == Vote::kYes ? *rb : *ra;
  EXPECT_NE(loser.reason.find("locked"), std::string::npos) << loser.reason;
  const auto& winner = ra->vote == Vote::kYes ? a : b;
  ASSERT_TRUE(p_->Commit(winner).ok());
  ASSERT_TRUE(p_->Abort(ra->vote == Vote::kYes ? b : a).ok());
  EXPECT_EQ(Get(Wallet(acct)), "40");
}

TEST_F(TwoPcTest, LockWaitLetsALaterPrepareProceedOnceTheHolderCommits) {
  auto w = StartLockWait(/*lock_wait_ms=*/5000);
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(p_->Commit(w->a).ok());
  w->thread.join();
  ASSERT_TRUE(w->vote.ok()) << w->vote.status();
  EXPECT_EQ(w->vote->vote, Vote::kYes) << w->vote->reason;
  ASSERT_TRUE(p_->Commit(w->b).ok());
  EXPECT_EQ(Get(Wallet(w->acct)), "10");
}

// Invariant under contention: concurrent debits through prepare/commit never overdraw and every
// yes is applied exactly once (start 100, 24 debits of 10 → exactly 10 succeed, balance 0).
TEST_F(TwoPcTest, ConcurrentDebitsNeverOverdraw) {
  auto waiting = Make(/*lock_wait_ms=*/5000);
  ASSERT_NE(waiting, nullptr);
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  std::atomic<int> yes{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        const auto id = Branch("debit-" + acct + "-" + std::to_string(t) + "-" + std::to_string(i));
        auto v = waiting->Prepare(Call(id, "debit", {{"account", acct}, {"amount", "10"}}));
        if (!v.ok()) {
          ++errors;
          continue;
        }
        const Status s = v->vote == Vote::kYes ? waiting->Commit(id) : waiting->Abort(id);
        if (!s.ok()) ++errors;
        if (v->vote == Vote::kYes) ++yes;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(yes.load(), 10);
  EXPECT_EQ(Get(Wallet(acct)), "0");
}

TEST_F(TwoPcTest, InDoubtListsExactlyTheUndecidedBranches) {
  ManualClock clock;
  auto p = Make(0, clock);
  ASSERT_NE(p, nullptr);
  // Unique to this run and mode (ctest runs both modes at once): the end of Unique() (its
  // clock and counter part), within the 32 bytes of a coordinator id.
  const std::string u = Unique();
  const std::string coord = "c-" + u.substr(u.size() - std::min<std::size_t>(u.size(), 30));
  std::vector<participant::BranchId> ids;
  for (int i = 0; i < 4; ++i) {
    const std::string acct = Unique();
    ids.push_back({coord, Unique("g"), "b" + std::to_string(i)});
    auto v = p->Prepare(Call(ids.back(), "credit", {{"account", acct}, {"amount", "1"}}));
    ASSERT_TRUE(v.ok() && v->vote == Vote::kYes);
  }
  ASSERT_TRUE(p->Commit(ids[0]).ok());
  ASSERT_TRUE(p->Abort(ids[1]).ok());
  auto listed = p->InDoubt(coord);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  std::vector<participant::BranchId> got = {(*listed)[0].id, (*listed)[1].id};
  std::vector<participant::BranchId> want = {ids[2], ids[3]};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ((*listed)[0].prepared_at,
            std::chrono::time_point_cast<std::chrono::milliseconds>(clock.WallNow()));
  auto all = p->InDoubt("");
  ASSERT_TRUE(all.ok());
  EXPECT_GE(all->size(), 2u);
  EXPECT_EQ(p->InDoubt("bad coordinator!").status().code(), Code::kInvalidArgument);
  ASSERT_TRUE(p->Abort(ids[2]).ok());
  ASSERT_TRUE(p->Commit(ids[3]).ok());
  EXPECT_TRUE(p->InDoubt(coord)->empty());
}

TEST_F(TwoPcTest, LostCommitReplyIsRetriedAndAppliedOnce) {
  const std::string acct = Unique();
  Set(Wallet(acct), "5");
  const auto id = Branch(Unique("g"));
  auto v = p_->Prepare(Call(id, "credit", {{"account", acct}, {"amount", "10"}}));
  ASSERT_TRUE(v.ok() && v->vote == Vote::kYes);
  {
    fault::ScopedFault f("redis.commit.after_script",
                         fault::Spec::Error(Code::kUnknownOutcome).Times(1));
    EXPECT_EQ(p_->Commit(id).code(), Code::kUnknownOutcome);
  }
  ASSERT_TRUE(p_->Commit(id).ok());
  EXPECT_EQ(Get(Wallet(acct)), "15");
}

TEST_F(TwoPcTest, ScriptCacheFlushFallsBackToEval) {
  const std::string acct = Unique();
  Set(Wallet(acct), "5");
  const auto id = Branch(Unique("g"));
  RawReply flushed = Cmd({"SCRIPT", "FLUSH"});
  ASSERT_TRUE(flushed && flushed->type == REDIS_REPLY_STATUS);
  auto v = p_->Prepare(Call(id, "credit", {{"account", acct}, {"amount", "1"}}));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->vote, Vote::kYes);
  flushed = Cmd({"SCRIPT", "FLUSH"});
  ASSERT_TRUE(p_->Commit(id).ok());
  EXPECT_EQ(Get(Wallet(acct)), "6");
}

// A plan past every small msgpack header (17 writes, keys of 300 bytes, binary values) staged
// by one participant and finished by another, which has no phase-2 cache entry: it reads the
// barrier's `keys` to declare them.
TEST_F(TwoPcTest, ALargeBinaryPlanIsFinishedByAnotherParticipant) {
  const std::string tag = Unique();
  auto key = [&](int i) {
    return "k" + std::to_string(i) + ":{" + tag + "}" + std::string(i * 18, 'p');
  };
  const std::string value("v\0}{\xff", 5);
  ASSERT_TRUE(p_->RegisterAction("wide", [&](const participant::Payload&) -> Result<ActionPlan> {
                  ActionPlan plan;
                  plan.guards.push_back({key(0), "", GuardOp::kNotExists, ""});
                  for (int i = 1; i <= 17; ++i) plan.writes.push_back({{"SET", key(i), value}});
                  return plan;
                }).ok());
  auto other = Make(0);
  ASSERT_NE(other, nullptr);
  const auto commit_me = Branch(Unique("g")), abort_me = Branch(Unique("g"));
  auto v = p_->Prepare(Call(commit_me, "wide", {}));
  ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v.status() << (v.ok() ? v->reason : "");
  ASSERT_TRUE(other->Commit(commit_me).ok());
  for (int i = 1; i <= 17; ++i) {
    EXPECT_EQ(Get(key(i)), value) << i;
    EXPECT_EQ(Get("txc:{" + tag + "}:l:" + key(i)), "<nil>") << i;
  }
  EXPECT_EQ(Get("txc:{" + tag + "}:l:" + key(0)), "<nil>");  // the guard's key was locked too

  for (int i = 1; i <= 17; ++i) Cmd({"DEL", key(i)});
  v = p_->Prepare(Call(abort_me, "wide", {}));
  ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v.status();
  EXPECT_EQ(Get("txc:{" + tag + "}:l:" + key(17)), participant::PreparedName(abort_me));
  ASSERT_TRUE(other->Abort(abort_me).ok());
  for (int i = 0; i <= 17; ++i) {
    EXPECT_EQ(Get(key(i)), "<nil>") << i;
    EXPECT_EQ(Get("txc:{" + tag + "}:l:" + key(i)), "<nil>") << i;
  }
}

// Records of a branch prepared by the scripts before the barrier kept its data keys in `keys`:
// the lock keys in the barrier's `locks`, and a key list txc:{tag}:k:<...>. A participant of
// this version commits or aborts such a branch (after an upgrade) and leaves nothing behind.
TEST_F(TwoPcTest, ABranchPreparedByTheEarlierLayoutCommitsAndAborts) {
  for (const bool commit : {true, false}) {
    const std::string acct = Unique();
    Set(Wallet(acct), "10");
    const auto id = Branch(Unique("g"));
    const std::string member = participant::PreparedName(id);
    const std::string rest = id.coordinator + ":" + id.gid + ":" + id.branch;
    const std::string barrier = "txc:{" + acct + "}:b:" + rest;
    const std::string list = "txc:{" + acct + "}:k:" + rest;
    const std::string lock = "txc:{" + acct + "}:l:" + Wallet(acct);
    const std::string prepared = "txc:{" + acct + "}:prepared";
    RawReply packed = Cmd({"EVAL",
                           "return {cmsgpack.pack({{'INCRBY', ARGV[1], '5'}}), "
                           "cmsgpack.pack({ARGV[2]})}",
                           "0", Wallet(acct), lock});
    ASSERT_TRUE(packed && packed->type == REDIS_REPLY_ARRAY && packed->elements == 2);
    const std::string writes(packed->element[0]->str, packed->element[0]->len);
    const std::string locks(packed->element[1]->str, packed->element[1]->len);
    Cmd({"SET", "txc:i:" + rest, acct});
    Cmd({"SET", lock, member});
    Cmd({"HSET", barrier, "state", "prepared", "at", "1", "writes", writes, "locks", locks});
    Cmd({"RPUSH", list, Wallet(acct)});
    Cmd({"ZADD", prepared, "1", member});

    ASSERT_TRUE((commit ? p_->Commit(id) : p_->Abort(id)).ok()) << commit;
    EXPECT_EQ(Get(Wallet(acct)), commit ? "15" : "10");
    EXPECT_EQ(Get(lock), "<nil>");
    EXPECT_EQ(Int({"EXISTS", list}), 0);
    EXPECT_EQ(Int({"HEXISTS", barrier, "locks"}), 0);
    EXPECT_EQ(Int({"HEXISTS", barrier, "writes"}), 0);
    EXPECT_EQ(Int({"ZCARD", prepared}), 0);
    RawReply state = Cmd({"HGET", barrier, "state"});
    ASSERT_TRUE(state && state->type == REDIS_REPLY_STRING);
    EXPECT_EQ(std::string(state->str, state->len), commit ? "committed" : "aborted");
    EXPECT_TRUE((commit ? p_->Commit(id) : p_->Abort(id)).ok());  // idempotent
  }
}

}  // namespace
}  // namespace txcoord::redis::testing
