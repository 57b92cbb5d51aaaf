#include "bank.h"
#include "txcoord/testing/net.h"
#include "txcoord/testing/poll.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace txcoord::chaos {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::string Quote(const std::string& s) {
  return "\"" + s + "\"";
}

// The ledger-writing bank actions (the sample's debit/credit plus one ledger write each).
std::string PgParticipant(const std::string& dsn) {
  return "{\"name\":\"bank-pg\",\"kind\":\"postgres\",\"dsn\":" + Quote(dsn) +
         ",\"pool_size\":8,\"actions\":{"
         "\"debit\":{\"sql\":[\"UPDATE chaos_accounts SET balance = balance - :amount WHERE id = "
         ":account AND balance >= :amount\",\"INSERT INTO chaos_ledger (tid, account, delta) "
         "VALUES (:tid, :account, -CAST(:amount AS bigint))\"],\"expect_rows\":[1,1]},"
         "\"credit\":{\"sql\":[\"UPDATE chaos_accounts SET balance = balance + :amount WHERE id = "
         ":account\",\"INSERT INTO chaos_ledger (tid, account, delta) VALUES (:tid, :account, "
         "CAST(:amount AS bigint))\"],\"expect_rows\":[1,1]}}}";
}

std::string RedisParticipant(const std::string& url) {
  return "{\"name\":\"wallet-redis\",\"kind\":\"redis\",\"url\":" + Quote(url) +
         ",\"pool_size\":8,\"actions\":{"
         "\"debit\":{\"guards\":[{\"key\":\"wallet:{${account}}\",\"op\":\">=\",\"value\":"
         "\"${amount}\"}],\"writes\":[[\"DECRBY\",\"wallet:{${account}}\",\"${amount}\"],"
         "[\"HINCRBY\",\"chaos:ledger:{${account}}\",\"${tid}\",\"-${amount}\"]]},"
         "\"credit\":{\"guards\":[{\"key\":\"wallet:{${account}}\",\"op\":\"exists\"}],"
         "\"writes\":[[\"INCRBY\",\"wallet:{${account}}\",\"${amount}\"],"
         "[\"HINCRBY\",\"chaos:ledger:{${account}}\",\"${tid}\",\"${amount}\"]]}}}";
}

std::string Branch(const std::string& participant, const std::string& action,
                   const std::string& payload, const std::string& compensation) {
  std::string b = "{\"participant\":" + Quote(participant) + ",\"action\":" + Quote(action) +
                  ",\"payload\":" + payload;
  if (!compensation.empty()) {
    b += ",\"compensation\":{\"action\":" + Quote(compensation) + ",\"payload\":" + payload + "}";
  }
  return b + "}";
}

std::string Body(const TransferRecord& t) {
  const std::string amt = std::to_string(t.amount);
  const std::string pg =
      "{\"account\":" + Quote(t.account) + ",\"amount\":" + amt + ",\"tid\":" + Quote(t.tid) + "}";
  const std::string rd =
      "{\"account\":" + Quote(t.wallet) + ",\"amount\":" + amt + ",\"tid\":" + Quote(t.tid) + "}";
  const std::string from_p = t.pg_to_redis ? "bank-pg" : "wallet-redis";
  const std::string to_p = t.pg_to_redis ? "wallet-redis" : "bank-pg";
  const std::string& from = t.pg_to_redis ? pg : rd;
  const std::string& to = t.pg_to_redis ? rd : pg;
  return "{\"mode\":" + Quote(t.saga ? "saga" : "2pc") + ",\"gid\":" + Quote(t.tid) +
         ",\"timeout_ms\":3000,\"branches\":[" +
         Branch(from_p, "debit", from, t.saga ? "credit" : "") + "," +
         Branch(to_p, "credit", to, t.saga ? "debit" : "") + "]}";
}

}  // namespace

Bank::Bank(std::string pg_dsn, std::string redis_url, std::string services)
    : pg_dsn_(std::move(pg_dsn)), redis_url_(std::move(redis_url)), services_(std::move(services)) {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", rd());
  cid_ = std::string("chaos-") + buf;
}

Bank::~Bank() = default;

std::string Bank::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

void Bank::SetError(const std::string& e) {
  std::lock_guard lock(mu_);
  error_ = e;
}

