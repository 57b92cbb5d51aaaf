// txctl wal dump|verify|repair on real WAL directories written by wal::Log with coordinator
// records; corruption made on purpose by flipping a byte. Also txctl's usage errors (exit 2).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "txcoord/coordinator/coordinator.pb.h"
#include "txcoord/wal/log.h"
#include "txctl_run.h"

namespace txcoord::txctl_test {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::txcoord::coordinator::v1;
using Poco::JSON::Object;

class TxctlWalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/txctl-wal-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/wal";
  }
  void TearDown() override { fs::remove_all(root_); }

  TxctlRun Txctl(const std::string& args) { return RunTxctl(args, root_ + "/stderr"); }

  wal::Options Opts() const {
    wal::Options o;
    o.dir = dir_;
    o.segment_bytes = 4096;
    o.sync = wal::SyncMode::kNoSyncTestsOnly;
    return o;
  }

  // BEGIN, DECISION (commit), END for `n` transactions gid0..gid<n-1>: 3n records.
  void WriteLog(int n) {
    auto log = wal::Log::Open(Opts(), [](const wal::ReplayedRecord&) { return Status::Ok(); });
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    for (int i = 0; i < n; ++i) {
      const std::string gid = "gid" + std::to_string(i);
      v1::Record begin, decision, end;
      begin.mutable_begin()->set_gid(gid);
      begin.mutable_begin()->set_mode("2pc");
      decision.mutable_decision()->set_gid(gid);
      decision.mutable_decision()->set_outcome(v1::Decision::COMMIT);
      end.mutable_end()->set_gid(gid);
      for (const v1::Record* r : {&begin, &decision, &end})
        ASSERT_TRUE((*log)->Append(r->SerializeAsString()).get().ok());
    }
  }

  std::string FirstSegment() const {
    std::string first;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string n = e.path().filename().string();
      if (n.ends_with(".wal") && (first.empty() || n < first)) first = n;
    }
    return first;
  }

  void FlipByte(const std::string& file, std::uint64_t offset) {
    std::fstream f(dir_ + "/" + file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x5a));
  }

  std::string root_;
  std::string dir_;
};

TEST_F(TxctlWalTest, DumpDecodesCoordinatorRecords) {
  WriteLog(3);
  TxctlRun r = Txctl("--json wal dump " + dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto json = r.Json();
  ASSERT_TRUE(json) << r.out;
  auto records = json->getArray("records");
  ASSERT_EQ(records->size(), 9u);
  auto first = records->getObject(0);
  EXPECT_EQ(first->getValue<int>("lsn"), 1);
  EXPECT_EQ(first->getValue<std::string>("kind"), "entry");
  EXPECT_EQ(first->getObject("record")->getObject("begin")->getValue<std::string>("gid"), "gid0");
  EXPECT_EQ(records->getObject(1)
                ->getObject("record")
                ->getObject("decision")
                ->getValue<std::string>("outcome"),
            "COMMIT");
  EXPECT_TRUE(json->isNull("bad"));

  TxctlRun text = Txctl("wal dump " + dir_);
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("gid: \"gid2\""), std::string::npos) << text.out;
}

TEST_F(TxctlWalTest, DumpGidIsOneTransactionsTimeline) {
  WriteLog(3);
  TxctlRun r = Txctl("--json wal dump " + dir_ + " --gid gid1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto records = r.Json()->getArray("records");
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ(records->getObject(0)->getValue<int>("lsn"), 4);
  EXPECT_EQ(
      records->getObject(2)->getObject("record")->getObject("end")->getValue<std::string>("gid"),
      "gid1");
  EXPECT_EQ(Txctl("--json wal dump " + dir_ + " --gid nope").Json()->getArray("records")->size(),
            0u);
  EXPECT_EQ(Txctl("wal dump " + dir_ + " --gid 'bad gid'").exit_code, 2);
  EXPECT_EQ(Txctl("status --gid g1").exit_code, 2);
}

// A checkpoint that keeps a finished transaction (Checkpoint.finished; an older version's
// finished_heuristic) is part of that transaction's timeline.
TEST_F(TxctlWalTest, DumpGidKeepsACheckpointHoldingAFinishedTransaction) {
  {
    auto log = wal::Log::Open(Opts(), [](const wal::ReplayedRecord&) { return Status::Ok(); });
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    v1::Record begin;
    begin.mutable_begin()->set_gid("h1");
    ASSERT_TRUE((*log)->Append(begin.SerializeAsString()).get().ok());
    v1::Checkpoint cp;
    for (v1::TxnSnapshot* s : {cp.add_finished_heuristic(), cp.add_finished()}) {
      const std::string gid = s == &cp.finished(0) ? "f2" : "h1";
      s->mutable_begin()->set_gid(gid);
      s->mutable_decision()->set_gid(gid);
      s->mutable_decision()->set_heuristic(gid == "h1");
      s->mutable_decision()->set_operator_id(gid == "h1" ? "alice" : "");
      s->mutable_end()->set_final_state("committed");
    }
    ASSERT_TRUE((*log)->Checkpoint(cp.SerializeAsString()).ok());
  }
  for (const auto& [gid, field] : {std::pair{"h1", "finished_heuristic"}, {"f2", "finished"}}) {
    TxctlRun r = Txctl("--json wal dump " + dir_ + " --gid " + gid);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto records = r.Json()->getArray("records");
    bool checkpoint = false;
    for (std::size_t i = 0; i < records->size(); ++i) {
      auto rec = records->getObject(static_cast<unsigned>(i));
      if (rec->getValue<std::string>("kind") != "checkpoint") continue;
      checkpoint = true;
      auto kept = rec->getObject("record")->getArray(field);
      ASSERT_TRUE(kept) << r.out;
      EXPECT_EQ(kept->getObject(0)->getObject("begin")->getValue<std::string>("gid"), gid);
    }
    EXPECT_TRUE(checkpoint) << gid << ": " << r.out;
  }
  TxctlRun text = Txctl("wal dump " + dir_ + " --gid h1");
  EXPECT_NE(text.out.find("2 finished"), std::string::npos) << text.out;
}

// A checkpoint written while transactions went on may hold a gid twice, or a gid ended before its
// cut (Checkpoint.ended): the text form counts the transactions live at the cut.
TEST_F(TxctlWalTest, DumpCountsACheckpointsLiveTransactionsOnce) {
  {
    auto log = wal::Log::Open(Opts(), [](const wal::ReplayedRecord&) { return Status::Ok(); });
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    v1::Checkpoint cp;
    for (const char* gid : {"a", "b", "a"}) cp.add_transactions()->mutable_begin()->set_gid(gid);
    cp.add_ended("b");
    ASSERT_TRUE((*log)->Checkpoint(cp.SerializeAsString()).ok());
  }
  TxctlRun text = Txctl("wal dump " + dir_);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("checkpoint: 1 live transactions"), std::string::npos) << text.out;
  TxctlRun b = Txctl("--json wal dump " + dir_ + " --gid b");  // the checkpoint ends it
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(b.Json()->getArray("records")->size(), 1u) << b.out;
}

