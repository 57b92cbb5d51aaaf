// 2PC against the real PostgreSQL: happy paths, votes no, duplicated and reordered delivery,
// concurrency on one row, in-doubt listing, bad input, C++ actions, purge and pool limits.
#include <atomic>
#include <future>

#include "pg_fixture.h"
#include "txcoord/core/fault.h"
#include "txcoord/testing/poll.h"

namespace txcoord::postgres::testing {
namespace {

using participant::Vote;

// Registers the C++ action `name`: it signals `entered` once it runs, then holds its transaction
// (and its pooled connection) until `released` is ready.
Status RegisterHeld(PostgresParticipant& p, const std::string& name, std::promise<void>& entered,
                    std::shared_future<void> released) {
  return p.RegisterAction(name, {},
                          [&entered, released](PgTx&, const Payload&) -> Result<ActionVerdict> {
                            entered.set_value();
                            released.wait();
                            return ActionVerdict::Ok();
                          });
}

TEST_F(PgTest, PrepareThenCommitAppliesOnlyAtCommit) {
  auto p = Make();
  ASSERT_TRUE(p);
  auto r = p->Prepare(Call("g1", "transfer", {{"from", "alice"}, {"to", "bob"}, {"amount", "30"}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->vote, Vote::kYes) << r->reason;
  EXPECT_EQ(PreparedCount(), 1);
  EXPECT_EQ(Balance("alice"), "100");  // invisible until committed
  ASSERT_TRUE(p->Commit(Id("g1")).ok());
  EXPECT_EQ(Balance("alice"), "70");
  EXPECT_EQ(Balance("bob"), "80");
  EXPECT_EQ(PreparedCount(), 0);
}

TEST_F(PgTest, PrepareThenAbortDiscards) {
  auto p = Make();
  ASSERT_TRUE(p);
  auto r = p->Prepare(Call("g1", "debit", {{"account", "alice"}, {"amount", "30"}}));
  ASSERT_TRUE(r.ok() && r->vote == Vote::kYes) << r.status();
  ASSERT_TRUE(p->Abort(Id("g1")).ok());
  EXPECT_EQ(Balance("alice"), "100");
  EXPECT_EQ(PreparedCount(), 0);
  // Aborted branches cannot be committed afterwards.
  EXPECT_EQ(p->Commit(Id("g1")).code(), Code::kConflict);
}

TEST_F(PgTest, FailedCheckConstraintVotesNoAndLeavesNothing) {
  auto p = Make();
  ASSERT_TRUE(p);
  auto r = p->Prepare(Call("g1", "debit", {{"account", "alice"}, {"amount", "101"}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->vote, Vote::kNo);
  EXPECT_NE(r->reason.find("23514"), std::string::npos) << r->reason;
  EXPECT_EQ(PreparedCount(), 0);
  EXPECT_EQ(BarrierRows(), 0);
  EXPECT_EQ(Balance("alice"), "100");
  EXPECT_TRUE(p->Abort(Id("g1")).ok());  // the coordinator's abort after a "no" is fine
}

TEST_F(PgTest, WrongRowCountVotesNo) {
  auto p = Make();
  ASSERT_TRUE(p);
  auto r = p->Prepare(Call("g1", "debit", {{"account", "nobody"}, {"amount", "1"}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->vote, Vote::kNo);
  EXPECT_NE(r->reason.find("0 rows affected, expected 1"), std::string::npos) << r->reason;
  EXPECT_EQ(PreparedCount(), 0);
}

// Prepare pipelines BEGIN, the barrier insert and every statement: a later statement's failure
// must still roll back the earlier ones and the barrier row.
TEST_F(PgTest, ALaterStatementFailingInThePipelineRollsBackEverything) {
  auto p = Make();
  ASSERT_TRUE(p);
  auto r =
      p->Prepare(Call("g1", "transfer", {{"from", "alice"}, {"to", "nobody"}, {"amount", "10"}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->vote, Vote::kNo);
  EXPECT_NE(r->reason.find("statement 2: 0 rows affected, expected 1"), std::string::npos)
      << r->reason;
  auto bad =
      p->Prepare(Call("g2", "transfer", {{"from", "alice"}, {"to", "bob"}, {"amount", "x"}}));
  EXPECT_EQ(bad.status().code(), Code::kFailedPrecondition) << bad.status();  // 22P02
  EXPECT_EQ(PreparedCount(), 0);
  EXPECT_EQ(BarrierRows(), 0);
  EXPECT_EQ(Balance("alice"), "100");
  // The pooled connections are still usable.
  auto ok =
      p->Prepare(Call("g3", "transfer", {{"from", "alice"}, {"to", "bob"}, {"amount", "10"}}));
  ASSERT_TRUE(ok.ok() && ok->vote == Vote::kYes) << ok.status();
  ASSERT_TRUE(p->Commit(Id("g3")).ok());
  EXPECT_EQ(Balance("alice"), "90");
  EXPECT_EQ(Balance("bob"), "60");
}

// A duplicate Prepare of a prepared branch must not wait for the prepared transaction's locks
// (barrier row, action rows): the guarded insert sees it in pg_prepared_xacts and skips.
TEST_F(PgTest, DuplicatePrepareOfAPreparedBranchDoesNotWaitForItsLocks) {
  auto p = Make(R"(,"lock_timeout_ms":5000)");
  ASSERT_TRUE(p);
  const auto call = Call("g1", "debit", {{"account", "alice"}, {"amount", "10"}});
  auto first = p->Prepare(call);
  ASSERT_TRUE(first.ok() && first->vote == Vote::kYes) << first.status();
  const auto t0 = std::chrono::steady_clock::now();
  auto dup = p->Prepare(call);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_EQ(dup->vote, Vote::kYes);
  EXPECT_LT(took, std::chrono::milliseconds(2500));  // a lock wait would take the full 5 s
  ASSERT_TRUE(p->Commit(Id("g1")).ok());
  EXPECT_EQ(Balance("alice"), "90");
}

// The barrier insert of a duplicate of a Prepare still in flight waits only briefly for the key,
// then answers "retry" instead of waiting lock_timeout.
TEST_F(PgTest, DuplicatePrepareOfABranchInFlightAnswersRetryQuickly) {
  auto p = Make(R"(,"lock_timeout_ms":5000)");
  ASSERT_TRUE(p);
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  ASSERT_TRUE(RegisterHeld(*p, "held", entered, released).ok());
  const auto call = Call("g1", "held", {});
  auto first = std::async(std::launch::async, [&] { return p->Prepare(call); });
  entered.get_future().wait();  // its barrier row is inserted, not yet prepared
  const auto t0 = std::chrono::steady_clock::now();
  auto dup = p->Prepare(call);
  const auto took = std::chrono::steady_clock::now() - t0;
  release.set_value();
  EXPECT_EQ(dup.status().code(), Code::kUnavailable) << dup.status();
  EXPECT_NE(dup.status().message().find("in flight"), std::string::npos) << dup.status();
  EXPECT_LT(took, std::chrono::milliseconds(2500));  // lock_timeout would take 5 s
  auto r = first.get();
  ASSERT_TRUE(r.ok() && r->vote == Vote::kYes) << r.status();
  ASSERT_TRUE(p->Commit(Id("g1")).ok());
}

// The short wait is for the barrier key only: the action's statements wait for a row lock up to
// the configured lock_timeout.
TEST_F(PgTest, PrepareWaitsTheConfiguredLockTimeoutForARowLock) {
  auto p = Make(R"(,"lock_timeout_ms":5000)");
  ASSERT_TRUE(p);
  Sql("BEGIN");
  Sql("SELECT balance FROM " + table_ + " WHERE id = 'alice' FOR UPDATE");
  const std::string holder = Scalar("SELECT xid(pg_current_xact_id())::text");
  auto prepare = std::async(std::launch::async, [&] {
    return p->Prepare(Call("g1", "debit", {{"account", "alice"}, {"amount", "10"}}));
  });
  // Well past the barrier's short wait, the prepare still waits for the row (for the holder's
  // transaction).
  const bool waited = ::txcoord::testing::Eventually([&] {
    return Scalar(
               "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = "
               "'transactionid' AND transactionid::text = '" +
               holder + "' AND waitstart < clock_timestamp() - interval '200 ms'") != "0";
  });
  Sql("COMMIT");
  ASSERT_TRUE(waited);
  auto r = prepare.get();
  ASSERT_TRUE(r.ok() && r->vote == Vote::kYes) << r.status() << " " << (r.ok() ? r->reason : "");
  ASSERT_TRUE(p->Commit(Id("g1")).ok());
  EXPECT_EQ(Balance("alice"), "90");
}

TEST_F(PgTest, DuplicatedPrepareCommitAndAbortAreIdempotent) {
  auto p = Make();
  ASSERT_TRUE(p);
  const auto call = Call("g1", "debit", {{"account", "alice"}, {"amount", "10"}});
  for (int i = 0; i < 2; ++i) {
    auto r = p->Prepare(call);
    ASSERT_TRUE(r.ok() && r->vote == Vote::kYes) << r.status();
  }
  EXPECT_TRUE(p->Commit(Id("g1")).ok());
  EXPECT_TRUE(p->Commit(Id("g1")).ok());
  auto late = p->Prepare(call);  // after commit: same answer, not applied again
  ASSERT_TRUE(late.ok() && late->vote == Vote::kYes) << late.status();
  EXPECT_EQ(Balance("alice"), "90");
  EXPECT_EQ(p->Abort(Id("g1")).code(), Code::kConflict);  // abort after commit

  auto r2 = p->Prepare(Call("g2", "debit", {{"account", "alice"}, {"amount", "10"}}));
  ASSERT_TRUE(r2.ok() && r2->vote == Vote::kYes);
  EXPECT_TRUE(p->Abort(Id("g2")).ok());
  EXPECT_TRUE(p->Abort(Id("g2")).ok());
  EXPECT_EQ(Balance("alice"), "90");
}

TEST_F(PgTest, AbortBeforePrepareFencesTheLatePrepare) {
  auto p = Make();
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Abort(Id("g1")).ok());
  auto r = p->Prepare(Call("g1", "debit", {{"account", "alice"}, {"amount", "10"}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->vote, Vote::kNo);
  EXPECT_NE(r->reason.find("already aborted"), std::string::npos) << r->reason;
  EXPECT_EQ(PreparedCount(), 0);
  EXPECT_EQ(Balance("alice"), "100");
  EXPECT_TRUE(p->Abort(Id("g1")).ok());
  Status c = p->Commit(Id("g1"));
  EXPECT_EQ(c.code(), Code::kConflict);
  EXPECT_NE(c.message().find("aborted"), std::string::npos) << c;
}

TEST_F(PgTest, CommitOfANeverPreparedBranchIsAConflict) {
  auto p = Make();
  ASSERT_TRUE(p);
  Status c = p->Commit(Id("never"));
  EXPECT_EQ(c.code(), Code::kConflict);
  EXPECT_NE(c.message().find("never prepared"), std::string::npos) << c;
}

TEST_F(PgTest, LostCommitAnswerIsResolvedByRetryingThroughTheBarrier) {
  auto p = Make();
  ASSERT_TRUE(p);
  auto r = p->Prepare(Call("g1", "debit", {{"account", "alice"}, {"amount", "5"}}));
  ASSERT_TRUE(r.ok() && r->vote == Vote::kYes);
  {
    fault::ScopedFault lost("pg.commit.after_commit_prepared",
                            fault::Spec::Error(Code::kUnknownOutcome));
    EXPECT_EQ(p->Commit(Id("g1")).code(), Code::kUnknownOutcome);
  }
  EXPECT_TRUE(p->Commit(Id("g1")).ok());  // 42704 → barrier row committed → ok
  EXPECT_EQ(Balance("alice"), "95");
}

TEST_F(PgTest, FailureBeforePrepareTransactionVotesNothingAndLeavesNothing) {
  auto p = Make();
  ASSERT_TRUE(p);
  {
    fault::ScopedFault f("pg.prepare.before_prepare_transaction",
                         fault::Spec::Error(Code::kUnavailable));
    auto r = p->Prepare(Call("g1", "debit", {{"account", "alice"}, {"amount", "5"}}));
    EXPECT_EQ(r.status().code(), Code::kUnavailable);
  }
  EXPECT_EQ(PreparedCount(), 0);
  EXPECT_EQ(BarrierRows(), 0);
  auto again = p->Prepare(Call("g1", "debit", {{"account", "alice"}, {"amount", "5"}}));
  ASSERT_TRUE(again.ok() && again->vote == Vote::kYes);
}

TEST_F(PgTest, ConcurrentPreparesOnOneRowNeverBothSucceed) {
  auto p = Make();
  ASSERT_TRUE(p);
  auto prepare = [&](const std::string& gid) {
    return p->Prepare(Call(gid, "debit", {{"account", "alice"}, {"amount", "60"}}));
  };
  auto a = std::async(std::launch::async, prepare, "ga");
  auto b = std::async(std::launch::async, prepare, "gb");
  auto ra = a.get(), rb = b.get();
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_TRUE(rb.ok()) << rb.status();
  // The loser waited lock_timeout (300 ms) for the winner's row lock, then voted no.
  EXPECT_EQ((ra->vote == Vote::kYes) + (rb->vote == Vote::kYes), 1)
      << ra->reason << " / " << rb->reason;
  const auto& loser = ra->vote == Vote::kNo ? *ra : *rb;
  EXPECT_NE(loser.reason.find("retry the transaction"), std::string::npos) << loser.reason;
  const std::string winner = ra->vote == Vote::kYes ? "ga" : "gb";
  ASSERT_TRUE(p->Commit(Id(winner)).ok());
  ASSERT_TRUE(p->Abort(Id(winner == "ga" ? "gb" : "ga")).ok());
  EXPECT_EQ(Balance("alice"), "40");
}

TEST_F(PgTest, InDoubtListsExactlyTheUndecidedBranches) {
  auto p = Make();
  ASSERT_TRUE(p);
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds(5);
  for (const char* gid : {"g1", "g2", "g3"}) {  // distinct rows: no lock conflicts
    auto r = p->Prepare(Call(gid, "note", {{"id", gid}, {"body", "x"}}));
    ASSERT_TRUE(r.ok() && r->vote == Vote::kYes) << r.status() << (r.ok() ? r->reason : "");
  }
  auto other = p->Prepare(Call("g9", "note", {{"id", "g9"}, {"body", "x"}}, "other"));
  ASSERT_TRUE(other.ok() && other->vote == Vote::kYes);
  ASSERT_TRUE(p->Commit(Id("g1")).ok());
  ASSERT_TRUE(p->Abort(Id("g2")).ok());
  auto list = p->InDoubt(coordinator_);
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<BranchId> ids;
  for (const auto& b : *list) {
    ids.push_back(b.id);
    EXPECT_GT(b.prepared_at, before);
    EXPECT_LT(b.prepared_at, std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<BranchId>{Id("g3"), Id("g9", "other")}));
  auto all = p->InDoubt("");
  ASSERT_TRUE(all.ok());
  EXPECT_GE(all->size(), 2u);
  EXPECT_EQ(p->InDoubt("bad id!").status().code(), Code::kInvalidArgument);
}

TEST_F(PgTest, BadCallsGiveClearErrorsAndChangeNothing) {
  auto p = Make();
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->Validate("debit", {{"account", "a"}, {"amount", "1"}}).ok());
  Status missing = p->Validate("debit", {{"account", "a"}});
  EXPECT_EQ(missing.code(), Code::kInvalidArgument);
  EXPECT_NE(missing.message().find("\"amount\""), std::string::npos) << missing;
  Status unknown = p->Validate("steal", {});
  EXPECT_EQ(unknown.code(), Code::kInvalidArgument);
  EXPECT_NE(unknown.message().find("unknown action"), std::string::npos) << unknown;
  EXPECT_EQ(p->Validate("note", {{"id", "x"}, {"body", std::string("a\0b", 3)}}).code(),
            Code::kInvalidArgument);

  EXPECT_EQ(p->Prepare(Call("g1", "debit", {{"account", "alice"}})).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(p->Prepare(Call("g1", "nope", {})).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(p->Prepare(Call("bad gid!", "debit", {{"account", "alice"}, {"amount", "1"}}))
                .status()
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(p->Commit(Id("g1", "")).code(), Code::kInvalidArgument);
  EXPECT_EQ(p->Abort(Id(std::string(200, 'x'))).code(), Code::kInvalidArgument);
  EXPECT_EQ(p->Execute(Call("g1", "credit", {{"amount", "1"}})).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(p->Compensate(Call("g1", "credit", {})).code(), Code::kInvalidArgument);
  // A value of the wrong type reaches PostgreSQL as a bound parameter and is refused there.
  auto typed = p->Prepare(Call("g2", "debit", {{"account", "alice"}, {"amount", "ten"}}));
  EXPECT_FALSE(typed.ok() && typed->vote == Vote::kYes);
  EXPECT_EQ(PreparedCount(), 0);
  EXPECT_EQ(BarrierRows(), 0);
  EXPECT_EQ(Balance("alice"), "100");
}

TEST_F(PgTest, SqlInjectionInAPayloadValueIsStoredLiterally) {
  auto p = Make();
  ASSERT_TRUE(p);
  const std::string evil = "x'); DROP TABLE " + table_ + "; --";
  auto r = p->Prepare(Call("g1", "note", {{"id", "n1"}, {"body", evil}}));
  ASSERT_TRUE(r.ok() && r->vote == Vote::kYes) << r.status() << (r.ok() ? r->reason : "");
  ASSERT_TRUE(p->Commit(Id("g1")).ok());
  EXPECT_EQ(Scalar("SELECT body FROM " + notes_ + " WHERE id = 'n1'"), evil);
  EXPECT_EQ(Balance("alice"), "100");  // the table is still there
}

TEST_F(PgTest, CppRegisteredActionsRunInsideThePreparedTransaction) {
  auto p = Make();
  ASSERT_TRUE(p);
  const std::string t = table_;
  ASSERT_TRUE(
      p->RegisterAction("pay", {"from", "amount"},
                        [t](PgTx& tx, const Payload& pl) -> Result<ActionVerdict> {
                          TXC_ASSIGN_OR_RETURN(QueryResult q, tx.Exec("SELECT balance FROM " + t +
                                                                          " WHERE id = $1 "
                                                                          "FOR UPDATE",
                                                                      {pl.at("from")}));
                          if (q.rows.empty()) return ActionVerdict::Refuse("no such account");
                          if (std::stoll(*q.rows[0][0]) < std::stoll(pl.at("amount"))) {
                            return ActionVerdict::Refuse("insufficient funds");
                          }
                          TXC_ASSIGN_OR_RETURN(QueryResult u,
                                               tx.Exec("UPDATE " + t +
                                                           " SET balance = balance - $2::bigint "
                                                           "WHERE id = $1",
                                                       {pl.at("from"), pl.at("amount")}));
                          if (u.affected != 1) return Internal("row vanished");
                          return ActionVerdict::Ok();
                        })
          .ok());
  EXPECT_EQ(p->RegisterAction(
                 "pay", {},
                 [](PgTx&, const Payload&) -> Result<ActionVerdict> { return ActionVerdict::Ok(); })
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(p->RegisterAction(
                 "debit", {},
                 [](PgTx&, const Payload&) -> Result<ActionVerdict> { return ActionVerdict::Ok(); })
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(p->Validate("pay", {{"from", "alice"}}).code(), Code::kInvalidArgument);

  auto yes = p->Prepare(Call("g1", "pay", {{"from", "alice"}, {"amount", "60"}}));
  ASSERT_TRUE(yes.ok() && yes->vote == Vote::kYes) << yes.status();
  ASSERT_TRUE(p->Commit(Id("g1")).ok());
  EXPECT_EQ(Balance("alice"), "40");
  auto no = p->Prepare(Call("g2", "pay", {{"from", "alice"}, {"amount", "60"}}));
  ASSERT_TRUE(no.ok());
  EXPECT_EQ(no->vote, Vote::kNo);
  EXPECT_NE(no->reason.find("insufficient funds"), std::string::npos) << no->reason;
  auto saga = p->Execute(Call("g3", "pay", {{"from", "alice"}, {"amount", "40"}}));
  ASSERT_TRUE(saga.ok() && saga->outcome == participant::Outcome::kDone) << saga.status();
  EXPECT_EQ(Balance("alice"), "0");
}

TEST_F(PgTest, PurgeDeletesOnlyRowsOlderThanTheHorizon) {
  auto p = Make();
  ASSERT_TRUE(p);
  auto r = p->Execute(Call("g1", "credit", {{"account", "bob"}, {"amount", "1"}}));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(p->Abort(Id("g2")).ok());  // a fence row
  auto prepared = p->Prepare(Call("g3", "credit", {{"account", "bob"}, {"amount", "1"}}));
  ASSERT_TRUE(prepared.ok() && prepared->vote == Vote::kYes);
  ASSERT_EQ(BarrierRows(), 2);  // the prepared branch's row is not visible (undecided)
  auto none = p->PurgeBarrier(std::chrono::hours(1));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(BarrierRows(), 2);
  Sql("UPDATE txc_barrier SET created_at = now() - interval '2 hours' WHERE coordinator = '" +
      coordinator_ + "'");
  auto purged = p->PurgeBarrier(std::chrono::hours(1));
  ASSERT_TRUE(purged.ok()) << purged.status();
  // Not EXPECT_GE(*purged, 2): BackgroundPurgeRemovesOldRows may run in parallel and delete
  // these aged rows first.
  EXPECT_EQ(BarrierRows(), 0);
  ASSERT_TRUE(p->Commit(Id("g3")).ok());  // the undecided branch survived the purge
  EXPECT_EQ(BarrierRows(), 1);
  EXPECT_EQ(p->PurgeBarrier(std::chrono::seconds(-1)).status().code(), Code::kInvalidArgument);
}

TEST_F(PgTest, ExhaustedPoolAnswersUnavailableAfterTheWait) {
  auto p = Make(R"(,"pool_size":1,"pool_wait_ms":200)");
  ASSERT_TRUE(p);
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  ASSERT_TRUE(RegisterHeld(*p, "hold", entered, released).ok());
  auto holder = std::async(std::launch::async, [&] { return p->Execute(Call("g1", "hold", {})); });
  entered.get_future().wait();
  const auto t0 = std::chrono::steady_clock::now();
  auto blocked = p->InDoubt(coordinator_);
  EXPECT_EQ(blocked.status().code(), Code::kUnavailable) << blocked.status();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(150));
  release.set_value();
  auto held = holder.get();
  ASSERT_TRUE(held.ok() && held->outcome == participant::Outcome::kDone) << held.status();
  EXPECT_TRUE(p->InDoubt(coordinator_).ok());
}

TEST_F(PgTest, PrepareRefusedAfterATempTableVotesNo) {
  auto p = Make();
  ASSERT_TRUE(p);
  ASSERT_TRUE(
      p->RegisterAction("scratch", {}, [](PgTx& tx, const Payload&) -> Result<ActionVerdict> {
         TXC_RETURN_IF_ERROR(tx.Exec("CREATE TEMP TABLE scratch (i int)").status());
         return ActionVerdict::Ok();
       }).ok());
  auto r = p->Prepare(Call("g1", "scratch", {}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->vote, Vote::kNo);
  EXPECT_NE(r->reason.find("0A000"), std::string::npos) << r->reason;
  EXPECT_EQ(PreparedCount(), 0);
  EXPECT_EQ(BarrierRows(), 0);
  // The pool is still usable afterwards.
  auto ok = p->Prepare(Call("g2", "debit", {{"account", "alice"}, {"amount", "1"}}));
  ASSERT_TRUE(ok.ok() && ok->vote == Vote::kYes);
}

TEST_F(PgTest, BackgroundPurgeRemovesOldRows) {
  auto p = Make(R"J(,"purge_interval_ms":50,"purge_horizon_s":3600)J");
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Abort(Id("g1")).ok());
  ASSERT_TRUE(p->Execute(Call("g2", "credit", {{"account", "bob"}, {"amount", "1"}})).ok());
  EXPECT_EQ(BarrierRows(), 2);  // fresh rows stay
  Sql("UPDATE txc_barrier SET created_at = now() - interval '2 hours' WHERE coordinator = '" +
      coordinator_ + "'");
  ::txcoord::testing::Eventually([&] { return BarrierRows() == 0; });
  EXPECT_EQ(BarrierRows(), 0);
}

}  // namespace
}  // namespace txcoord::postgres::testing
