#pragma once
// Test support for the over-HTTP tests: names unique to the test and the run, the JSON configs
// of a PostgreSQL and a Redis participant on per-test tables/keys, and raw connections to look
// at (and clean up) the stores behind the participants' backs.
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace txcoord::http_testing {

// "<test name, lower-case alnum, ≤12>_<hash>_<time>" (29 bytes at most): a valid table name
// and Redis hash tag; with '_' → '-' (Dashed) a valid coordinator id.
inline std::string UniqueName() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string full = std::string(info->test_suite_name()) + "." + info->name();
  std::string lower;
  for (char c : std::string(info->name())) {
    if (lower.size() < 12 && std::isalnum(static_cast<unsigned char>(c))) {
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  char buf[48];
  const auto now = std::chrono::system_clock::now().time_since_epoch().count();
  std::snprintf(buf, sizeof buf, "%s_%06llx_%09llx", lower.c_str(),
                static_cast<unsigned long long>(std::hash<std::string>{}(full)&0xffffff),
                static_cast<unsigned long long>(now / 1000) & 0xfffffffffull);
  return buf;
}

// PostgreSQL participant "bank-pg" with debit/credit on `table` (id text, balance >= 0).
inline std::string PgConfigJson(const std::string& dsn, const std::string& table) {
  return R"({"name":"bank-pg","kind":"postgres","dsn":")" + dsn +
         R"(","pool_size":2,"actions":{
    "debit":{"sql":["UPDATE )" +
         table +
         R"( SET balance = balance - :amount WHERE id = :account"],"expect_rows":[1]},
    "credit":{"sql":["UPDATE )" +
         table + R"( SET balance = balance + :amount WHERE id = :account"],"expect_rows":[1]}}})";
}

// Redis participant "wallet-redis" with debit (guarded) / credit on wallet:{<account>}.
inline std::string RedisConfigJson(const std::string& url) {
  return R"({"name":"wallet-redis","kind":"redis","url":")" + url + R"(","pool_size":2,
  "actions":{
    "debit":{"guards":[{"key":"wallet:{${account}}","op":">=","value":"${amount}"}],
             "writes":[["DECRBY","wallet:{${account}}","${amount}"]]},
    "credit":{"guards":[{"key":"wallet:{${account}}","op":"exists"}],
              "writes":[["INCRBY","wallet:{${account}}","${amount}"]]}}})";
}

// A raw libpq connection; every helper fails the test on error.
class PgRaw {
 public:
  explicit PgRaw(const std::string& dsn) : conn_(PQconnectdb(dsn.c_str())) {
    EXPECT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }
  ~PgRaw() { PQfinish(conn_); }
  PgRaw(const PgRaw&) = delete;
  PgRaw& operator=(const PgRaw&) = delete;

  void Sql(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto st = PQresultStatus(r);
    EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        << sql << ": " << PQerrorMessage(conn_);
    PQclear(r);
  }
  // The first column of every row.
  std::vector<std::string> Column(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(conn_);
    std::vector<std::string> out;
    for (int i = 0; i < PQntuples(r); ++i) out.emplace_back(PQgetvalue(r, i, 0));
    PQclear(r);
    return out;
  }
  std::string Scalar(const std::string& sql) {
    auto col = Column(sql);
    return col.empty() ? "<none>" : col.front();
  }
  // Our prepared transactions ("txc:<coordinator>:...").
  std::vector<std::string> Prepared(const std::string& coordinator) {
    return Column("SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'txc:" + coordinator +
                  ":%' ORDER BY gid");
  }
  void RollbackPrepared(const std::string& coordinator) {
    for (const auto& gid : Prepared(coordinator)) Sql("ROLLBACK PREPARED '" + gid + "'");
  }

 private:
  PGconn* conn_;
};

// A raw hiredis connection on a redis://host:port/db URL.
class RedisRaw {
 public:
  explicit RedisRaw(const std::string& url) {
    std::string rest = url.substr(url.find("://") + 3);
    rest = rest.substr(0, rest.find('/'));
    const auto colon = rest.rfind(':');
    ctx_ = redisConnect(rest.substr(0, colon).c_str(), std::stoi(rest.substr(colon + 1)));
    EXPECT_TRUE(ctx_ != nullptr && ctx_->err == 0) << url;
  }
  ~RedisRaw() {
    if (ctx_ != nullptr) redisFree(ctx_);
  }
  RedisRaw(const RedisRaw&) = delete;
  RedisRaw& operator=(const RedisRaw&) = delete;

  // The reply as text: a string's value, an integer in decimal, "<nil>", or "<error ...>".
  std::string Cmd(const std::vector<std::string>& argv) {
    std::vector<const char*> p;
    std::vector<size_t> l;
    for (const auto& a : argv) {
      p.push_back(a.data());
      l.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), p.data(), l.data()));
    if (r == nullptr) return "<error connection>";
    std::string out = "<nil>";
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) out.assign(r->str, r->len);
    if (r->type == REDIS_REPLY_INTEGER) out = std::to_string(r->integer);
    if (r->type == REDIS_REPLY_ERROR) out = "<error " + std::string(r->str, r->len) + ">";
    freeReplyObject(r);
    return out;
  }

 private:
  redisContext* ctx_ = nullptr;
};

inline std::string Dashed(std::string s) {
  for (char& c : s) c = c == '_' ? '-' : c;
  return s;
}

inline std::string WalletKey(const std::string& account) {
  return "wallet:{" + account + "}";
}

}  // namespace txcoord::http_testing
