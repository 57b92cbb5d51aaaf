// txctl status/list/show/retry against a real txcoordd and the real stores (e2e harness): a
// participant process crashes after applying commit and stays down, so the transfer stays
// "committing"; txctl must show it, then retry it once the participant is back.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness.h"
#include "txcoord/testing/poll.h"
#include "txctl_run.h"

namespace txcoord::e2e {
namespace {

using Poco::JSON::Object;
using txctl_test::TxctlRun;

constexpr int kCrashExit = 86;
constexpr const char* kToken = "txctl-secret";

class TxctlOnlineTest : public E2eTest {
 protected:
  // The one finding of a `--json participants scan`, checked to be of `kind` for `gid`; nullptr
  // (the failure recorded) when the output is not exactly one finding.
  static Object::Ptr OnlyFinding(const TxctlRun& scan, const std::string& kind,
                                 const std::string& gid) {
    auto j = scan.Json();
    EXPECT_TRUE(j) << scan.out;
    if (!j) return nullptr;
    auto findings = j->getArray("findings");
    EXPECT_EQ(findings->size(), 1u) << scan.out;
    if (findings->size() != 1) return nullptr;
    auto f = findings->getObject(0);
    EXPECT_EQ(f->getValue<std::string>("kind"), kind);
    EXPECT_EQ(f->getValue<std::string>("gid"), gid);
    return f;
  }
  TxctlRun Txctl(const std::string& args) {
    return txctl_test::RunTxctl(
        "--url http://127.0.0.1:" + std::to_string(port_) + " --token " + kToken + " " + args,
        dir_ + "/txctl.stderr");
  }

  // Polls `txctl --json show gid` until `pred` holds; the last view (nullptr on timeout).
  template <typename Pred>
  Object::Ptr ShowUntil(const std::string& gid, Pred pred, std::chrono::seconds deadline) {
    Object::Ptr found;
    txcoord::testing::Eventually(
        [&] {
          TxctlRun r = Txctl("--json show " + gid);
          if (auto v = r.Json(); r.exit_code == 0 && v && pred(v)) found = v;
          return !found.isNull();
        },
        deadline, std::chrono::milliseconds(100));
    return found;
  }

  static bool HasGid(const Object::Ptr& list, const std::string& gid) {
    auto txns = list ? list->getArray("transactions") : nullptr;
    for (std::size_t i = 0; txns && i < txns->size(); ++i)
      if (txns->getObject(static_cast<unsigned>(i))->getValue<std::string>("gid") == gid)
        return true;
    return false;
  }

  static bool HasTimeline(const Object::Ptr& v, const std::string& record,
                          const std::string& detail_part) {
    auto line = v ? v->getArray("timeline") : nullptr;
    for (std::size_t i = 0; line && i < line->size(); ++i) {
      auto e = line->getObject(static_cast<unsigned>(i));
      if (e->getValue<std::string>("record") == record &&
          e->getValue<std::string>("detail").find(detail_part) != std::string::npos)
        return true;
    }
    return false;
  }

  static Object::Ptr BranchOn(const Object::Ptr& v, const std::string& participant) {
    auto bs = v ? v->getArray("branches") : nullptr;
    for (std::size_t i = 0; bs && i < bs->size(); ++i)
      if (bs->getObject(static_cast<unsigned>(i))->getValue<std::string>("participant") ==
          participant)
        return bs->getObject(static_cast<unsigned>(i));
    return nullptr;
  }

  // The value of one /metrics sample ("name{labels}" as written), -1 when absent.
  double Metric(const std::string& sample) {
    HttpReply m = Get("/metrics");
    std::istringstream in(m.body);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
    return -1;
  }

  std::map<std::string, std::string> Auth() const {
    return {{"Authorization", std::string("Bearer ") + kToken}};
  }

