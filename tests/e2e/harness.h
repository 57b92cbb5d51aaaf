#pragma once
// End-to-end harness: runs the real txcoordd (path baked in at build time) against the servers
// of scripts/services and checks PostgreSQL and Redis directly.
//
// E2eTest gives every test its own coordinator id (so prepared names never collide with a
// parallel test), temp dir (config, WAL, daemon log), loopback port, accounts and wallets. The
// daemon it starts is always SIGKILLed and reaped in TearDown / the Daemon destructor, also
// after a failed assertion, and the test's prepared transactions and Redis records are cleaned.
// Thread-safety: Http() may be called from several threads; everything else from the test thread.
#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "stores.h"

namespace txcoord::e2e {

using namespace std::chrono_literals;

struct HttpReply {
  int status = -1;  // -1: no answer (connection refused/reset, timeout); see error
  std::string body;
  std::map<std::string, std::string> headers;
  std::string error;
};

// One HTTP/1.1 exchange with 127.0.0.1:port on a fresh connection.
HttpReply Http(std::uint16_t port, const std::string& method, const std::string& path,
               const std::string& body = "", std::map<std::string, std::string> headers = {},
               std::chrono::milliseconds timeout = 15s);

// A string field of a JSON object body ("" when absent or not JSON); `path` may be "a.b".
std::string JsonField(const std::string& body, const std::string& path);

// A child server process (txcoordd or txparticipant), run as `binary --config=FILE` with its
// stdout/stderr appended to log_path. Owns the pid: the destructor SIGKILLs and reaps it.
class Daemon {
 public:
  Daemon(std::string binary, std::string config_path, std::string log_path);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // fork+exec with TXC_FAILPOINTS=failpoints (unset when empty). False if fork failed.
  bool Start(const std::string& failpoints = "");
  // Polls GET `path` until 200, the process exits, or the deadline passes.
  ::testing::AssertionResult WaitReady(std::uint16_t port, const std::string& path,
                                       std::chrono::milliseconds deadline);
  // The exit code (128+signal when killed) once it exits, -1 if still running at the deadline.
  int WaitExit(std::chrono::milliseconds deadline);
  void Kill();  // SIGKILL + reap; no-op when not running
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }  // -1 when not running (for SIGSTOP/SIGCONT faults)
  std::string LogTail() const;        // the last lines of the daemon's stderr, for failure messages

 private:
  std::string binary_;
  std::string config_path_;
  std::string log_path_;
  pid_t pid_ = -1;
};

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Extra top-level config text (e.g. "\"token\":\"t\",") and bank-pg fields, set before
  // StartDaemon.
  std::string extra_config_;
  std::string pg_extra_;
  // Serve wallet-redis from a txparticipant process (kind "remote") instead of in-process.
  bool wallet_remote_ = false;

  ::testing::AssertionResult StartDaemon(const std::string& failpoints = "");
  // SIGKILL (kill -9) and restart on the same WAL without fault points.
  ::testing::AssertionResult RestartDaemon();
  // The txparticipant process serving wallet-redis (wallet_remote_), on its own port.
  ::testing::AssertionResult StartParticipant(const std::string& failpoints = "");

  HttpReply Post(const std::string& path, const std::string& body,
                 std::map<std::string, std::string> headers = {});
  HttpReply Get(const std::string& path);

  // A PostgreSQL account / Redis wallet owned by this test: id = "<cid>-<suffix>".
  std::string CreateAccount(const std::string& suffix, long long balance);
  std::string CreateWallet(const std::string& suffix, long long balance);
  long long Balance(const std::string& account);  // -1 when missing
  long long Wallet(const std::string& wallet);    // -1 when missing

  // A 2PC transfer: bank-pg debit `account`, wallet-redis credit `wallet`.
  std::string TransferBody(const std::string& gid, const std::string& account,
                           const std::string& wallet, long long amount,
                           long long timeout_ms = 5000) const;
  std::string Gid(const std::string& suffix) const { return cid_ + "-" + suffix; }
  std::string PreparedName(const std::string& gid, const std::string& branch) const {
    return "txc:" + cid_ + ":" + gid + ":" + branch;
  }

  // Polls GET /v1/transactions/{gid} until phase2_complete; returns its "state" ("" on timeout).
  std::string WaitFinal(const std::string& gid, std::chrono::milliseconds deadline = 20s);
  // No prepared transaction of this coordinator in PostgreSQL, and no Redis lock, key list or
  // prepared-set entry for this test's wallets.
  void ExpectNoLeftovers();
  long long PreparedCount(const std::string& coordinator_id);

  std::string cid_;
  std::string dir_;
  std::uint16_t port_ = 0;
  std::string pg_dsn_;
  std::string redis_url_;
  std::unique_ptr<Pg> pg_;
  std::unique_ptr<Redis> redis_;
  std::unique_ptr<Daemon> daemon_;
  std::uint16_t participant_port_ = 0;
  std::unique_ptr<Daemon> participant_;

 private:
  std::string WriteConfig();
  std::string WalletConfig() const;  // the wallet-redis participant object
};

}  // namespace txcoord::e2e
