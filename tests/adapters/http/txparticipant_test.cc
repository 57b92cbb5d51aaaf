// The real txparticipant binary: start-up from a config file written by the test, /healthz,
// 2PC through RemoteParticipant against the real stores, clean stop, exit codes and messages
// for bad configs and start-up failures, and kill -9 between prepare and commit.
#include <signal.h>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "process.h"
#include "stores.h"
#include "txcoord/participant/remote.h"
#include "txcoord/testing/env.h"
#include "txcoord/testing/poll.h"

namespace txcoord::http_testing {
namespace {

using participant::BranchId;
using participant::Payload;
using participant::RemoteParticipant;
using participant::Vote;
using std::chrono::seconds;

constexpr const char* kToken = "binary-token";

const std::string kBinary = std::string(TXC_BIN_DIR) + "/txparticipant";

class TxParticipantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unique_ = UniqueName();
    dir_ = std::filesystem::temp_directory_path() / ("txp-" + unique_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    children_.clear();  // kills whatever still runs
    if (pg_) {
      pg_->RollbackPrepared(coordinator_);
      pg_->Sql("DROP TABLE IF EXISTS " + table_);
    }
    if (redis_) (void)redis_->Cmd({"DEL", WalletKey(alice_)});
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Creates the per-test table and wallet (alice: 100 in each store).
  void SetUpStores() {
    TXC_REQUIRE_ENV(dsn, "TXC_PG_DSN");
    TXC_REQUIRE_ENV(url, "TXC_REDIS_URL");
    table_ = "b_" + unique_;
    coordinator_ = Dashed(unique_);
    alice_ = unique_ + "-alice";
    pg_ = std::make_unique<PgRaw>(dsn);
    redis_ = std::make_unique<RedisRaw>(url);
    pg_->Sql("CREATE TABLE " + table_ +
             " (id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))");
    pg_->Sql("INSERT INTO " + table_ + " VALUES ('" + alice_ + "', 100)");
    ASSERT_EQ(redis_->Cmd({"SET", WalletKey(alice_), "100"}), "OK");
  }

  // A config serving both stores; the DSN and URL are ${env:...} references.
  std::string GoodConfig() const {
    std::string pg = PgConfigJson("${env:TXC_PG_DSN}", table_);
    std::string redis = RedisConfigJson("${env:TXC_REDIS_URL}");
    return R"({"listen":"127.0.0.1:0","token":")" + std::string(kToken) +
           R"(","max_body_bytes":65536,"participants":[)" + pg + "," + redis + "]}";
  }

  std::string WriteConfig(const std::string& text, const std::string& file = "config.json") {
    const auto path = (dir_ / file).string();
    std::ofstream(path) << text;
    return path;
  }

  Child& Start(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv = {kBinary};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto log = (dir_ / ("out" + std::to_string(children_.size()) + ".log")).string();
    children_.push_back(std::make_unique<Child>(argv, log, env));
    EXPECT_TRUE(children_.back()->started());
    return *children_.back();
  }
  // Starts on `config_path` and returns the port it listens on (0 on failure).
  int StartServing(const std::string& config_path) {
    Child& c = Start({"--config", config_path});
    const int port = c.WaitListening(seconds(30));
    EXPECT_NE(port, 0) << c.Output();
    return port;
  }

  std::unique_ptr<RemoteParticipant> Remote(int port, const std::string& name) {
    auto r = RemoteParticipant::Create(
        {.name = name, .base_url = "http://127.0.0.1:" + std::to_string(port), .token = kToken});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  // Runs the binary on `config` and expects it to exit with `code`, naming `needle`.
  void ExpectExit(const std::vector<std::string>& args, int code, const std::string& needle,
                  const std::vector<std::string>& env = {}) {
    Child& c = Start(args, env);
    const auto rc = c.WaitExit(seconds(30));
    ASSERT_TRUE(rc.has_value()) << "still running or killed: " << c.Output();
    EXPECT_EQ(*rc, code) << c.Output();
    EXPECT_NE(c.Output().find(needle), std::string::npos) << "expected '" << needle << "' in:\n"
                                                          << c.Output();
  }

  std::string PgBalance() {
    return pg_->Scalar("SELECT balance FROM " + table_ + " WHERE id = '" + alice_ + "'");
  }
  std::string RedisBalance() { return redis_->Cmd({"GET", WalletKey(alice_)}); }
  Payload Debit(const std::string& amount) const {
    return {{"account", alice_}, {"amount", amount}};
  }

  std::string unique_, table_, coordinator_, alice_;
  std::filesystem::path dir_;
  std::unique_ptr<PgRaw> pg_;
  std::unique_ptr<RedisRaw> redis_;
  std::vector<std::unique_ptr<Child>> children_;
};