bool Bank::Setup(int accounts, long long balance) {
  balance_ = balance;
  char tmpl[] = "/tmp/txc-chaos-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return SetError("mkdtemp failed"), false;
  dir_ = tmpl;
  port_ = txcoord::testing::FreeLoopbackPort();
  participant_port_ = txcoord::testing::FreeLoopbackPort();
  if (!Reconnect()) return false;
  if (!pg_->Exec("BEGIN; SELECT pg_advisory_xact_lock(71171);"
                 "CREATE TABLE IF NOT EXISTS chaos_accounts (id text PRIMARY KEY,"
                 " balance bigint NOT NULL CHECK (balance >= 0));"
                 "CREATE TABLE IF NOT EXISTS chaos_ledger (tid text NOT NULL, account text NOT "
                 "NULL, delta bigint NOT NULL); COMMIT")) {
    return SetError("schema: " + pg_->last_error()), false;
  }
  for (int i = 0; i < accounts; ++i) {
    const std::string a = cid_ + "-a" + std::to_string(i);
    const std::string w = cid_ + "-w" + std::to_string(i);
    if (!pg_->Exec("INSERT INTO chaos_accounts VALUES ('" + a + "', " + std::to_string(balance) +
                   ")") ||
        !redis_->Cmd({"SET", "wallet:{" + w + "}", std::to_string(balance)})) {
      return SetError("creating accounts: " + pg_->last_error() + redis_->last_error()), false;
    }
    accounts_.push_back(a);
    wallets_.push_back(w);
  }
  WriteConfigs();
  coordinator_ = std::make_unique<e2e::Daemon>(TXC_TXCOORDD_PATH, dir_ + "/txcoordd.json",
                                               dir_ + "/txcoordd.log");
  participant_ = std::make_unique<e2e::Daemon>(TXC_TXPARTICIPANT_PATH, dir_ + "/txparticipant.json",
                                               dir_ + "/txparticipant.log");
  return StartParticipant() && StartCoordinator();
}

void Bank::WriteConfigs() {
  std::ofstream c(dir_ + "/txcoordd.json", std::ios::trunc);
  c << "{\"coordinator_id\":" << Quote(cid_) << ",\"listen\":\"127.0.0.1:" << port_
    << "\",\"wal_dir\":"
    << Quote(dir_ + "/wal")
    // Checkpoints every 50 records (default 1,000): many per round, so the kills land in
    // and around them too (a snapshot written while transactions go on, docs/coordinator.md).
    << ",\"worker_threads\":4,\"http_threads\":16,\"checkpoint_every_records\":50"
    << ",\"participants\":[" << PgParticipant(pg_dsn_)
    << ",{\"name\":\"wallet-redis\",\"kind\":\"remote\",\"url\":\"http://127.0.0.1:"
    << participant_port_ << "\",\"token\":\"chaos-token\",\"call_timeout_ms\":2000}]}";
  std::ofstream p(dir_ + "/txparticipant.json", std::ios::trunc);
  p << "{\"listen\":\"127.0.0.1:" << participant_port_
    << "\",\"token\":\"chaos-token\",\"participants\":[" << RedisParticipant(redis_url_) << "]}";
}

bool Bank::StartCoordinator() {
  if (!coordinator_->Start()) return SetError("fork failed"), false;
  auto r = coordinator_->WaitReady(port_, "/readyz", 30s);
  if (!r) SetError(std::string("txcoordd: ") + r.message());
  return static_cast<bool>(r);
}

bool Bank::StartParticipant() {
  if (!participant_->Start()) return SetError("fork failed"), false;
  auto r = participant_->WaitReady(participant_port_, "/healthz", 30s);
  if (!r) SetError(std::string("txparticipant: ") + r.message());
  return static_cast<bool>(r);
}

bool Bank::Shell(const std::string& args) {
  const std::string cmd =
      Quote(services_) + " " + args + " >>" + Quote(dir_ + "/services.log") + " 2>&1";
  if (std::system(cmd.c_str()) != 0) return SetError("failed: " + cmd), false;
  return true;
}

bool Bank::KillCoordinator() {
  coordinator_->Kill();
  return StartCoordinator();
}

