#include "harness.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "txcoord/testing/env.h"
#include "txcoord/testing/net.h"
#include "txcoord/testing/poll.h"

namespace txcoord::e2e {
namespace {

using Clock = std::chrono::steady_clock;

std::string RandomHex() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", rd());
  return buf;
}

std::string Quote(const std::string& s) {
  return "\"" + s + "\"";
}

}  // namespace

HttpReply Http(std::uint16_t port, const std::string& method, const std::string& path,
               const std::string& body, std::map<std::string, std::string> headers,
               std::chrono::milliseconds timeout) {
  HttpReply out;
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    session.setTimeout(Poco::Timespan(std::chrono::microseconds(timeout).count()));
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    if (method == "POST" && !headers.contains("Content-Type")) {
      headers["Content-Type"] = "application/json";
    }
    for (const auto& [k, v] : headers) req.set(k, v);
    if (method == "POST" || !body.empty())
      req.setContentLength64(static_cast<Poco::Int64>(body.size()));
    session.sendRequest(req) << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    Poco::StreamCopier::copyToString(in, out.body);
    out.status = static_cast<int>(resp.getStatus());
    for (const auto& [k, v] : resp) out.headers[k] = v;
  } catch (const Poco::Exception& e) {
    out.status = -1;
    out.error = e.displayText();
  } catch (const std::exception& e) {
    out.status = -1;
    out.error = e.what();
  }
  return out;
}

std::string JsonField(const std::string& body, const std::string& path) {
  try {
    Poco::JSON::Parser parser;
    Poco::Dynamic::Var v = parser.parse(body);
    std::string rest = path;
    while (true) {
      auto obj = v.extract<Poco::JSON::Object::Ptr>();
      const auto dot = rest.find('.');
      const std::string key = rest.substr(0, dot);
      if (!obj || !obj->has(key)) return "";
      v = obj->get(key);
      if (dot == std::string::npos) break;
      rest = rest.substr(dot + 1);
    }
    return v.convert<std::string>();
  } catch (const Poco::Exception&) {
    return "";
  }
}

Daemon::Daemon(std::string binary, std::string config_path, std::string log_path)
    : binary_(std::move(binary)),
      config_path_(std::move(config_path)),
      log_path_(std::move(log_path)) {}

Daemon::~Daemon() {
  Kill();
}

bool Daemon::Start(const std::string& failpoints) {
  Kill();
  const std::string config_arg = "--config=" + config_path_;
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {  // child: only async-signal-safe calls until exec
    const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (failpoints.empty()) {
      ::unsetenv("TXC_FAILPOINTS");
    } else {
      ::setenv("TXC_FAILPOINTS", failpoints.c_str(), 1);
    }
    ::execl(binary_.c_str(), binary_.c_str(), config_arg.c_str(), nullptr);
    ::_exit(127);
  }
  pid_ = pid;
  return true;
}

::testing::AssertionResult Daemon::WaitReady(std::uint16_t port, const std::string& path,
                                             std::chrono::milliseconds deadline) {
  if (!running()) return ::testing::AssertionFailure() << "txcoordd is not running";
  int status = 0;
  bool exited = false;
  const bool ready = testing::Eventually(
      [&] {
        exited = ::waitpid(pid_, &status, WNOHANG) == pid_;
        return exited || Http(port, "GET", path, "", {}, 1s).status == 200;
      },
      deadline, 20ms);
  if (exited) {
    pid_ = -1;
    return ::testing::AssertionFailure()
           << "txcoordd exited during start-up (status " << status << "):\n"
           << LogTail();
  }
  if (ready) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << binary_ << " not ready in time:\n" << LogTail();
}