// GET on the binary's port: {status, body}; status 0 when the request failed.
std::pair<int, std::string> HttpGet(int port, const std::string& path) {
  try {
    Poco::Net::HTTPClientSession s("127.0.0.1", static_cast<Poco::UInt16>(port));
    s.setTimeout(Poco::Timespan(5, 0));
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, path,
                               Poco::Net::HTTPMessage::HTTP_1_1);
    s.sendRequest(req);
    Poco::Net::HTTPResponse resp;
    std::string body;
    Poco::StreamCopier::copyToString(s.receiveResponse(resp), body);
    return {static_cast<int>(resp.getStatus()), body};
  } catch (const std::exception&) {
    return {0, ""};
  }
}

TEST_F(TxParticipantTest, ServesBothStoresAndHealthzThenStopsCleanlyOnSigterm) {
  ASSERT_NO_FATAL_FAILURE(SetUpStores());
  const int port = StartServing(WriteConfig(GoodConfig()));
  ASSERT_NE(port, 0);
  ASSERT_TRUE(txcoord::testing::Eventually([&] { return HttpGet(port, "/healthz").first == 200; },
                                           std::chrono::seconds(15)));
  EXPECT_EQ(HttpGet(port, "/healthz").second, R"({"status":"ok"})");
  EXPECT_EQ(HttpGet(port, "/elsewhere").first, 404);

  auto pg = Remote(port, "bank-pg");
  auto redis = Remote(port, "wallet-redis");
  ASSERT_TRUE(pg && redis);
  const BranchId a{coordinator_, "t1", "pg"}, b{coordinator_, "t1", "redis"};
  auto va = pg->Prepare({a, "debit", Debit("25")});
  auto vb = redis->Prepare({b, "debit", Debit("25")});
  ASSERT_TRUE(va.ok() && vb.ok()) << va.status() << " " << vb.status();
  ASSERT_EQ(va->vote, Vote::kYes) << va->reason;
  ASSERT_EQ(vb->vote, Vote::kYes) << vb->reason;
  EXPECT_EQ(PgBalance(), "100");
  ASSERT_TRUE(pg->Commit(a).ok());
  ASSERT_TRUE(redis->Commit(b).ok());
  EXPECT_EQ(PgBalance(), "75");
  EXPECT_EQ(RedisBalance(), "75");

  // The JSON encoding reaches the same participants.
  auto json = RemoteParticipant::Create({.name = "bank-pg",
                                         .base_url = "http://127.0.0.1:" + std::to_string(port),
                                         .token = kToken,
                                         .encoding = participant::wire::Encoding::kJson});
  ASSERT_TRUE(json.ok()) << json.status();
  const BranchId c2{coordinator_, "t2", "pg"};
  auto vc = (*json)->Prepare({c2, "debit", Debit("5")});
  ASSERT_TRUE(vc.ok() && vc->vote == Vote::kYes) << vc.status();
  ASSERT_TRUE((*json)->Commit(c2).ok());
  EXPECT_EQ(PgBalance(), "70");

  Child& c = *children_.back();
  c.Signal(SIGTERM);
  const auto rc = c.WaitExit(seconds(30));
  ASSERT_TRUE(rc.has_value()) << c.Output();
  EXPECT_EQ(*rc, 0) << c.Output();
  EXPECT_NE(c.Output().find(R"("msg":"stopped")"), std::string::npos) << c.Output();
}

TEST_F(TxParticipantTest, KillNineBetweenPrepareAndCommitThenRestartCommitsExactlyOnce) {
  ASSERT_NO_FATAL_FAILURE(SetUpStores());
  const std::string config = WriteConfig(GoodConfig());
  const BranchId a{coordinator_, "t1", "pg"}, b{coordinator_, "t1", "redis"};
  {
    const int port = StartServing(config);
    ASSERT_NE(port, 0);
    auto pg = Remote(port, "bank-pg");
    auto redis = Remote(port, "wallet-redis");
    auto va = pg->Prepare({a, "debit", Debit("40")});
    auto vb = redis->Prepare({b, "debit", Debit("40")});
    ASSERT_TRUE(va.ok() && va->vote == Vote::kYes) << va.status();
    ASSERT_TRUE(vb.ok() && vb->vote == Vote::kYes) << vb.status();
    children_.back()->Kill9();
  }
  EXPECT_EQ(pg_->Prepared(coordinator_).size(), 1u);  // the prepared state is in the store
  EXPECT_EQ(PgBalance(), "100");
  EXPECT_EQ(RedisBalance(), "100");

  const int port = StartServing(config);
  ASSERT_NE(port, 0);
  auto pg = Remote(port, "bank-pg");
  auto redis = Remote(port, "wallet-redis");
  for (auto* p : {pg.get(), redis.get()}) {
    auto listed = p->InDoubt(coordinator_);
    ASSERT_TRUE(listed.ok()) << listed.status();
    ASSERT_EQ(listed->size(), 1u) << p->name();
  }
  ASSERT_TRUE(pg->Commit(a).ok());
  ASSERT_TRUE(redis->Commit(b).ok());
  ASSERT_TRUE(pg->Commit(a).ok());  // a coordinator retrying after the crash
  ASSERT_TRUE(redis->Commit(b).ok());
  EXPECT_EQ(PgBalance(), "60");
  EXPECT_EQ(RedisBalance(), "60");
  EXPECT_TRUE(pg_->Prepared(coordinator_).empty());
}

