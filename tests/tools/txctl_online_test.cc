// txctl status/list/show/retry against a real txcoordd and the real stores (e2e harness): a
// participant process crashes after applying commit and stays down, so the transfer stays
// "committing"; txctl must show it, then retry it once the participant is back.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness.h"
#include "txctl_run.h"

namespace txcoord::e2e {
namespace {

using Poco::JSON::Object;
using txctl_test::TxctlRun;

constexpr int kCrashExit = 86;
constexpr const char* kToken = "txctl-secret";

class TxctlOnlineTest : public E2eTest {
 protected:
  TxctlRun Txctl(const std::string& args) {
    return txctl_test::RunTxctl(
        "--url http://127.0.0.1:" + std::to_string(port_) + " --token " + kToken + " " + args,
        dir_ + "/txctl.stderr");
  }

  // Polls `txctl --json show gid` until `pred` holds; the last view (nullptr on timeout).
  template <typename Pred>
  Object::Ptr ShowUntil(const std::string& gid, Pred pred, std::chrono::seconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end) {
      TxctlRun r = Txctl("--json show " + gid);
      if (auto v = r.Json(); r.exit_code == 0 && v && pred(v)) return v;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return nullptr;
  }

  static bool HasGid(const Object::Ptr& list, const std::string& gid) {
    auto txns = list ? list->getArray("transactions") : nullptr;
    for (std::size_t i = 0; txns && i < txns->size(); ++i)
      if (txns->getObject(static_cast<unsigned>(i))->getValue<std::string>("gid") == gid)
        return true;
    return false;
  }