int Daemon::WaitExit(std::chrono::milliseconds deadline) {
  if (!running()) return -1;
  int status = 0;
  if (!testing::Eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, deadline)) {
    return -1;
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void Daemon::Kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string Daemon::LogTail() const {
  std::ifstream in(log_path_);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
}

void E2eTest::SetUp() {
  TXC_REQUIRE_ENV(pg, "TXC_PG_DSN");
  TXC_REQUIRE_ENV(redis, "TXC_REDIS_URL");
  pg_dsn_ = pg;
  redis_url_ = redis;
  cid_ = "e2e-" + RandomHex();
  char tmpl[] = "/tmp/txc-e2e-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  port_ = testing::FreeLoopbackPort();
  ASSERT_NE(port_, 0);
  pg_ = std::make_unique<Pg>(pg_dsn_);
  ASSERT_TRUE(pg_->ok()) << pg_->last_error();
  redis_ = std::make_unique<Redis>(redis_url_);
  ASSERT_TRUE(redis_->ok()) << redis_->last_error();
  // Shared by all tests (rows are per test); the advisory lock serializes parallel creators.
  ASSERT_TRUE(pg_->Exec(
      "BEGIN; SELECT pg_advisory_xact_lock(71170); CREATE TABLE IF NOT EXISTS e2e_accounts ("
      "id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0)); COMMIT"))
      << pg_->last_error();
  daemon_ =
      std::make_unique<Daemon>(TXC_TXCOORDD_PATH, dir_ + "/txcoordd.json", dir_ + "/txcoordd.log");
  participant_port_ = testing::FreeLoopbackPort();
  participant_ = std::make_unique<Daemon>(TXC_TXPARTICIPANT_PATH, dir_ + "/txparticipant.json",
                                          dir_ + "/txparticipant.log");
}

void E2eTest::TearDown() {
  if (daemon_) {
    if (HasFailure()) std::cerr << "--- txcoordd log tail ---\n" << daemon_->LogTail() << "\n";
    daemon_->Kill();
  }
  if (participant_) {
    if (HasFailure() && wallet_remote_) {
      std::cerr << "--- txparticipant log tail ---\n" << participant_->LogTail() << "\n";
    }
    participant_->Kill();
  }
  if (pg_ && pg_->ok()) {
    for (const auto& gid :
         pg_->Column("SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'txc:" + cid_ + ":%'")) {
      pg_->Exec("ROLLBACK PREPARED '" + gid + "'");
    }
    pg_->Exec("DELETE FROM e2e_accounts WHERE id LIKE '" + cid_ + "-%'");
  }
  if (redis_ && redis_->ok()) {
    for (const auto& pattern :
         {"wallet:{" + cid_ + "-*", "txc:{" + cid_ + "-*", "txc:i:" + cid_ + ":*"}) {
      for (const auto& key : redis_->Keys(pattern)) redis_->Cmd({"DEL", key});
    }
  }
  if (!dir_.empty() && !HasFailure()) std::filesystem::remove_all(dir_);
}

std::string E2eTest::WriteConfig() {
  const std::string path = dir_ + "/txcoordd.json";
  std::ofstream out(path, std::ios::trunc);
  out << "{\"coordinator_id\":" << Quote(cid_) << ",\"listen\":\"127.0.0.1:" << port_
      << "\",\"wal_dir\":" << Quote(dir_ + "/wal") << ",\"worker_threads\":4,\"http_threads\":8,"
      << extra_config_ << "\"participants\":["
      << "{\"name\":\"bank-pg\",\"kind\":\"postgres\",\"dsn\":" << Quote(pg_dsn_)
      << ",\"pool_size\":4," << pg_extra_ << "\"actions\":{"
      << "\"debit\":{\"sql\":[\"UPDATE e2e_accounts SET balance = balance - :amount WHERE id = "
         ":account AND balance >= :amount\"],\"expect_rows\":[1]},"
      << "\"credit\":{\"sql\":[\"UPDATE e2e_accounts SET balance = balance + :amount WHERE id = "
         ":account\"],\"expect_rows\":[1]}}},"
      << (wallet_remote_ ? "{\"name\":\"wallet-redis\",\"kind\":\"remote\",\"url\":\"http://"
                           "127.0.0.1:" +
                               std::to_string(participant_port_) +
                               "\",\"token\":\"e2e-token\",\"call_timeout_ms\":2000}"
                         : WalletConfig())
      << "]}";
  return path;
}

std::string E2eTest::WalletConfig() const {
  return "{\"name\":\"wallet-redis\",\"kind\":\"redis\",\"url\":" + Quote(redis_url_) +
         ",\"pool_size\":4,\"actions\":{"
         "\"debit\":{\"guards\":[{\"key\":\"wallet:{${account}}\",\"op\":\">=\","
         "\"value\":\"${amount}\"}],\"writes\":[[\"DECRBY\",\"wallet:{${account}}\","
         "\"${amount}\"]]},"
         "\"credit\":{\"writes\":[[\"INCRBY\",\"wallet:{${account}}\",\"${amount}\"]]}}}";
}

::testing::AssertionResult E2eTest::StartParticipant(const std::string& failpoints) {
  {
    std::ofstream out(dir_ + "/txparticipant.json", std::ios::trunc);
    out << "{\"listen\":\"127.0.0.1:" << participant_port_
        << "\",\"token\":\"e2e-token\",\"participants\":[" << WalletConfig() << "]}";
  }
  if (!participant_->Start(failpoints)) return ::testing::AssertionFailure() << "fork failed";
  return participant_->WaitReady(participant_port_, "/healthz", 20s);
}

::testing::AssertionResult E2eTest::StartDaemon(const std::string& failpoints) {
  WriteConfig();
  if (!daemon_->Start(failpoints)) return ::testing::AssertionFailure() << "fork failed";
  return daemon_->WaitReady(port_, "/readyz", 20s);
}

::testing::AssertionResult E2eTest::RestartDaemon() {
  daemon_->Kill();
  if (!daemon_->Start()) return ::testing::AssertionFailure() << "fork failed";
  return daemon_->WaitReady(port_, "/readyz", 20s);
}

HttpReply E2eTest::Post(const std::string& path, const std::string& body,
                        std::map<std::string, std::string> headers) {
  return Http(port_, "POST", path, body, std::move(headers));
}

HttpReply E2eTest::Get(const std::string& path) {
  return Http(port_, "GET", path);
}

std::string E2eTest::CreateAccount(const std::string& suffix, long long balance) {
  const std::string id = cid_ + "-" + suffix;
  EXPECT_TRUE(
      pg_->Exec("INSERT INTO e2e_accounts VALUES ('" + id + "', " + std::to_string(balance) + ")"))
      << pg_->last_error();
  return id;
}

std::string E2eTest::CreateWallet(const std::string& suffix, long long balance) {
  const std::string id = cid_ + "-" + suffix;
  EXPECT_TRUE(redis_->Cmd({"SET", "wallet:{" + id + "}", std::to_string(balance)}));
  return id;
}

long long E2eTest::Balance(const std::string& account) {
  auto v = pg_->Scalar("SELECT balance FROM e2e_accounts WHERE id = '" + account + "'");
  return v ? std::stoll(*v) : -1;
}

long long E2eTest::Wallet(const std::string& wallet) {
  auto v = redis_->Cmd({"GET", "wallet:{" + wallet + "}"});
  return v ? std::stoll(*v) : -1;
}

std::string E2eTest::TransferBody(const std::string& gid, const std::string& account,
                                  const std::string& wallet, long long amount,
                                  long long timeout_ms) const {
  const std::string amt = std::to_string(amount);
  return "{\"mode\":\"2pc\",\"gid\":" + Quote(gid) +
         ",\"timeout_ms\":" + std::to_string(timeout_ms) +
         ",\"branches\":[{\"participant\":\"bank-pg\",\"action\":\"debit\",\"payload\":"
         "{\"account\":" +
         Quote(account) + ",\"amount\":" + amt +
         "}},{\"participant\":\"wallet-redis\",\"action\":\"credit\",\"payload\":{\"account\":" +
         Quote(wallet) + ",\"amount\":" + amt + "}}]}";
}

std::string E2eTest::WaitFinal(const std::string& gid, std::chrono::milliseconds deadline) {
  std::string state;
  testing::Eventually(
      [&] {
        HttpReply r = Get("/v1/transactions/" + gid);
        if (r.status != 200 || JsonField(r.body, "phase2_complete") != "true") return false;
        state = JsonField(r.body, "state");
        return true;
      },
      deadline, 50ms);
  return state;
}

long long E2eTest::PreparedCount(const std::string& coordinator_id) {
  auto v = pg_->Scalar(
      "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'txc:" + coordinator_id + ":%'");
  return v ? std::stoll(*v) : -1;
}

void E2eTest::ExpectNoLeftovers() {
  EXPECT_EQ(PreparedCount(cid_), 0) << "prepared transactions of " << cid_ << " left";
  const std::string tags = "txc:{" + cid_ + "-*}";
  EXPECT_TRUE(redis_->Keys(tags + ":l:*").empty()) << "Redis lock records left";
  for (const auto& set : redis_->Keys(tags + ":prepared")) {
    EXPECT_EQ(redis_->Cmd({"ZCARD", set}).value_or("?"), "0") << set << " not empty";
  }
  for (const auto& barrier : redis_->Keys(tags + ":b:*")) {
    auto state = redis_->Cmd({"HGET", barrier, "state"});
    EXPECT_TRUE(state == "committed" || state == "aborted")
        << barrier << " is " << state.value_or("nil");
    EXPECT_FALSE(redis_->Cmd({"HGET", barrier, "writes"})) << barrier << " still has staged writes";
  }
}

}  // namespace txcoord::e2e
