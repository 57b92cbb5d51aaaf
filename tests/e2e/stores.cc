#include "stores.h"

namespace txcoord::e2e {

Pg::Pg(const std::string& dsn) : conn_(PQconnectdb(dsn.c_str())) {
  if (!ok()) {
    last_error_ = conn_ ? PQerrorMessage(conn_) : "out of memory";
    return;
  }
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);  // "already exists, skipping"
}

Pg::~Pg() {
  if (conn_) PQfinish(conn_);
}

bool Pg::ok() const {
  return conn_ && PQstatus(conn_) == CONNECTION_OK;
}

bool Pg::Exec(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  const auto st = PQresultStatus(r);
  const bool good = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
  if (!good) last_error_ = PQerrorMessage(conn_);
  PQclear(r);
  return good;
}

std::vector<std::string> Pg::Column(const std::string& sql) {
  std::vector<std::string> out;
  PGresult* r = PQexec(conn_, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    last_error_ = PQerrorMessage(conn_);
  } else {
    for (int i = 0; i < PQntuples(r); ++i) out.emplace_back(PQgetvalue(r, i, 0));
  }
  PQclear(r);
  return out;
}

std::optional<std::string> Pg::Scalar(const std::string& sql) {
  auto col = Column(sql);
  if (col.empty()) return std::nullopt;
  return col.front();
}

Redis::Redis(const std::string& url) {
  std::string hp = url.substr(url.find("//") == std::string::npos ? 0 : url.find("//") + 2);
  std::string db = "0";
  if (const auto slash = hp.find('/'); slash != std::string::npos) {
    db = hp.substr(slash + 1);
    hp = hp.substr(0, slash);
  }
  const auto colon = hp.rfind(':');
  const std::string host = hp.substr(0, colon);
  const int port = colon == std::string::npos ? 6379 : std::atoi(hp.c_str() + colon + 1);
  ctx_ = redisConnect(host.c_str(), port);
  if (!ok()) {
    last_error_ = ctx_ ? ctx_->errstr : "out of memory";
    return;
  }
  if (!db.empty() && db != "0") Cmd({"SELECT", db});
}

Redis::~Redis() {
  if (ctx_) redisFree(ctx_);
}

bool Redis::ok() const {
  return ctx_ && ctx_->err == 0;
}

namespace {

redisReply* Command(redisContext* ctx, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(args.size()), argv.data(), lens.data()));
}

}  // namespace

std::optional<std::string> Redis::Cmd(const std::vector<std::string>& args) {
  redisReply* r = Command(ctx_, args);
  if (!r) {
    last_error_ = ctx_->errstr;
    return std::nullopt;
  }
  std::optional<std::string> out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out = std::string(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out = std::to_string(r->integer);
      break;
    case REDIS_REPLY_ERROR:
      last_error_ = std::string(r->str, r->len);
      break;
    default:
      break;
  }
  freeReplyObject(r);
  return out;
}

std::vector<std::string> Redis::Keys(const std::string& pattern) {
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    redisReply* r = Command(ctx_, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      if (r) freeReplyObject(r);
      last_error_ = "SCAN failed";
      return keys;
    }
    cursor.assign(r->element[0]->str, r->element[0]->len);
    for (size_t i = 0; i < r->element[1]->elements; ++i) {
      keys.emplace_back(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
    }
    freeReplyObject(r);
  } while (cursor != "0");
  return keys;
}

}  // namespace txcoord::e2e