  static bool BranchError(const Object::Ptr& v) {
    auto bs = v->getArray("branches");
    for (std::size_t i = 0; bs && i < bs->size(); ++i)
      if (bs->getObject(static_cast<unsigned>(i))->has("error")) return true;
    return false;
  }
};

TEST_F(TxctlOnlineTest, StuckCommitIsListedShownAndRetried) {
  wallet_remote_ = true;
  extra_config_ = std::string("\"token\":\"") + kToken + "\",";
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 50);
  ASSERT_TRUE(StartParticipant("participant.server.after_apply=crash@2"));
  ASSERT_TRUE(StartDaemon());
  const auto gid = Gid("stuck");
  HttpReply reply = Post("/v1/transactions?wait=false", TransferBody(gid, acc, wal, 30),
                         {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_EQ(reply.status, 202) << reply.body;
  ASSERT_EQ(participant_->WaitExit(10s), kCrashExit) << participant_->LogTail();

  auto stuck = ShowUntil(gid, BranchError, 20s);
  ASSERT_TRUE(stuck) << "no branch error shown";
  EXPECT_EQ(stuck->getValue<std::string>("detail"), "committing");
  EXPECT_FALSE(stuck->getValue<bool>("phase2_complete"));
  TxctlRun text = Txctl("show " + gid);
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("committing"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("wallet-redis"), std::string::npos) << text.out;

  EXPECT_TRUE(HasGid(Txctl("--json list --state committing").Json(), gid));
  EXPECT_TRUE(HasGid(Txctl("--json list --participant wallet-redis").Json(), gid));
  EXPECT_FALSE(HasGid(Txctl("--json list --participant no-such").Json(), gid));
  EXPECT_FALSE(HasGid(Txctl("--json list --older-than 1h").Json(), gid));
  EXPECT_TRUE(HasGid(Txctl("--json list --older-than 0s").Json(), gid));
  EXPECT_EQ(Txctl("list --state bogus").exit_code, 2);

  TxctlRun status = Txctl("--json status");
  ASSERT_EQ(status.exit_code, 0) << status.err;
  auto sj = status.Json();
  ASSERT_TRUE(sj) << status.out;
  EXPECT_TRUE(sj->getValue<bool>("ready"));
  EXPECT_GE(sj->getValue<int>("in_flight"), 1);
  EXPECT_EQ(sj->getObject("by_state")->getValue<int>("committing"), 1);
  EXPECT_EQ(sj->getObject("oldest_in_flight")->getValue<std::string>("gid"), gid);
  EXPECT_GE(sj->getObject("wal")->getValue<int>("segments"), 1);
  EXPECT_GE(sj->getObject("wal")->getValue<int>("last_lsn"), 2);  // BEGIN + COMMIT
  EXPECT_EQ(Txctl("status").exit_code, 0);

  ASSERT_TRUE(StartParticipant());
  TxctlRun retry = Txctl("--json retry " + gid);
  if (retry.exit_code != 0) {
    // Phase 2's own backoff may reach the restarted participant before the operator does; then
    // there is nothing left to retry (FAILED_PRECONDITION, exit 2) and the commit is done.
    EXPECT_EQ(retry.exit_code, 2) << retry.err;
    EXPECT_NE(retry.err.find("FAILED_PRECONDITION"), std::string::npos) << retry.err;
  }
  auto done = ShowUntil(
      gid, [](const Object::Ptr& v) { return v->getValue<bool>("phase2_complete"); }, 20s);
  ASSERT_TRUE(done) << "phase 2 did not finish after retry";
  EXPECT_EQ(done->getValue<std::string>("state"), "committed");
  EXPECT_EQ(Balance(acc), 70);
  EXPECT_EQ(Wallet(wal), 80);
  ExpectNoLeftovers();
  // Finished: nothing to retry (FAILED_PRECONDITION, usage error).
  EXPECT_EQ(Txctl("retry " + gid).exit_code, 2);
}

TEST_F(TxctlOnlineTest, UnknownGidAndMissingTokenAreReported) {
  extra_config_ = std::string("\"token\":\"") + kToken + "\",";
  ASSERT_TRUE(StartDaemon());
  TxctlRun missing = Txctl("show " + Gid("never"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("NOT_FOUND"), std::string::npos) << missing.err;
  EXPECT_EQ(Txctl("retry " + Gid("never")).exit_code, 1);
  TxctlRun no_token = txctl_test::RunTxctl(
      "--url http://127.0.0.1:" + std::to_string(port_) + " list", dir_ + "/txctl.stderr");
  EXPECT_EQ(no_token.exit_code, 2);
  EXPECT_NE(no_token.err.find("UNAUTHENTICATED"), std::string::npos) << no_token.err;
  TxctlRun empty = Txctl("--json status");
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_TRUE(empty.Json()->isNull("oldest_in_flight"));
}

// An orphan prepared directly in PostgreSQL under this coordinator's id (no transaction in the
// log): scan reports it, --fix rolls it back (presumed abort). The daemon's own orphan scan is
// off so that only txctl acts.
TEST_F(TxctlOnlineTest, ParticipantsScanFindsAndFixesAnOrphan) {
  extra_config_ = std::string("\"token\":\"") + kToken + "\",\"orphan_scan_interval_ms\":0,";
  ASSERT_TRUE(StartDaemon());
  const std::string orphan = Gid("orphan");
  ASSERT_TRUE(pg_->Exec("BEGIN"));
  ASSERT_TRUE(pg_->Exec("PREPARE TRANSACTION '" + PreparedName(orphan, "b0") + "'"));
  ASSERT_EQ(PreparedCount(cid_), 1);
  const std::string config = "--config " + dir_ + "/txcoordd.json";

  TxctlRun scan = Txctl("--json participants scan " + config);
  ASSERT_EQ(scan.exit_code, 1) << scan.err << scan.out;
  auto sj = scan.Json();
  ASSERT_TRUE(sj) << scan.out;
  EXPECT_EQ(sj->getValue<std::string>("coordinator_id"), cid_);
  EXPECT_EQ(sj->getArray("participants")->size(), 2u);
  auto findings = sj->getArray("findings");
  ASSERT_EQ(findings->size(), 1u) << scan.out;
  auto f = findings->getObject(0);
  EXPECT_EQ(f->getValue<std::string>("kind"), "orphan");
  EXPECT_EQ(f->getValue<std::string>("gid"), orphan);
  EXPECT_EQ(f->getValue<std::string>("participant"), "bank-pg");
  EXPECT_FALSE(f->getValue<bool>("fixed"));
  EXPECT_EQ(PreparedCount(cid_), 1);  // no --fix: nothing changed

  TxctlRun fix = Txctl("--json participants scan --fix " + config);
  EXPECT_EQ(fix.exit_code, 0) << fix.err << fix.out;
  auto fj = fix.Json();
  ASSERT_TRUE(fj) << fix.out;
  ASSERT_EQ(fj->getArray("findings")->size(), 1u);
  EXPECT_TRUE(fj->getArray("findings")->getObject(0)->getValue<bool>("fixed"));
  EXPECT_EQ(PreparedCount(cid_), 0);

  TxctlRun clean = Txctl("participants scan " + config);
  EXPECT_EQ(clean.exit_code, 0) << clean.err << clean.out;
}

// A config naming another coordinator id than the one --url serves is refused: every branch
// would look like an orphan.
TEST_F(TxctlOnlineTest, ParticipantsScanRefusesAnotherCoordinatorsConfig) {
  extra_config_ = std::string("\"token\":\"") + kToken + "\",";
  ASSERT_TRUE(StartDaemon());
  std::ifstream in(dir_ + "/txcoordd.json");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const std::string key = "\"coordinator_id\":\"" + cid_ + "\"";
  ASSERT_NE(text.find(key), std::string::npos);
  text.replace(text.find(key), key.size(), "\"coordinator_id\":\"someone-else\"");
  std::ofstream(dir_ + "/other.json") << text;
  TxctlRun r = Txctl("participants scan --config " + dir_ + "/other.json");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("someone-else"), std::string::npos) << r.err;
  EXPECT_EQ(Txctl("participants scan --config " + dir_ + "/missing.json").exit_code, 2);
  EXPECT_EQ(Txctl("participants scan").exit_code, 2);
}

}  // namespace
}  // namespace txcoord::e2e
