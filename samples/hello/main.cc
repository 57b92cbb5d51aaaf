// txc-hello: proves the stack is wired: connects to PostgreSQL and Redis from the settings that
// scripts/services prints (TXC_PG_DSN, TXC_REDIS_URL) and reports what it found.
// Exit 0 when both stores answer and are configured for txcoord, 1 otherwise.
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "txcoord/core/fault.h"
#include "txcoord/core/status.h"

namespace {

using txcoord::Status;

Status CheckPostgres(const char* dsn) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(dsn), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return txcoord::Unavailable(std::string("PostgreSQL: ") + PQerrorMessage(conn.get()));
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> res(
      PQexec(conn.get(),
             "SELECT current_setting('server_version'), "
             "current_setting('max_prepared_transactions')"),
      &PQclear);
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    return txcoord::Unavailable(std::string("PostgreSQL: ") + PQerrorMessage(conn.get()));
  }
  std::printf("PostgreSQL %s reachable, max_prepared_transactions=%s\n",
              PQgetvalue(res.get(), 0, 0), PQgetvalue(res.get(), 0, 1));
  if (std::atoi(PQgetvalue(res.get(), 0, 1)) <= 0) {
    return txcoord::FailedPrecondition("PostgreSQL max_prepared_transactions is 0: 2PC impossible");
  }
  return Status::Ok();
}

Status CheckRedis(const std::string& url) {
  // redis://host:port[/db]
  const std::string prefix = "redis://";
  if (url.rfind(prefix, 0) != 0) return txcoord::InvalidArgument("TXC_REDIS_URL must be redis://");
  std::string hostport = url.substr(prefix.size());
  hostport = hostport.substr(0, hostport.find('/'));
  const auto colon = hostport.rfind(':');
  const std::string host = hostport.substr(0, colon);
  const int port = colon == std::string::npos ? 6379 : std::atoi(hostport.c_str() + colon + 1);
  std::unique_ptr<redisContext, decltype(&redisFree)> ctx(redisConnect(host.c_str(), port),
                                                          &redisFree);
  if (!ctx || ctx->err) {
    return txcoord::Unavailable("Redis: " + std::string(ctx ? ctx->errstr : "out of memory"));
  }
  auto* reply = static_cast<redisReply*>(redisCommand(ctx.get(), "CONFIG GET appendfsync"));
  if (reply == nullptr) return txcoord::Unavailable(std::string("Redis: ") + ctx->errstr);
  std::string fsync =
      reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 ? reply->element[1]->str : "?";
  freeReplyObject(reply);
  std::printf("Redis reachable at %s:%d, appendfsync=%s\n", host.c_str(), port, fsync.c_str());
  return Status::Ok();
}

}  // namespace

int main() {
  if (Status s = txcoord::fault::ArmFromEnvironment(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 2;
  }
  const char* dsn = std::getenv("TXC_PG_DSN");
  const char* url = std::getenv("TXC_REDIS_URL");
  if (dsn == nullptr || url == nullptr) {
    std::fprintf(stderr,
                 "txc-hello: TXC_PG_DSN and TXC_REDIS_URL must be set "
                 "(eval \"$(scripts/services env)\")\n");
    return 2;
  }
  int rc = 0;
  for (const Status& s : {CheckPostgres(dsn), CheckRedis(url)}) {
    if (!s.ok()) {
      std::fprintf(stderr, "txc-hello: %s\n", s.ToString().c_str());
      rc = 1;
    }
  }
  if (rc == 0) std::printf("txc-hello: both stores are up; txcoord can run here.\n");
  return rc;
}
