// Unit tests of config parsing, named parameters and the start-up check (no server).
#include <gtest/gtest.h>

#include "txcoord/postgres/config.h"
#include "txcoord/postgres/participant.h"

namespace txcoord::postgres {
namespace {

TEST(ParseStatementTest, RewritesNamedParametersToPositionalOnesOncePerName) {
  auto st = ParseStatement(
      "UPDATE a SET balance = balance - :amount WHERE id = :account AND balance >= :amount");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->sql, "UPDATE a SET balance = balance - $1 WHERE id = $2 AND balance >= $1");
  EXPECT_EQ(st->params, (std::vector<std::string>{"amount", "account"}));
}

TEST(ParseStatementTest, LeavesCastsAndQuotedTextAlone) {
  auto st = ParseStatement("SELECT :x::bigint, ':not_a_param', \"col:umn\", now()::text");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->sql, "SELECT $1::bigint, ':not_a_param', \"col:umn\", now()::text");
  EXPECT_EQ(st->params, (std::vector<std::string>{"x"}));
}

TEST(ParseStatementTest, RejectsBadParameterNamesDollarParamsAndOpenQuotes) {
  EXPECT_EQ(ParseStatement("SELECT :1abc").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseStatement("SELECT : x").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseStatement("SELECT x:").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseStatement("SELECT $1").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseStatement("SELECT 'open").status().code(), Code::kInvalidArgument);
}

constexpr const char* kGood = R"({"name":"bank-pg","kind":"postgres","dsn":"postgresql://x/db",
  "pool_size":3,"pool_wait_ms":100,"connect_timeout_ms":2000,"statement_timeout_ms":4000,
  "lock_timeout_ms":500,"barrier_table":"myschema.my_barrier","purge_interval_ms":60000,
  "purge_horizon_s":3600,"prepared_statements":false,
  "actions":{"debit":{"sql":["UPDATE accounts SET balance = balance - :amount WHERE id = :account"],
                      "expect_rows":[1]},
             "two":{"sql":["SELECT 1", "UPDATE t SET v = :v"],"expect_rows":[null, 2]}}})";

TEST(ParseConfigTest, ParsesEveryKey) {
  auto c = ParseConfigText(kGood);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "bank-pg");
  EXPECT_EQ(c->dsn, "postgresql://x/db");
  EXPECT_EQ(c->pool_size, 3);
  EXPECT_EQ(c->pool_wait.count(), 100);
  EXPECT_EQ(c->statement_timeout.count(), 4000);
  EXPECT_EQ(c->lock_timeout.count(), 500);
  EXPECT_EQ(c->barrier_table, "myschema.my_barrier");
  EXPECT_EQ(c->purge_interval.count(), 60000);
  EXPECT_EQ(c->purge_horizon.count(), 3600);
  EXPECT_FALSE(c->prepared_statements);
  ASSERT_EQ(c->actions.size(), 2u);
  EXPECT_EQ(c->actions["debit"].statements[0].expect_rows, 1);
  EXPECT_FALSE(c->actions["two"].statements[0].expect_rows.has_value());
  EXPECT_EQ(c->actions["two"].statements[1].expect_rows, 2);
}

TEST(ParseConfigTest, DefaultsApplyWhenKeysAreAbsent) {
  auto c = ParseConfigText(R"({"name":"p","dsn":"postgresql:///db"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->pool_size, 8);
  EXPECT_EQ(c->barrier_table, "txc_barrier");
  EXPECT_EQ(c->purge_interval.count(), 0);
  EXPECT_TRUE(c->prepared_statements);
  EXPECT_TRUE(c->actions.empty());
}

struct BadCase {
  const char* json;
  const char* expected_in_message;
};

TEST(ParseConfigTest, BadConfigsGiveInvalidArgumentWithAReason) {
  const BadCase cases[] = {
      {R"({"name":"p","dsn":"d","colour":"red"})", "unknown key \"colour\""},
      {R"({"dsn":"d"})", "missing \"name\""},
      {R"({"name":"p"})", "missing \"dsn\""},
      {R"({"name":"p","dsn":"d","kind":"redis"})", "\"kind\" must be \"postgres\""},
      {R"({"name":"p","dsn":"d","pool_size":0})", "\"pool_size\" must be in [1"},
      {R"({"name":"p","dsn":"d","pool_size":"8"})", "\"pool_size\" must be an integer"},
      {R"({"name":"p","dsn":"d","barrier_table":"x; DROP TABLE y"})", "barrier_table"},
      {R"({"name":"p","dsn":"d","prepared_statements":"yes"})",
       "\"prepared_statements\" must be true or false"},
      {R"({"name":"p","dsn":"d","actions":{"a":{}}})", "action \"a\": missing \"sql\""},
      {R"({"name":"p","dsn":"d","actions":{"a":{"sql":[]}}})", "\"sql\" is empty"},
      {R"({"name":"p","dsn":"d","actions":{"a":{"sql":"  "}}})", "empty SQL statement"},
      {R"({"name":"p","dsn":"d","actions":{"a":{"sql":"SELECT :9"}}})", "bad parameter name"},
      {R"({"name":"p","dsn":"d","actions":{"a":{"sql":"SELECT 1","expect_rows":[1,2]}}})",
       "one entry per statement"},
      {R"({"name":"p","dsn":"d","actions":{"a":{"sql":"SELECT 1","expect_rows":[-1]}}})",
       "integers >= 0"},
      {R"({"name":"p","dsn":"d","actions":{"a":{"sql":"SELECT 1","rows":[1]}}})",
       "unknown key \"rows\""},
      {R"({"name":"p","dsn":"d","actions":[]})", "\"actions\" must be an object"},
      {R"({"name":"p",)", "bad JSON"},
      {R"({"name":"p","dsn":"host=x port"})", "\"dsn\" does not parse"},
      {R"({"name":"p","dsn":"postgresql://x/db?nonsense=1"})", "\"dsn\" does not parse"},
      {R"([1,2])", "config"},
  };
  for (const BadCase& bc : cases) {
    auto c = ParseConfigText(bc.json);
    ASSERT_FALSE(c.ok()) << bc.json;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument) << bc.json;
    EXPECT_NE(c.status().message().find(bc.expected_in_message), std::string::npos)
        << bc.json << " -> " << c.status();
  }
}

TEST(StartupCheckTest, MaxPreparedTransactionsMustBePositive) {
  EXPECT_TRUE(CheckMaxPreparedTransactions(128).ok());
  Status s = CheckMaxPreparedTransactions(0);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("max_prepared_transactions"), std::string::npos) << s;
  EXPECT_NE(s.message().find("restart PostgreSQL"), std::string::npos) << s;
}

TEST(CreateTest, UnreachableServerIsUnavailableAndBadTableIsInvalid) {
  auto c = ParseConfigText(
      R"({"name":"p","dsn":"postgresql://127.0.0.1:1/x","connect_timeout_ms":500})");
  ASSERT_TRUE(c.ok()) << c.status();
  auto p = PostgresParticipant::Create(*c);
  EXPECT_EQ(p.status().code(), Code::kUnavailable) << p.status();
  Config bad = *c;
  bad.barrier_table = "Robert'); DROP";
  EXPECT_EQ(PostgresParticipant::Create(bad).status().code(), Code::kInvalidArgument);
  bad = *c;
  bad.pool_size = 0;
  EXPECT_EQ(PostgresParticipant::Create(bad).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace txcoord::postgres