  struct Stuck {
    std::string gid, acc, wal;
  };
  // A transfer (30 from account a to wallet w) whose wallet participant, a txparticipant, crashes
  // after applying its commit and stays down: the transfer stays committing. On failure the
  // test has failed and `gid` is empty.
  Stuck StartStuckTransfer(const std::string& name) {
    wallet_remote_ = true;
    extra_config_ = std::string("\"token\":\"") + kToken + "\",";
    Stuck s{"", CreateAccount("a", 100), CreateWallet("w", 50)};
    if (!StartParticipant("participant.server.after_apply=crash@2") || !StartDaemon()) {
      ADD_FAILURE() << "the stack did not start";
      return s;
    }
    const std::string gid = Gid(name);
    HttpReply reply =
        Post("/v1/transactions?wait=false", TransferBody(gid, s.acc, s.wal, 30), Auth());
    if (reply.status != 202) {
      ADD_FAILURE() << reply.status << " " << reply.body;
      return s;
    }
    const int exit = participant_->WaitExit(10s);
    if (exit != kCrashExit) {
      ADD_FAILURE() << "participant exit " << exit << ": " << participant_->LogTail();
      return s;
    }
    s.gid = gid;
    return s;
  }

  static bool BranchError(const Object::Ptr& v) {
    auto bs = v->getArray("branches");
    for (std::size_t i = 0; bs && i < bs->size(); ++i)
      if (bs->getObject(static_cast<unsigned>(i))->has("error")) return true;
    return false;
  }
};

TEST_F(TxctlOnlineTest, StuckCommitIsListedShownAndRetried) {
  const auto [gid, acc, wal] = StartStuckTransfer("stuck");
  ASSERT_FALSE(gid.empty());

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
  auto f = OnlyFinding(scan, "orphan", orphan);
  ASSERT_TRUE(f);
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

// A participant gone for good: the wallet-redis txparticipant crashes after applying commit and
// stays down, so the transfer stays committing. resolve without --force is refused (the COMMIT
// is durable); --commit --force settles it heuristically: final committed, the wallet branch
// "heuristic", the decision with its reason in the timeline and the WAL, the metric counted, and
// after a restart of txcoordd the outcome is still reported and the branch not called again.
TEST_F(TxctlOnlineTest, ResolveSettlesAStuckCommitHeuristically) {
  const auto [gid, acc, wal] = StartStuckTransfer("gone");
  ASSERT_FALSE(gid.empty());
  ASSERT_TRUE(ShowUntil(gid, BranchError, 20s)) << "no branch error shown";

  // Usage errors: exit 2, nothing sent.
  EXPECT_EQ(Txctl("resolve " + gid + " --abort").exit_code, 2);     // no --reason
  EXPECT_EQ(Txctl("resolve " + gid + " --reason x").exit_code, 2);  // no outcome
  EXPECT_EQ(Txctl("resolve " + gid + " --commit --abort --reason x").exit_code, 2);
  EXPECT_EQ(Txctl("show " + gid + " --force").exit_code, 2);

  // Refused: aborting after a durable COMMIT would break atomicity (409 → exit 1).
  TxctlRun refused = Txctl("--json resolve " + gid + " --abort --reason 'wallet host lost'");
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  auto rj = refused.Json();
  ASSERT_TRUE(rj) << refused.out;
  EXPECT_EQ(rj->getObject("error")->getValue<std::string>("code"), "CONFLICT");
  EXPECT_NE(rj->getObject("error")->getValue<std::string>("message").find("--force"),
            std::string::npos);
  EXPECT_NE(refused.err.find("refused"), std::string::npos) << refused.err;
  TxctlRun again = Txctl("resolve " + gid + " --commit --reason 'wallet host lost'");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already decided commit"), std::string::npos) << again.err;

  TxctlRun forced = Txctl("--json resolve " + gid +
                          " --commit --force --operator alice --reason 'wallet host lost'");
  ASSERT_EQ(forced.exit_code, 0) << forced.err << forced.out;
  auto v = forced.Json();
  ASSERT_TRUE(v) << forced.out;
  EXPECT_EQ(v->getValue<std::string>("state"), "committed");
  EXPECT_EQ(v->getValue<std::string>("detail"), "committed");
  EXPECT_TRUE(v->getValue<bool>("phase2_complete"));
  EXPECT_TRUE(v->getValue<bool>("heuristic"));
  EXPECT_FALSE(v->getValue<bool>("heuristic_mixed"));
  EXPECT_EQ(v->getValue<std::string>("operator"), "alice");
  ASSERT_TRUE(BranchOn(v, "wallet-redis"));
  EXPECT_EQ(BranchOn(v, "wallet-redis")->getValue<std::string>("state"), "heuristic");
  EXPECT_EQ(BranchOn(v, "bank-pg")->getValue<std::string>("state"), "committed");
  EXPECT_TRUE(HasTimeline(v, "begin", "2pc, 2 branches"));
  EXPECT_TRUE(HasTimeline(v, "decision", "commit (heuristic, by alice: wallet host lost)"));
  EXPECT_TRUE(HasTimeline(v, "end", "committed (heuristic"));

  TxctlRun shown = Txctl("--json show " + gid);
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_TRUE(HasTimeline(shown.Json(), "decision", "heuristic, by alice"));
  TxctlRun text = Txctl("show " + gid);
  EXPECT_NE(text.out.find("HEURISTIC"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("timeline"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("wallet host lost"), std::string::npos) << text.out;
  EXPECT_EQ(Metric("txcoord_heuristic_decisions_total{outcome=\"commit\"}"), 1);
  EXPECT_EQ(Metric("txcoord_heuristic_decisions_total{outcome=\"abort\"}"), 0);
  EXPECT_EQ(Metric("txcoord_heuristic_mixed_total"), 0);
  // Finished: nothing more to resolve (409, exit 1).
  EXPECT_EQ(Txctl("resolve " + gid + " --abort --force --reason again").exit_code, 1);
  // The participant applied its commit before crashing: both sides moved.
  EXPECT_EQ(Balance(acc), 70);
  EXPECT_EQ(Wallet(wal), 80);

  // kill -9 and restart: the heuristic outcome is kept (WAL), the branch not called again.
  ASSERT_TRUE(StartParticipant());
  ASSERT_TRUE(RestartDaemon());
  TxctlRun after = Txctl("--json show " + gid);
  ASSERT_EQ(after.exit_code, 0) << after.err;
  auto a = after.Json();
  ASSERT_TRUE(a) << after.out;
  EXPECT_EQ(a->getValue<std::string>("state"), "committed");
  EXPECT_TRUE(a->getValue<bool>("heuristic"));
  EXPECT_EQ(BranchOn(a, "wallet-redis")->getValue<std::string>("state"), "heuristic");
  EXPECT_TRUE(HasTimeline(a, "decision", "wallet host lost"));
  EXPECT_EQ(Metric("txcoord_branch_calls_total{participant=\"wallet-redis\",call=\"commit\","
                   "outcome=\"ok\"}"),
            -1);
  ExpectNoLeftovers();
}

// An open transaction with a branch prepared in PostgreSQL and registered: scan --stale 0s
// reports it stale (the default 10m does not); txctl resolve --commit without --force (every
// registered branch is prepared: a normal commit decision with the operator's reason) commits it.
TEST_F(TxctlOnlineTest, ParticipantsScanReportsStaleAndResolveCommitsAnOpenTransaction) {
  extra_config_ = std::string("\"token\":\"") + kToken + "\",\"orphan_scan_interval_ms\":0,";
  ASSERT_TRUE(StartDaemon());
  const std::string gid = Gid("open");
  HttpReply begun = Post(
      "/v1/transactions",
      "{\"mode\":\"2pc\",\"open\":true,\"gid\":\"" + gid + "\",\"timeout_ms\":600000}", Auth());
  ASSERT_EQ(begun.status, 201) << begun.body;
  ASSERT_TRUE(pg_->Exec("BEGIN"));
  ASSERT_TRUE(pg_->Exec("PREPARE TRANSACTION '" + PreparedName(gid, "b0") + "'"));
  HttpReply reg = Post("/v1/transactions/" + gid + "/branches",
                       "{\"participant\":\"bank-pg\",\"branch\":\"b0\"}", Auth());
  ASSERT_EQ(reg.status, 200) << reg.body;
  const std::string config = "--config " + dir_ + "/txcoordd.json";

  TxctlRun stale = Txctl("--json participants scan --stale 0s " + config);
  EXPECT_EQ(stale.exit_code, 1) << stale.err << stale.out;
  auto sf = OnlyFinding(stale, "stale", gid);
  ASSERT_TRUE(sf);
  EXPECT_NE(sf->getValue<std::string>("detail").find("active"), std::string::npos);
  // --fix leaves stale branches alone.
  TxctlRun fix = Txctl("--json participants scan --fix --stale 0s " + config);
  EXPECT_EQ(fix.exit_code, 1);
  EXPECT_EQ(PreparedCount(cid_), 1);
  TxctlRun fresh = Txctl("--json participants scan " + config);  // default --stale 10m
  EXPECT_EQ(fresh.exit_code, 0) << fresh.out;
  EXPECT_EQ(fresh.Json()->getArray("findings")->size(), 0u);

  TxctlRun commit = Txctl("resolve " + gid + " --commit --reason 'not all branches known'");
  EXPECT_EQ(commit.exit_code, 0) << commit.err;  // every registered branch is prepared
  auto done = ShowUntil(
      gid, [](const Object::Ptr& v) { return v->getValue<bool>("phase2_complete"); }, 20s);
  ASSERT_TRUE(done) << "phase 2 did not finish";
  EXPECT_EQ(done->getValue<std::string>("state"), "committed");
  EXPECT_FALSE(done->getValue<bool>("heuristic"));
  EXPECT_TRUE(HasTimeline(done, "register", "branch b0 on bank-pg"));
  EXPECT_TRUE(HasTimeline(done, "decision", "commit (by "));
  EXPECT_EQ(PreparedCount(cid_), 0);
}

// A transaction the log says finished, yet a branch of its gid is still prepared in PostgreSQL
// (made by hand here): scan reports a mismatch, which --fix does not touch.
TEST_F(TxctlOnlineTest, ParticipantsScanReportsAMismatch) {
  extra_config_ = std::string("\"token\":\"") + kToken + "\",\"orphan_scan_interval_ms\":0,";
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 50);
  ASSERT_TRUE(StartDaemon());
  const auto gid = Gid("done");
  HttpReply reply = Post("/v1/transactions", TransferBody(gid, acc, wal, 10), Auth());
  ASSERT_EQ(reply.status, 200) << reply.body;
  ASSERT_TRUE(ShowUntil(
      gid, [](const Object::Ptr& v) { return v->getValue<bool>("phase2_complete"); }, 20s));
  ASSERT_TRUE(pg_->Exec("BEGIN"));
  ASSERT_TRUE(pg_->Exec("PREPARE TRANSACTION '" + PreparedName(gid, "extra") + "'"));
  const std::string config = "--config " + dir_ + "/txcoordd.json";
  TxctlRun scan = Txctl("--json participants scan --fix " + config);
  EXPECT_EQ(scan.exit_code, 1) << scan.err << scan.out;
  auto f = OnlyFinding(scan, "mismatch", gid);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->getValue<std::string>("branch"), "extra");
  EXPECT_NE(f->getValue<std::string>("detail").find("committed"), std::string::npos);
  EXPECT_FALSE(f->getValue<bool>("fixed"));
  EXPECT_EQ(PreparedCount(cid_), 1);
  ASSERT_TRUE(pg_->Exec("ROLLBACK PREPARED '" + PreparedName(gid, "extra") + "'"));
}

}  // namespace
}  // namespace txcoord::e2e