TEST_F(TxctlWalTest, VerifyReportsFirstBadOffsetAndRepairCutsThere) {
  WriteLog(3);
  TxctlRun ok = Txctl("--json wal verify " + dir_);
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(ok.Json()->getValue<bool>("ok"));
  EXPECT_EQ(ok.Json()->getValue<int>("records"), 9);

  // Corrupt the 5th record (lsn 5): its frame offset comes from the dump.
  auto dump = Txctl("--json wal dump " + dir_).Json();
  ASSERT_TRUE(dump);
  auto fifth = dump->getArray("records")->getObject(4);
  const auto offset = fifth->getValue<std::uint64_t>("offset");
  const std::string seg = fifth->getValue<std::string>("file");
  FlipByte(seg, offset + 12);  // inside the payload

  TxctlRun bad = Txctl("--json wal verify " + dir_);
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  auto bj = bad.Json();
  ASSERT_TRUE(bj) << bad.out;
  EXPECT_FALSE(bj->getValue<bool>("ok"));
  EXPECT_EQ(bj->getValue<std::string>("bad_segment"), seg);
  EXPECT_EQ(bj->getValue<std::uint64_t>("bad_offset"), offset);

  TxctlRun bad_dump = Txctl("--json wal dump " + dir_);
  EXPECT_EQ(bad_dump.exit_code, 1);
  auto bd = bad_dump.Json();
  ASSERT_TRUE(bd) << bad_dump.out;
  EXPECT_EQ(bd->getArray("records")->size(), 4u);
  EXPECT_EQ(bd->getObject("bad")->getValue<std::uint64_t>("offset"), offset);
  EXPECT_EQ(bd->getObject("bad")->getValue<std::string>("reason"), "CRC mismatch");

  TxctlRun rep = Txctl("--json wal repair " + dir_);
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  auto rj = rep.Json();
  ASSERT_TRUE(rj) << rep.out;
  EXPECT_TRUE(rj->getValue<bool>("repaired"));
  const std::string saved = rj->getValue<std::string>("saved_to");
  EXPECT_TRUE(fs::is_directory(saved)) << saved;
  EXPECT_FALSE(fs::is_empty(saved));

  TxctlRun after = Txctl("--json wal verify " + dir_);
  EXPECT_EQ(after.exit_code, 0) << after.out;
  EXPECT_EQ(after.Json()->getValue<int>("records"), 4);
  // The repaired log opens and replays the 4 good records.
  int replayed = 0;
  auto log = wal::Log::Open(Opts(), [&](const wal::ReplayedRecord&) {
    ++replayed;
    return Status::Ok();
  });
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ(replayed, 4);
}

TEST_F(TxctlWalTest, VerifyRefusesALogInUse) {
  WriteLog(1);
  auto log = wal::Log::Open(Opts(), [](const wal::ReplayedRecord&) { return Status::Ok(); });
  ASSERT_TRUE(log.ok());
  TxctlRun r = Txctl("wal verify " + dir_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("CONFLICT"), std::string::npos) << r.err;
  EXPECT_EQ(Txctl("wal repair " + dir_).exit_code, 2);
}

TEST_F(TxctlWalTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Txctl("wal verify " + root_ + "/missing").exit_code, 2);
  EXPECT_EQ(Txctl("wal dump " + root_ + "/missing").exit_code, 2);
  EXPECT_EQ(Txctl("wal frobnicate " + root_).exit_code, 2);
  EXPECT_EQ(Txctl("").exit_code, 2);
  EXPECT_EQ(Txctl("bogus").exit_code, 2);
  EXPECT_EQ(Txctl("--no-such-flag status").exit_code, 2);
  EXPECT_EQ(Txctl("show 'bad gid!'").exit_code, 2);
  EXPECT_EQ(Txctl("list --older-than 5 --url http://127.0.0.1:1").exit_code, 2);
  EXPECT_EQ(Txctl("--url ftp://x status").exit_code, 2);
  // Nothing listens on port 1: a connection error.
  TxctlRun r = Txctl("status --url http://127.0.0.1:1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no answer"), std::string::npos) << r.err;
  EXPECT_EQ(Txctl("--help").exit_code, 0);
}

}  // namespace
}  // namespace txcoord::txctl_test
