// Connections lost at the worst moment: the server end of the adapter's connection is killed
// (pg_terminate_backend) just before COMMIT PREPARED / the saga's local COMMIT is sent. The
// call answers kUnknownOutcome and retrying the same call resolves it exactly once.
#include "pg_fixture.h"
#include "txcoord/core/fault.h"

namespace txcoord::postgres::testing {
namespace {

using participant::Vote;

class PgFailureTest : public PgTest {
 protected:
  // A participant with its own application_name, so only its connections get killed.
  std::unique_ptr<PostgresParticipant> MakeKillable() {
    app_ = "k" + coordinator_;
    return Make(R"J(,"name":")J" + app_ + R"J(")J");
  }
  // Terminates every backend of this test's participant and waits until they are gone.
  fault::Spec KillBackends() {
    return fault::Spec::Callback([this] {
             PGconn* c = PQconnectdb(dsn_.c_str());
             PQsetNoticeProcessor(
                 c, [](void*, const char*) {}, nullptr);
             const std::string sql =
                 "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                 "WHERE application_name = 'txcoord:" +
                 app_ + "'";
             PQclear(PQexec(c, sql.c_str()));
             PQfinish(c);
           })
        .Times(1);
  }
  std::string app_;
};

TEST_F(PgFailureTest, ConnectionLostBeforeCommitPreparedIsUnknownAndRetryCommitsOnce) {
  auto p = MakeKillable();
  ASSERT_TRUE(p);
  auto r = p->Prepare(Call("g1", "debit", {{"account", "alice"}, {"amount", "10"}}));
  ASSERT_TRUE(r.ok() && r->vote == Vote::kYes) << r.status();
  {
    fault::ScopedFault kill("pg.commit.before_commit_prepared", KillBackends());
    Status s = p->Commit(Id("g1"));
    EXPECT_EQ(s.code(), Code::kUnknownOutcome) << s;
  }
  EXPECT_EQ(PreparedCount(), 1);  // it never reached the server
  ASSERT_TRUE(p->Commit(Id("g1")).ok());
  ASSERT_TRUE(p->Commit(Id("g1")).ok());
  EXPECT_EQ(Balance("alice"), "90");
}

TEST_F(PgFailureTest, ConnectionLostBeforeLocalCommitIsUnknownAndRetryExecutesOnce) {
  auto p = MakeKillable();
  ASSERT_TRUE(p);
  const auto call = Call("s1", "debit", {{"account", "alice"}, {"amount", "10"}});
  {
    fault::ScopedFault kill("pg.saga.before_commit", KillBackends());
    auto r = p->Execute(call);
    EXPECT_EQ(r.status().code(), Code::kUnknownOutcome) << r.status();
  }
  for (int i = 0; i < 2; ++i) {
    auto r = p->Execute(call);
    ASSERT_TRUE(r.ok() && r->outcome == participant::Outcome::kDone) << r.status();
  }
  EXPECT_EQ(Balance("alice"), "90");
}

TEST_F(PgFailureTest, ConnectionLostDuringPrepareLeavesNoBranch) {
  auto p = MakeKillable();
  ASSERT_TRUE(p);
  const auto call = Call("g1", "debit", {{"account", "alice"}, {"amount", "10"}});
  {
    fault::ScopedFault kill("pg.prepare.before_prepare_transaction", KillBackends());
    auto r = p->Prepare(call);
    EXPECT_EQ(r.status().code(), Code::kUnknownOutcome) << r.status();
  }
  EXPECT_EQ(PreparedCount(), 0);
  auto again = p->Prepare(call);  // the retry finds nothing prepared and prepares
  ASSERT_TRUE(again.ok() && again->vote == Vote::kYes) << again.status();
  ASSERT_TRUE(p->Abort(Id("g1")).ok());
  EXPECT_EQ(Balance("alice"), "100");
}

// Prepare sends BEGIN, the barrier insert and the action in one libpq pipeline: a connection
// that dies in the middle of it (here the action's second statement kills its own backend)
// applies nothing, answers kUnavailable, and the pool replaces the connection.
TEST_F(PgTest, ConnectionLostInsideThePreparePipelineAppliesNothing) {
  std::string json = ConfigJson(R"(,"pool_size":1)");
  const std::string die = R"J("die":{"sql":["UPDATE )J" + table_ +
                          R"J( SET balance = balance - :amount WHERE id = :account",
      "SELECT pg_terminate_backend(pg_backend_pid())"]},)J";
  json.insert(json.find(R"("actions":{)") + 11, die);
  auto cfg = ParseConfigText(json);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto created = PostgresParticipant::Create(std::move(cfg).value());
  ASSERT_TRUE(created.ok()) << created.status();
  auto& p = *created;
  ASSERT_TRUE(p);
  auto r = p->Prepare(Call("g1", "die", {{"account", "alice"}, {"amount", "10"}}));
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status();
  EXPECT_EQ(PreparedCount(), 0);
  EXPECT_EQ(BarrierRows(), 0);
  EXPECT_EQ(Balance("alice"), "100");
  auto ok = p->Prepare(Call("g2", "debit", {{"account", "alice"}, {"amount", "10"}}));
  ASSERT_TRUE(ok.ok() && ok->vote == Vote::kYes) << ok.status();
  ASSERT_TRUE(p->Commit(Id("g2")).ok());
  EXPECT_EQ(Balance("alice"), "90");
}

