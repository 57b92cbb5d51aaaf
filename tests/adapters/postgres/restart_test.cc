// Prepared transactions survive an immediate (crash-like) restart of PostgreSQL; the pool
// drops its dead connections and the branches are then committed or aborted correctly.
// Stops the shared server: registered RUN_SERIAL.
#include <cstdlib>

#include "pg_fixture.h"
#include "txcoord/testing/poll.h"

namespace txcoord::postgres::testing {
namespace {

using participant::Vote;

bool RunServices(const std::string& services, const std::string& args) {
  return std::system((services + " " + args + " >/dev/null 2>&1").c_str()) == 0;
}

TEST_F(PgTest, PreparedBranchesSurviveAServerRestart) {
  TXC_REQUIRE_ENV(services, "TXC_SERVICES");
  auto p = Make();
  ASSERT_TRUE(p);
  for (const auto& [gid, account] : {std::pair{"g1", "alice"}, std::pair{"g2", "bob"}}) {
    auto r = p->Prepare(Call(gid, "debit", {{"account", account}, {"amount", "10"}}));
    ASSERT_TRUE(r.ok() && r->vote == Vote::kYes) << r.status() << (r.ok() ? r->reason : "");
  }
  auto saga = p->Execute(Call("s1", "note", {{"id", "n1"}, {"body", "before"}}));
  ASSERT_TRUE(saga.ok() && saga->outcome == participant::Outcome::kDone) << saga.status();
  PQfinish(conn_);
  conn_ = nullptr;

  ASSERT_TRUE(RunServices(services, "pg-stop immediate"));
  // Server down: nothing can be applied, and the call says so.
  Status down = p->Commit(Id("g1"));
  EXPECT_EQ(down.code(), Code::kUnavailable) << down;  // dead connections are dropped unused
  ASSERT_TRUE(RunServices(services, "pg-start"));

  // The pool replaces its dead connections; poll until the server accepts work again.
  Result<std::vector<participant::InDoubtBranch>> list = Unavailable("not tried");
  txcoord::testing::Eventually(
      [&] {
        list = p->InDoubt(coordinator_);
        return list.ok() || list.status().code() != Code::kUnavailable;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(100));
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<BranchId> ids;
  for (const auto& b : *list) ids.push_back(b.id);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<BranchId>{Id("g1"), Id("g2")}));

  ASSERT_TRUE(p->Commit(Id("g1")).ok());
  ASSERT_TRUE(p->Abort(Id("g2")).ok());
  EXPECT_TRUE(p->Commit(Id("g1")).ok());
  EXPECT_EQ(p->Commit(Id("g2")).code(), Code::kConflict);
  // The saga step committed before the crash is remembered: a duplicate is not re-applied.
  auto dup = p->Execute(Call("s1", "note", {{"id", "n1"}, {"body", "before"}}));
  ASSERT_TRUE(dup.ok() && dup->outcome == participant::Outcome::kDone) << dup.status();

  conn_ = PQconnectdb(dsn_.c_str());
  ASSERT_EQ(PQstatus(conn_), CONNECTION_OK);
  EXPECT_EQ(Balance("alice"), "90");
  EXPECT_EQ(Balance("bob"), "50");
  EXPECT_EQ(Scalar("SELECT body FROM " + notes_ + " WHERE id = 'n1'"), "before");
  EXPECT_EQ(PreparedCount(), 0);
}

}  // namespace
}  // namespace txcoord::postgres::testing
