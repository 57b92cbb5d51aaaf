// Crash tests with the real txcoordd: the order saga of samples/order (tables and keys renamed
// per test), the daemon started with TXC_FAILPOINTS=<saga point>=crash@N, killed there by the
// fault point (_exit, as kill -9), restarted without it; the saga must end committed (forward)
// or compensated (a refused charge) with stock, money and orders conserved.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <tuple>

#include "txcoord/testing/env.h"
#include "txcoord/testing/poll.h"

namespace {

using namespace std::chrono_literals;

struct CrashCase {
  const char* point;
  int hit;
  bool refuse;  // the charge is declined: the saga compensates
};

void PrintTo(const CrashCase& c, std::ostream* os) {
  *os << c.point << "@" << c.hit << (c.refuse ? " refusing" : " forward");
}

class SagaDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = txcoord::testing::RequiredEnv("TXC_PG_DSN");
    url_ = txcoord::testing::RequiredEnv("TXC_REDIS_URL");
    ASSERT_FALSE(dsn_.empty() || url_.empty()) << "run scripts/services start and eval its env";
    const auto now = std::chrono::system_clock::now().time_since_epoch().count();
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    tag_ = "sc" + std::to_string(std::hash<std::string>{}(test) % 1000000) + "_" +
           std::to_string(::getpid()) + "_" + std::to_string(now % 1000000000);
    dir_ = std::filesystem::temp_directory_path() / ("txc-sagacrash-" + tag_);
    std::filesystem::create_directories(dir_);
    pg_ = PQconnectdb(dsn_.c_str());
    ASSERT_EQ(PQstatus(pg_), CONNECTION_OK) << PQerrorMessage(pg_);
    Sql("CREATE TABLE pay_" + tag_ +
        " (account text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))");
    Sql("CREATE TABLE ord_" + tag_ + " (id text PRIMARY KEY, qty int NOT NULL)");
    Sql("INSERT INTO pay_" + tag_ + " VALUES ('alice', 100)");
    const auto colon = url_.rfind(':');
    redis_ = redisConnect("127.0.0.1", std::stoi(url_.substr(colon + 1)));
    ASSERT_TRUE(redis_ != nullptr && redis_->err == 0);
    Redis("SET stock:{" + tag_ + "} 10");
    {
      Poco::Net::ServerSocket probe(0);  // a free port for the daemon
      port_ = probe.address().port();
    }
    WriteConfig();
  }

  void TearDown() override {
    Stop();
    if (pg_ != nullptr) {
      Sql("DROP TABLE IF EXISTS pay_" + tag_ + ", ord_" + tag_);
      PQfinish(pg_);
    }
    if (redis_ != nullptr) {
      Redis("DEL stock:{" + tag_ + "}");
      redisFree(redis_);
    }
    std::filesystem::remove_all(dir_);
  }

  void WriteConfig() {
    std::ofstream f(dir_ / "txcoordd.json");
    f << R"J({"coordinator_id":")J" << tag_ << R"J(","listen":"127.0.0.1:)J" << port_
      << R"J(","wal_dir":")J" << (dir_ / "wal").string()
      << R"J(","orphan_scan_interval_ms":0,"participants":[
  {"name":"shop-pg","kind":"postgres","dsn":")J"
      << dsn_ << R"J(","pool_size":4,"actions":{
    "charge":{"sql":["UPDATE pay_)J"
      << tag_
      << R"J( SET balance = balance - :amount WHERE account = :account AND balance >= :amount"],"expect_rows":[1]},
    "refund":{"sql":["UPDATE pay_)J"
      << tag_ << R"J( SET balance = balance + :amount WHERE account = :account"],"expect_rows":[1]},
    "create_order":{"sql":["INSERT INTO ord_)J"
      << tag_ << R"J( (id, qty) VALUES (:order, :qty)"],"expect_rows":[1]},
    "cancel_order":{"sql":["DELETE FROM ord_)J"
      << tag_ << R"J( WHERE id = :order"]}}},
  {"name":"shop-redis","kind":"redis","url":")J"
      << url_ << R"J(","pool_size":4,"actions":{
    "reserve":{"guards":[{"key":"stock:{${sku}}","op":">=","value":"${qty}"}],
               "writes":[["DECRBY","stock:{${sku}}","${qty}"]]},
    "release":{"writes":[["INCRBY","stock:{${sku}}","${qty}"]]}}}]})J";
  }

  void Start(const std::string& failpoints) {
    const std::string config = "--config=" + (dir_ / "txcoordd.json").string();
    const std::string logfile = (dir_ / "txcoordd.log").string();
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      if (!failpoints.empty()) ::setenv("TXC_FAILPOINTS", failpoints.c_str(), 1);
      FILE* out = std::freopen(logfile.c_str(), "a", stdout);
      FILE* err = std::freopen(logfile.c_str(), "a", stderr);
      (void)out;
      (void)err;
      ::execl(TXCOORDD_PATH, TXCOORDD_PATH, config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    bool exited = false;
    const bool ready = txcoord::testing::Eventually(
        [&] {
          int status = 0;
          exited = ::waitpid(pid_, &status, WNOHANG) != 0;
          return exited || Http("GET", "/readyz", "").first == 200;
        },
        30s, 50ms);
    ASSERT_FALSE(exited) << "txcoordd exited at start: " << Log();
    ASSERT_TRUE(ready) << "txcoordd did not become ready: " << Log();
  }

  // Waits for the daemon to exit by itself (the crash fault point); returns its exit code.
  int WaitExit() {
    int code = -1000;
    txcoord::testing::Eventually(
        [&] {
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
          pid_ = -1;
          code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
          return true;
        },
        30s, 20ms);
    return code;
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::pair<int, std::string> Http(const std::string& method, const std::string& path,
                                   const std::string& body) {
    try {
      Poco::Net::HTTPClientSession s("127.0.0.1", static_cast<Poco::UInt16>(port_));
      s.setTimeout(Poco::Timespan(10, 0));
      Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
      if (!body.empty()) {
        req.setContentType("application/json");
        req.setContentLength(static_cast<std::streamsize>(body.size()));
      }
      s.sendRequest(req) << body;
      Poco::Net::HTTPResponse resp;
      std::istream& in = s.receiveResponse(resp);
      std::string out;
      Poco::StreamCopier::copyToString(in, out);
      return {static_cast<int>(resp.getStatus()), out};
    } catch (const std::exception& e) {
      return {-1, e.what()};
    }
  }

  std::string Log() const {
    std::ifstream f(dir_ / "txcoordd.log");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  void Sql(const std::string& sql) {
    PGresult* r = PQexec(pg_, sql.c_str());
    EXPECT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
        << sql << ": " << PQerrorMessage(pg_);
    PQclear(r);
  }
  std::string Scalar(const std::string& sql) {
    PGresult* r = PQexec(pg_, sql.c_str());
    std::string out = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "<none>";
    PQclear(r);
    return out;
  }
  std::string Redis(const std::string& cmd) {
    auto* r = static_cast<redisReply*>(redisCommand(redis_, cmd.c_str()));
    std::string out = r == nullptr        ? "<error>"
                      : r->str != nullptr ? r->str
                                          : std::to_string(r->integer);
    if (r != nullptr) freeReplyObject(r);
    return out;
  }

  std::string SagaBody(int amount, const std::string& gid = "crash-saga") const {
    const std::string item = R"("payload":{"sku":")" + tag_ + R"(","qty":2})";
    const std::string pay =
        R"("payload":{"account":"alice","amount":)" + std::to_string(amount) + "}";
    const std::string ord = R"("payload":{"order":"o-1","qty":2})";
    return R"({"mode":"saga","gid":")" + gid +
           R"(","branches":[)"
           R"({"participant":"shop-redis","action":"reserve",)" +
           item + R"(,"compensation":{"action":"release",)" + item + "}}," +
           R"({"participant":"shop-pg","action":"charge",)" + pay +
           R"(,"compensation":{"action":"refund",)" + pay + "}}," +
           R"({"participant":"shop-pg","action":"create_order",)" + ord +
           R"(,"compensation":{"action":"cancel_order",)" + ord + "}}]}";
  }

  std::string dsn_, url_, tag_;
  std::filesystem::path dir_;
  PGconn* pg_ = nullptr;
  redisContext* redis_ = nullptr;
  int port_ = 0;
  pid_t pid_ = -1;
};

class SagaCrashTest : public SagaDaemonTest, public ::testing::WithParamInterface<CrashCase> {};

// The saga side of the HTTP API on the real daemon: 202 running, final states, idempotency,
// validation, the state filter.
TEST_F(SagaDaemonTest, HttpApiSpeaksSagaStates) {
  ASSERT_NO_FATAL_FAILURE(Start(""));
  auto [code, body] = Http("POST", "/v1/transactions?wait=false", SagaBody(30, "api-ok"));
  EXPECT_EQ(code, 202) << body;
  EXPECT_NE(body.find("\"mode\":\"saga\""), std::string::npos) << body;
  std::tie(code, body) = Http("POST", "/v1/transactions?wait=true", SagaBody(500, "api-no"));
  EXPECT_EQ(code, 200) << body;
  EXPECT_NE(body.find("\"state\":\"compensated\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"stuck\":false"), std::string::npos) << body;
  txcoord::testing::Eventually(
      [&] {
        std::tie(code, body) = Http("GET", "/v1/transactions/api-ok", "");
        return body.find("\"state\":\"committed\"") != std::string::npos;
      },
      20s, 20ms);
  EXPECT_NE(body.find("\"state\":\"committed\""), std::string::npos) << body;
  std::tie(code, body) = Http("GET", "/v1/transactions?state=compensated", "");
  EXPECT_EQ(code, 200);
  EXPECT_NE(body.find("api-no"), std::string::npos) << body;
  EXPECT_EQ(body.find("api-ok"), std::string::npos) << body;
  // A step other than the last without a compensation: 400, nothing runs.
  std::string bad = SagaBody(30, "api-bad");
  const auto comp = bad.find(R"(,"compensation":{"action":"release")");
  ASSERT_NE(comp, std::string::npos);
  bad.erase(comp, bad.find("}}", comp) + 2 - comp);
  std::tie(code, body) = Http("POST", "/v1/transactions", bad);
  EXPECT_EQ(code, 400) << bad << " -> " << body;
  EXPECT_NE(body.find("compensation is required"), std::string::npos) << body;
  std::tie(code, body) = Http("POST", "/v1/transactions/api-ok/commit", "");
  EXPECT_EQ(code, 400) << body;
  EXPECT_EQ(Redis("GET stock:{" + tag_ + "}"), "8");
  EXPECT_EQ(Scalar("SELECT balance FROM pay_" + tag_), "70");
}

TEST_P(SagaCrashTest, KilledAtTheFaultPointTheSagaFinishesAfterRestart) {
  const CrashCase& c = GetParam();
  ASSERT_NO_FATAL_FAILURE(Start(std::string(c.point) + "=crash@" + std::to_string(c.hit)));
  Http("POST", "/v1/transactions", SagaBody(c.refuse ? 500 : 30));  // may lose its answer
  ASSERT_EQ(WaitExit(), 86) << "the fault point did not fire: " << Log();
  ASSERT_NO_FATAL_FAILURE(Start(""));
  std::string body;
  const std::string want = c.refuse ? "\"state\":\"compensated\"" : "\"state\":\"committed\"";
  txcoord::testing::Eventually(
      [&] {
        auto [code, text] = Http("GET", "/v1/transactions/crash-saga", "");
        body = text;
        return code == 200 && text.find(want) != std::string::npos;
      },
      30s, 50ms);
  ASSERT_NE(body.find(want), std::string::npos) << body << "\n" << Log();
  EXPECT_EQ(Redis("GET stock:{" + tag_ + "}"), c.refuse ? "10" : "8");
  EXPECT_EQ(Scalar("SELECT balance FROM pay_" + tag_), c.refuse ? "100" : "70");
  EXPECT_EQ(Scalar("SELECT count(*) FROM ord_" + tag_), c.refuse ? "0" : "1");
}

INSTANTIATE_TEST_SUITE_P(SagaPoints, SagaCrashTest,
                         ::testing::Values(CrashCase{"saga.after_begin_durable", 1, false},
                                           CrashCase{"saga.after_step_started", 2, false},
                                           CrashCase{"saga.after_step_done", 1, false},
                                           CrashCase{"saga.after_step_done", 3, false},
                                           CrashCase{"saga.before_end", 1, false},
                                           CrashCase{"saga.after_step_done", 1, true},
                                           CrashCase{"saga.after_compensation_started", 1, true},
                                           CrashCase{"saga.after_compensation_done", 1, true},
                                           CrashCase{"saga.before_end", 1, true}));

}  // namespace