TEST_F(PgTest, AbortDuringAnInFlightPrepareAnswersUnavailableInsteadOfBlocking) {
  auto p = Make();
  ASSERT_TRUE(p);
  Status during;
  {
    // Runs on the Prepare's thread after its barrier row and action, before PREPARE: the
    // Abort's fence insert meets the uncommitted key and gives up after lock_timeout.
    fault::ScopedFault f("pg.prepare.before_prepare_transaction",
                         fault::Spec::Callback([&] { during = p->Abort(Id("g1")); }).Times(1));
    auto r = p->Prepare(Call("g1", "debit", {{"account", "alice"}, {"amount", "10"}}));
    ASSERT_TRUE(r.ok() && r->vote == Vote::kYes) << r.status();
  }
  EXPECT_EQ(during.code(), Code::kUnavailable) << during;
  ASSERT_TRUE(p->Abort(Id("g1")).ok());  // the retry finds it prepared and rolls it back
  EXPECT_EQ(PreparedCount(), 0);
  EXPECT_EQ(Balance("alice"), "100");
  EXPECT_EQ(p->Commit(Id("g1")).code(), Code::kConflict);
}

TEST_F(PgTest, CompensateDuringAnInFlightExecuteAnswersUnavailableThenUndoes) {
  auto p = Make();
  ASSERT_TRUE(p);
  const auto comp = Call("s1", "credit", {{"account", "alice"}, {"amount", "10"}});
  Status during;
  {
    fault::ScopedFault f("pg.saga.before_commit",
                         fault::Spec::Callback([&] { during = p->Compensate(comp); }).Times(1));
    auto r = p->Execute(Call("s1", "debit", {{"account", "alice"}, {"amount", "10"}}));
    ASSERT_TRUE(r.ok() && r->outcome == participant::Outcome::kDone) << r.status();
  }
  EXPECT_EQ(during.code(), Code::kUnavailable) << during;
  EXPECT_EQ(Balance("alice"), "90");
  ASSERT_TRUE(p->Compensate(comp).ok());
  EXPECT_EQ(Balance("alice"), "100");
}

TEST_F(PgTest, StatementTimeoutVotesNoInPrepareAndIsRetryableInExecute) {
  auto p = Make(R"J(,"statement_timeout_ms":200)J");
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->RegisterAction("slow", {}, [](PgTx& tx, const Payload&) -> Result<ActionVerdict> {
                 TXC_RETURN_IF_ERROR(tx.Exec("SELECT pg_sleep(2)").status());
                 return ActionVerdict::Ok();
               }).ok());
  auto r = p->Prepare(Call("g1", "slow", {}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->vote, Vote::kNo);
  EXPECT_NE(r->reason.find("57014"), std::string::npos) << r->reason;
  auto e = p->Execute(Call("s1", "slow", {}));
  EXPECT_EQ(e.status().code(), Code::kUnavailable) << e.status();
  EXPECT_EQ(PreparedCount(), 0);
  EXPECT_EQ(BarrierRows(), 0);
}

}  // namespace
}  // namespace txcoord::postgres::testing
