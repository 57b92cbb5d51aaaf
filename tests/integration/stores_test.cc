// Proof that the CI wiring is real: libpq and hiredis against the servers started by
// scripts/services, using the two store features txcoord depends on.
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "txcoord/testing/env.h"

namespace {

using PgConn = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using PgRes = std::unique_ptr<PGresult, decltype(&PQclear)>;
using RedisCtx = std::unique_ptr<redisContext, decltype(&redisFree)>;
using RedisReply = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

PgConn ConnectPg(const std::string& dsn) {
  return {PQconnectdb(dsn.c_str()), &PQfinish};
}

PgRes Exec(PGconn* c, const std::string& sql) {
  return {PQexec(c, sql.c_str()), &PQclear};
}

RedisCtx ConnectRedis(const std::string& url) {
  // redis://host:port[/db]
  std::string hp = url.substr(url.find("//") + 2);
  hp = hp.substr(0, hp.find('/'));
  const auto colon = hp.rfind(':');
  return {redisConnect(hp.substr(0, colon).c_str(), std::stoi(hp.substr(colon + 1))), &redisFree};
}

RedisReply Cmd(redisContext* c, const char* fmt, const char* a = nullptr) {
  return {static_cast<redisReply*>(redisCommand(c, fmt, a)), &freeReplyObject};
}

class StoresTest : public ::testing::Test {};

TEST_F(StoresTest, PostgresPrepareAndCommitPreparedFromAnotherConnection) {
  TXC_REQUIRE_ENV(dsn, "TXC_PG_DSN");
  PgConn a = ConnectPg(dsn);
  ASSERT_EQ(PQstatus(a.get()), CONNECTION_OK) << PQerrorMessage(a.get());
  PgConn b = ConnectPg(dsn);
  ASSERT_EQ(PQstatus(b.get()), CONNECTION_OK) << PQerrorMessage(b.get());

  auto settings = Exec(a.get(), "SHOW max_prepared_transactions");
  ASSERT_EQ(PQresultStatus(settings.get()), PGRES_TUPLES_OK);
  EXPECT_GE(std::stoi(PQgetvalue(settings.get(), 0, 0)), 64);

  ASSERT_EQ(PQresultStatus(Exec(a.get(),
                                "DROP TABLE IF EXISTS wiring_t; "
                                "CREATE TABLE wiring_t(id int primary key)")
                               .get()),
            PGRES_COMMAND_OK);
  ASSERT_EQ(PQresultStatus(Exec(a.get(), "ROLLBACK PREPARED 'txc-wiring-1'").get()),
            PGRES_FATAL_ERROR);  // none left over from an earlier run (42704)

  ASSERT_EQ(PQresultStatus(Exec(a.get(),
                                "BEGIN; INSERT INTO wiring_t VALUES (1); "
                                "PREPARE TRANSACTION 'txc-wiring-1'")
                               .get()),
            PGRES_COMMAND_OK)
      << PQerrorMessage(a.get());
  // Prepared but not committed: invisible, and listed in pg_prepared_xacts.
  auto before = Exec(b.get(), "SELECT count(*) FROM wiring_t");
  EXPECT_STREQ(PQgetvalue(before.get(), 0, 0), "0");
  auto listed = Exec(b.get(), "SELECT count(*) FROM pg_prepared_xacts WHERE gid='txc-wiring-1'");
  EXPECT_STREQ(PQgetvalue(listed.get(), 0, 0), "1");

  // Phase 2 from the other connection.
  ASSERT_EQ(PQresultStatus(Exec(b.get(), "COMMIT PREPARED 'txc-wiring-1'").get()), PGRES_COMMAND_OK)
      << PQerrorMessage(b.get());
  auto after = Exec(a.get(), "SELECT count(*) FROM wiring_t");
  EXPECT_STREQ(PQgetvalue(after.get(), 0, 0), "1");

  // A second COMMIT PREPARED: SQLSTATE 42704, the case the barrier table resolves.
  auto again = Exec(b.get(), "COMMIT PREPARED 'txc-wiring-1'");
  ASSERT_EQ(PQresultStatus(again.get()), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(again.get(), PG_DIAG_SQLSTATE), "42704");
  ASSERT_EQ(PQresultStatus(Exec(a.get(), "DROP TABLE wiring_t").get()), PGRES_COMMAND_OK);
}

TEST_F(StoresTest, PostgresRollbackPreparedDiscardsWork) {
  TXC_REQUIRE_ENV(dsn, "TXC_PG_DSN");
  PgConn a = ConnectPg(dsn);
  ASSERT_EQ(PQstatus(a.get()), CONNECTION_OK) << PQerrorMessage(a.get());
  ASSERT_EQ(PQresultStatus(Exec(a.get(),
                                "DROP TABLE IF EXISTS wiring_r; "
                                "CREATE TABLE wiring_r(id int)")
                               .get()),
            PGRES_COMMAND_OK);
  ASSERT_EQ(PQresultStatus(Exec(a.get(),
                                "BEGIN; INSERT INTO wiring_r VALUES (1); "
                                "PREPARE TRANSACTION 'txc-wiring-2'")
                               .get()),
            PGRES_COMMAND_OK);
  ASSERT_EQ(PQresultStatus(Exec(a.get(), "ROLLBACK PREPARED 'txc-wiring-2'").get()),
            PGRES_COMMAND_OK);
  auto rows = Exec(a.get(), "SELECT count(*) FROM wiring_r");
  EXPECT_STREQ(PQgetvalue(rows.get(), 0, 0), "0");
  ASSERT_EQ(PQresultStatus(Exec(a.get(), "DROP TABLE wiring_r").get()), PGRES_COMMAND_OK);
}

TEST_F(StoresTest, RedisEvalRunsAtomicScriptAndIsDurablyConfigured) {
  TXC_REQUIRE_ENV(url, "TXC_REDIS_URL");
  RedisCtx c = ConnectRedis(url);
  ASSERT_TRUE(c && !c->err) << (c ? c->errstr : "oom");

  auto aof = Cmd(c.get(), "CONFIG GET appendonly");
  ASSERT_EQ(aof->type, REDIS_REPLY_ARRAY);
  EXPECT_STREQ(aof->element[1]->str, "yes");
  auto fsync = Cmd(c.get(), "CONFIG GET appendfsync");
  EXPECT_STREQ(fsync->element[1]->str, "always");

  Cmd(c.get(), "DEL wiring:{w}:a wiring:{w}:b");
  Cmd(c.get(), "SET wiring:{w}:a 10");
  // A guarded move of 7 from a to b, all in one script: the shape of the Redis adapter.
  const char* script =
      "local a = tonumber(redis.call('GET', KEYS[1]) or '0') "
      "if a < tonumber(ARGV[1]) then return redis.error_reply('insufficient') end "
      "redis.call('DECRBY', KEYS[1], ARGV[1]) "
      "return redis.call('INCRBY', KEYS[2], ARGV[1])";
  RedisReply ok{static_cast<redisReply*>(
                    redisCommand(c.get(), "EVAL %s 2 wiring:{w}:a wiring:{w}:b 7", script)),
                &freeReplyObject};
  ASSERT_EQ(ok->type, REDIS_REPLY_INTEGER) << (ok->str ? ok->str : "");
  EXPECT_EQ(ok->integer, 7);
  RedisReply refused{static_cast<redisReply*>(
                         redisCommand(c.get(), "EVAL %s 2 wiring:{w}:a wiring:{w}:b 7", script)),
                     &freeReplyObject};
  ASSERT_EQ(refused->type, REDIS_REPLY_ERROR);
  EXPECT_NE(std::string(refused->str).find("insufficient"), std::string::npos);
  auto a = Cmd(c.get(), "GET wiring:{w}:a");
  EXPECT_STREQ(a->str, "3");
  Cmd(c.get(), "DEL wiring:{w}:a wiring:{w}:b");
}

}  // namespace