TEST_F(TxParticipantTest, UsageErrorsExitTwo) {
  ExpectExit({}, 2, "--config FILE is required");
  ExpectExit({"--bogus"}, 2, "unknown argument '--bogus'");
  ExpectExit({"--config"}, 2, "--config needs a FILE");
  ExpectExit({"--config", WriteConfig("{}")}, 2, "TXC_FAILPOINTS",
             {"TXC_FAILPOINTS=no.such.action=explode"});
  Child& help = Start({"--help"});
  EXPECT_EQ(help.WaitExit(seconds(30)), std::optional<int>(0));
  EXPECT_NE(help.Output().find("usage: txparticipant --config FILE"), std::string::npos);
}

TEST_F(TxParticipantTest, BadConfigsExitTwoNamingTheProblem) {
  const std::string redis = RedisConfigJson("redis://127.0.0.1:1/0");
  const std::string head = R"({"listen":"127.0.0.1:0","token":"t","participants":[)";
  const std::string missing = (dir_ / "no-such.json").string();
  ExpectExit({"--config", missing}, 2, "cannot read config file " + missing);
  ExpectExit({"--config", WriteConfig(R"({"listen": )", "a.json")}, 2, "invalid JSON");
  ExpectExit({"--config", WriteConfig(head + R"({"name":"m","kind":"mongo"}]})", "b.json")}, 2,
             "unknown kind 'mongo'");
  ExpectExit({"--config", WriteConfig(head + redis + R"(],"colour":"red"})", "c.json")}, 2,
             R"(unknown configuration key \"colour\")");
  ExpectExit({"--config",
              WriteConfig(R"({"listen":"127.0.0.1:0","participants":[)" + redis + "]}", "d.json")},
             2, R"(\"token\" is required)");
  const std::string var = "TXC_SURELY_UNSET_" + unique_;
  ExpectExit({"--config", WriteConfig(R"({"listen":"127.0.0.1:0","token":"${env:)" + var +
                                          R"(}","participants":[)" + redis + "]}",
                                      "e.json")},
             2, "environment variable " + var + " is not set");
  ExpectExit({"--config", WriteConfig(head + R"({"name":"w","kind":"redis",
      "url":"redis://127.0.0.1:1/0","actions":{"broken":{"guards":[]}}}]})",
                                      "f.json")},
             2, "broken");
  ExpectExit(
      {"--config",
       WriteConfig(R"({"listen":"nowhere","token":"t","participants":[)" + redis + "]}", "g.json")},
      2, R"(\"listen\" must be HOST:PORT)");
  ExpectExit({"--config",
              WriteConfig(R"({"listen":"127.0.0.1:0","token":"t","participants":[]})", "h.json")},
             2, R"(\"participants\" must be a non-empty array)");
}

TEST_F(TxParticipantTest, UnreachableStoreOrPortInUseExitsOne) {
  TXC_REQUIRE_ENV(url, "TXC_REDIS_URL");
  // A PostgreSQL that is not there (nothing listens on port 1).
  ExpectExit(
      {"--config", WriteConfig(R"({"listen":"127.0.0.1:0","token":"t","participants":[{"name":"p",)"
                               R"("kind":"postgres","dsn":"postgresql://127.0.0.1:1/x",)"
                               R"("actions":{"a":{"sql":"SELECT 1"}}}]})",
                               "a.json")},
      1, R"("exit":"1")");
  // A Redis that is not there.
  ExpectExit({"--config", WriteConfig(R"({"listen":"127.0.0.1:0","token":"t","participants":[)" +
                                          RedisConfigJson("redis://127.0.0.1:1/0") + "]}",
                                      "r.json")},
             1, "store probe");
  // The listen port is taken (by a socket with SO_REUSEPORT, as Poco binds by default).
  Poco::Net::ServerSocket taken(Poco::Net::SocketAddress("127.0.0.1", 0));
  const std::string listen = "127.0.0.1:" + std::to_string(taken.address().port());
  ExpectExit({"--config", WriteConfig(R"({"listen":")" + listen + R"(","token":"t",)" +
                                          R"("participants":[)" + RedisConfigJson(url) + "]}",
                                      "b.json")},
             1, "cannot listen on " + listen);
}

}  // namespace
}  // namespace txcoord::http_testing