bool Bank::KillParticipant() {
  participant_->Kill();
  return StartParticipant();
}

bool Bank::RestartPostgres() {
  return Shell("pg-stop immediate") && Shell("pg-start");
}

bool Bank::RestartRedis() {
  return Shell("redis-stop --kill") && Shell("redis-start");
}

bool Bank::PauseParticipant(std::chrono::milliseconds for_how_long) {
  const pid_t pid = participant_->pid();
  if (pid <= 0) return SetError("txparticipant not running"), false;
  ::kill(pid, SIGSTOP);
  std::this_thread::sleep_for(for_how_long);  // the fault's duration, not a wait for state
  ::kill(pid, SIGCONT);
  return true;
}

void Bank::Transfer(TransferRecord& t, SteadyClock::time_point deadline) {
  const std::string body = Body(t);
  const auto budget =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  if (budget.count() <= 0) return;
  // Sent again with the same key every 100 ms (no answer, or not final yet) until it has an
  // outcome or the budget runs out: a client that retries.
  txcoord::testing::Eventually(
      [&] {
        e2e::HttpReply r =
            e2e::Http(port_, "POST", "/v1/transactions", body, {{"Idempotency-Key", t.tid}}, 10s);
        t.note = std::to_string(r.status) + " " + (r.status == -1 ? r.error : r.body);
        if (r.status == 200) {
          const std::string state = e2e::JsonField(r.body, "state");
          if (state == "committed") {
            t.outcome = Outcome::kCommitted;
            return true;
          }
          if (state == "ABORTED" || state == "aborted" || state == "compensated") {
            t.outcome = Outcome::kAborted;
            return true;
          }
        }
        // 400/404/422: a client or server bug, left unknown and reported by the checks (note).
        return r.status == 400 || r.status == 404 || r.status == 422;
      },
      budget, 100ms);
}

bool Bank::WaitQuiet(std::chrono::milliseconds deadline) {
  if (!participant_->running() && !StartParticipant()) return false;
  if (!coordinator_->running() && !StartCoordinator()) return false;
  std::string last;
  const bool quiet = txcoord::testing::Eventually(
      [&] {
        e2e::HttpReply r = e2e::Http(port_, "GET", "/metrics", "", {}, 2s);
        const auto pos = r.body.find("\ntxcoord_transactions_in_flight ");
        if (r.status != 200 || pos == std::string::npos) return false;
        const auto start = pos + std::string("\ntxcoord_transactions_in_flight ").size();
        last = r.body.substr(start, r.body.find('\n', start) - start);
        return last == "0";
      },
      deadline, 100ms);
  if (quiet) return true;
  SetError("transactions still in flight at the deadline: " + last);
  return false;
}

bool Bank::Reconnect() {
  pg_ = std::make_unique<e2e::Pg>(pg_dsn_);
  redis_ = std::make_unique<e2e::Redis>(redis_url_);
  if (!pg_->ok()) return SetError("PostgreSQL: " + pg_->last_error()), false;
  if (!redis_->ok()) return SetError("Redis: " + redis_->last_error()), false;
  return true;
}

bool Bank::RestartCoordinatorOnWal() {
  return KillCoordinator();
}

void Bank::Cleanup() {
  if (coordinator_) coordinator_->Kill();
  if (participant_) participant_->Kill();
  Reconnect();
  if (pg_ && pg_->ok()) {
    for (const auto& gid :
         pg_->Column("SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'txc:" + cid_ + ":%'")) {
      pg_->Exec("ROLLBACK PREPARED '" + gid + "'");
    }
    pg_->Exec("DELETE FROM chaos_accounts WHERE id LIKE '" + cid_ + "-%'");
    pg_->Exec("DELETE FROM chaos_ledger WHERE tid LIKE '" + cid_ + "-%'");
  }
  if (redis_ && redis_->ok()) {
    for (const auto& pattern : {"wallet:{" + cid_ + "-*", "chaos:ledger:{" + cid_ + "-*",
                                "txc:{" + cid_ + "-*", "txc:i:" + cid_ + ":*"}) {
      for (const auto& key : redis_->Keys(pattern)) redis_->Cmd({"DEL", key});
    }
  }
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

}  // namespace txcoord::chaos
