#pragma once
// Fixture for PostgreSQL adapter tests: a per-test accounts table and notes table (names
// derived from the test name, so parallel test processes never share data), a participant
// whose actions use them, and a unique coordinator id per run (barrier rows of earlier runs
// never collide).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "txcoord/postgres/participant.h"
#include "txcoord/testing/env.h"

namespace txcoord::postgres::testing {

using participant::BranchCall;
using participant::BranchId;
using participant::Payload;

inline std::string Hex(std::uint64_t v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*llx", digits, static_cast<unsigned long long>(v));
  return std::string(buf).substr(0, digits);
}

class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = ::txcoord::testing::RequiredEnv("TXC_PG_DSN");
    ASSERT_FALSE(dsn_.empty()) << "TXC_PG_DSN is not set: start the servers with "
                                  "`scripts/services start` and eval `scripts/services env`";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string full = std::string(info->test_suite_name()) + "_" + info->name();
    std::string lower;
    for (char c : full)
      lower += std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_';
    const auto h = std::hash<std::string>{}(full);
    table_ = "t_" + lower.substr(0, 40) + "_" + Hex(h, 8);
    notes_ = table_ + "_n";
    const auto now = std::chrono::system_clock::now().time_since_epoch().count();
    coordinator_ = "c" + Hex(h, 10) + "-" + Hex(static_cast<std::uint64_t>(now), 12);
    conn_ = PQconnectdb(dsn_.c_str());
    ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    Sql("DROP TABLE IF EXISTS " + table_ + ", " + notes_);
    Sql("CREATE TABLE " + table_ +
        " (id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))");
    Sql("CREATE TABLE " + notes_ + " (id text PRIMARY KEY, body text NOT NULL)");
    Sql("INSERT INTO " + table_ + " VALUES ('alice', 100), ('bob', 50)");
  }

  void TearDown() override {
    if (conn_ != nullptr) {
      // Leave no prepared transaction of ours behind (they would hold locks forever).
      auto* r =
          PQexecParams(conn_, "SELECT gid FROM pg_prepared_xacts WHERE gid LIKE $1", 1, nullptr,
                       Params({"txc:" + coordinator_ + ":%"}).data(), nullptr, nullptr, 0);
      for (int i = 0; i < PQntuples(r); ++i) {
        Sql(std::string("ROLLBACK PREPARED '") + PQgetvalue(r, i, 0) + "'");
      }
      PQclear(r);
      Sql("DROP TABLE IF EXISTS " + table_ + ", " + notes_);
      PQfinish(conn_);
    }
  }

  static std::vector<const char*> Params(const std::vector<std::string>& v) {
    static thread_local std::vector<std::string> keep;
    keep = v;
    std::vector<const char*> out;
    for (const auto& s : keep) out.push_back(s.c_str());
    return out;
  }

  // Runs SQL on the test's own connection; fails the test on error.
  void Sql(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto st = PQresultStatus(r);
    EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        << sql << ": " << PQerrorMessage(conn_);
    PQclear(r);
  }
  std::string Scalar(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    std::string out = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "<none>";
    if (PQresultStatus(r) != PGRES_TUPLES_OK) out = std::string("<error> ") + PQerrorMessage(conn_);
    PQclear(r);
    return out;
  }
  std::string Balance(const std::string& id) {
    return Scalar("SELECT balance FROM " + table_ + " WHERE id = '" + id + "'");
  }
  int BarrierRows() {
    return std::stoi(
        Scalar("SELECT count(*) FROM txc_barrier WHERE coordinator = '" + coordinator_ + "'"));
  }
  int PreparedCount() {
    return std::stoi(Scalar(
        "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'txc:" + coordinator_ + ":%'"));
  }

  std::string ConfigJson(const std::string& extra = "") const {
    const std::string t = table_;
    return R"J({"name":"bank-pg","kind":"postgres","dsn":")J" + dsn_ +
           R"J(","pool_size":4,"pool_wait_ms":2000,"lock_timeout_ms":300)J" + extra +
           R"J(,"actions":{
      "debit":{"sql":["UPDATE )J" +
           t + R"J( SET balance = balance - :amount WHERE id = :account"],
               "expect_rows":[1]},
      "credit":{"sql":"UPDATE )J" +
           t + R"J( SET balance = balance + :amount WHERE id = :account",
                "expect_rows":[1]},
      "transfer":{"sql":["UPDATE )J" +
           t + R"J( SET balance = balance - :amount WHERE id = :from",
                         "UPDATE )J" +
           t + R"J( SET balance = balance + :amount::bigint WHERE id = :to"],
                  "expect_rows":[1, 1]},
      "note":{"sql":["INSERT INTO )J" +
           notes_ + R"J( (id, body) VALUES (:id, :body)"]},
      "unnote":{"sql":["DELETE FROM )J" +
           notes_ + R"J( WHERE id = :id"]},
      "peek":{"sql":["SELECT balance FROM )J" +
           t + R"J( WHERE id = :account"], "expect_rows":[1]}}})J";
  }

  std::unique_ptr<PostgresParticipant> Make(const std::string& extra = "") {
    auto cfg = ParseConfigText(ConfigJson(extra));
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    if (!cfg.ok()) return nullptr;
    auto p = PostgresParticipant::Create(std::move(cfg).value());
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(p).value() : nullptr;
  }

  BranchId Id(const std::string& gid, const std::string& branch = "b1") const {
    return {coordinator_, gid, branch};
  }
  BranchCall Call(const std::string& gid, const std::string& action, Payload payload,
                  const std::string& branch = "b1") const {
    return {Id(gid, branch), action, std::move(payload)};
  }

  std::string dsn_, table_, notes_, coordinator_;
  PGconn* conn_ = nullptr;
};

}  // namespace txcoord::postgres::testing
