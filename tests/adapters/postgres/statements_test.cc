// Statements prepared once per pooled connection (`prepared_statements`): reused across calls,
// off when configured so, and a plan gone stale after a table change costs one retried call.
#include "pg_fixture.h"

namespace txcoord::postgres::testing {
namespace {

using participant::Outcome;
using participant::Vote;

class PgStatementsTest : public PgTest {
 protected:
  // The statements prepared on the participant's (only) connection, read from inside it by a C++
  // action that refuses with the count as its reason.
  std::string PreparedOnTheConnection(PostgresParticipant& p, const std::string& gid) {
    auto r = p.Execute(Call(gid, "count_statements", {}));
    if (!r.ok()) return r.status().ToString();
    const std::string prefix = "action \"count_statements\": ";
    return r->reason.starts_with(prefix) ? r->reason.substr(prefix.size()) : r->reason;
  }

  void RegisterCounter(PostgresParticipant& p) {
    ASSERT_TRUE(p.RegisterAction("count_statements", {},
                                 [](PgTx& tx, const Payload&) -> Result<ActionVerdict> {
                                   TXC_ASSIGN_OR_RETURN(
                                       QueryResult q,
                                       tx.Exec("SELECT count(*) FROM pg_prepared_statements"));
                                   return ActionVerdict::Refuse(*q.rows[0][0]);
                                 })
                    .ok());
  }
};

TEST_F(PgStatementsTest, BarrierAndActionStatementsArePreparedOncePerConnection) {
  auto p = Make(R"(,"pool_size":1)");
  ASSERT_TRUE(p);
  RegisterCounter(*p);
  for (const std::string gid : {"g1", "g2", "g3"}) {
    auto r = p->Prepare(Call(gid, "debit", {{"account", "alice"}, {"amount", "1"}}));
    ASSERT_TRUE(r.ok() && r->vote == Vote::kYes) << r.status();
    ASSERT_TRUE(p->Commit(Id(gid)).ok());
  }
  auto e = p->Execute(Call("g4", "credit", {{"account", "bob"}, {"amount", "1"}}));
  ASSERT_TRUE(e.ok() && e->outcome == Outcome::kDone) << e.status();
  // The barrier insert (one statement for Prepare and Execute), debit's and credit's UPDATE.
  EXPECT_EQ(PreparedOnTheConnection(*p, "g5"), "3");
  EXPECT_EQ(Balance("alice"), "97");
  EXPECT_EQ(Balance("bob"), "51");
}

TEST_F(PgStatementsTest, OffPreparesNothing) {
  auto p = Make(R"(,"pool_size":1,"prepared_statements":false)");
  ASSERT_TRUE(p);
  RegisterCounter(*p);
  auto r = p->Prepare(Call("g1", "debit", {{"account", "alice"}, {"amount", "1"}}));
  ASSERT_TRUE(r.ok() && r->vote == Vote::kYes) << r.status();
  ASSERT_TRUE(p->Commit(Id("g1")).ok());
  EXPECT_EQ(PreparedOnTheConnection(*p, "g2"), "0");
  EXPECT_EQ(Balance("alice"), "99");
}

// A column's type changes under a prepared SELECT: its next call fails retryably (the connection
// is dropped), and the retry prepares it anew on a fresh connection.
TEST_F(PgStatementsTest, AStalePlanCostsOneRetriedCall) {
  auto p = Make(R"(,"pool_size":1)");
  ASSERT_TRUE(p);
  auto first = p->Execute(Call("g1", "peek", {{"account", "alice"}}));
  ASSERT_TRUE(first.ok() && first->outcome == Outcome::kDone) << first.status();
  Sql("ALTER TABLE " + table_ + " ALTER COLUMN balance TYPE numeric");
  auto stale = p->Execute(Call("g2", "peek", {{"account", "alice"}}));
  EXPECT_EQ(stale.status().code(), Code::kUnavailable) << stale.status();
  EXPECT_NE(stale.status().message().find("went stale"), std::string::npos) << stale.status();
  auto retried = p->Execute(Call("g2", "peek", {{"account", "alice"}}));
  ASSERT_TRUE(retried.ok() && retried->outcome == Outcome::kDone) << retried.status();
  auto prepared = p->Prepare(Call("g3", "peek", {{"account", "alice"}}));
  ASSERT_TRUE(prepared.ok() && prepared->vote == Vote::kYes) << prepared.status();
  ASSERT_TRUE(p->Commit(Id("g3")).ok());
}

}  // namespace
}  // namespace txcoord::postgres::testing
