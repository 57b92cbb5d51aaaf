#pragma once
// The chaos bank: accounts in PostgreSQL (table chaos_accounts), wallets in Redis
// (wallet:{<id>}), a txcoordd serving bank-pg in-process and wallet-redis through a
// txparticipant process. Every transfer carries a transfer id (tid, also its gid and
// Idempotency-Key) that each action writes to a per-store ledger with the signed amount:
// PostgreSQL chaos_ledger(tid, account, delta), Redis hash chaos:ledger:{<wallet>} field tid.
// A transfer's net ledger delta per store tells whether it was applied, not applied, applied
// twice or half-applied (see checks.h).
//
// Thread-safety: Transfer() may be called from several threads at once; everything else from
// the driver thread only. Failures come back as false / a message; nothing throws.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "harness.h"
#include "stores.h"

namespace txcoord::chaos {

enum class Outcome { kCommitted, kAborted, kUnknown };

struct TransferRecord {
  std::string tid;
  bool pg_to_redis = true;  // debit the account, credit the wallet (else the other way)
  bool saga = false;
  std::string account;
  std::string wallet;
  long long amount = 0;
  Outcome outcome = Outcome::kUnknown;
  std::string note;  // the last answer, for violation messages
};

class Bank {
 public:
  Bank(std::string pg_dsn, std::string redis_url, std::string services);
  ~Bank();
  Bank(const Bank&) = delete;
  Bank& operator=(const Bank&) = delete;

  // Creates the tables, `accounts` accounts and wallets (balance each), writes the configs,
  // starts txparticipant and txcoordd. False with a message in error().
  bool Setup(int accounts, long long balance);
  // Sends one transfer and retries it with the same Idempotency-Key while the answer is not
  // final (no answer, 409 still running, 429, 5xx, saga still running), until `deadline`.
  void Transfer(TransferRecord& t, std::chrono::steady_clock::time_point deadline);

  // Faults; each returns false (and error()) when the restart did not come back.
  bool KillCoordinator();
  bool KillParticipant();
  bool RestartPostgres();
  bool RestartRedis();
  // kill -9 and restart txcoordd on its WAL: false when replay does not reach /readyz.
  bool RestartCoordinatorOnWal();
  bool PauseParticipant(std::chrono::milliseconds for_how_long);

  // Polls /metrics until txcoord_transactions_in_flight is 0 (after making sure both daemons
  // run and are ready).
  bool WaitQuiet(std::chrono::milliseconds deadline);
  // New store connections for the checks (the old ones die with a server restart).
  bool Reconnect();
  // Removes everything this run created (tables rows, keys, prepared transactions, temp dir).
  void Cleanup();

  const std::string& cid() const { return cid_; }
  const std::vector<std::string>& accounts() const { return accounts_; }
  const std::vector<std::string>& wallets() const { return wallets_; }
  long long initial_balance() const { return balance_; }
  e2e::Pg& pg() { return *pg_; }
  e2e::Redis& redis() { return *redis_; }
  std::uint16_t port() const { return port_; }
  std::string error() const;

 private:
  bool StartCoordinator();
  bool StartParticipant();
  bool Shell(const std::string& args);
  void WriteConfigs();
  void SetError(const std::string& e);

  std::string pg_dsn_, redis_url_, services_;
  std::string cid_, dir_;
  std::uint16_t port_ = 0, participant_port_ = 0;
  long long balance_ = 0;
  std::vector<std::string> accounts_, wallets_;
  std::unique_ptr<e2e::Pg> pg_;
  std::unique_ptr<e2e::Redis> redis_;
  std::unique_ptr<e2e::Daemon> coordinator_, participant_;
  mutable std::mutex mu_;
  std::string error_;
};

}  // namespace txcoord::chaos
