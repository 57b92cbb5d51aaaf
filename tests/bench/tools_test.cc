// txbench's --txcoordd and the event_loop_floor prototype on bad input: a clear refusal, and
// nothing written. Child processes on a free loopback port; no servers needed.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "txbench_util.h"
#include "txcoord/testing/net.h"
#include "txcoord/wal/log.h"

namespace txcoord::bench {
namespace {

namespace fs = std::filesystem;

// Runs `cmd` through the shell; its exit code, and its output (stdout and stderr) in `out`.
int RunCommand(const std::string& cmd, std::string& out) {
  out.clear();
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) return -1;
  char buf[512];
  while (std::fgets(buf, sizeof buf, f) != nullptr) out += buf;
  const int status = ::pclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class ToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/bench_tools_" + std::to_string(::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Config(const std::string& json) {
    const std::string path = dir_ + "/config.json";
    std::ofstream(path) << json;
    return path;
  }
  std::string dir_;
};

TEST_F(ToolsTest, TxbenchRefusesATxcoorddThatIsNotExecutable) {
  std::string out;
  EXPECT_EQ(RunCommand(std::string(TXC_TXBENCH_PATH) + " --txcoordd " + dir_ + "/missing", out), 2);
  EXPECT_NE(out.find("--txcoordd " + dir_ + "/missing: not an executable file"), std::string::npos)
      << out;
}

TEST_F(ToolsTest, TheFloorRefusesABadConfigWithTheReason) {
  const std::string floor = TXC_EVENT_LOOP_FLOOR_PATH;
  std::string out;
  EXPECT_EQ(RunCommand(floor + " --config=" + dir_ + "/none.json", out), 2);
  EXPECT_NE(out.find("cannot read --config="), std::string::npos) << out;
  EXPECT_EQ(RunCommand(floor + " --config=" + Config(R"({"listen":"127.0.0.1:1"})"), out), 2);
  EXPECT_NE(out.find("missing \"wal_dir\""), std::string::npos) << out;
  EXPECT_EQ(RunCommand(floor + " --config=" + Config(R"({"listen":"x","wal_dir":"w"})"), out), 2);
  EXPECT_NE(out.find("listen is not host:port"), std::string::npos) << out;
  EXPECT_EQ(RunCommand(floor + " --config=" + Config(R"({"listen":"h:x","wal_dir":"w"})"), out), 2);
  EXPECT_NE(out.find("bad config"), std::string::npos) << out;
  EXPECT_EQ(RunCommand(floor + " --config=" + Config(R"({"listen":"h:70000","wal_dir":"w"})"), out),
            2);
  EXPECT_NE(out.find("port out of range"), std::string::npos) << out;
  EXPECT_EQ(RunCommand(floor + " --config=" +
                           Config(R"({"listen":"h:1","wal_dir":"w","floor_front":"reactor"})"),
                       out),
            2);
  EXPECT_NE(out.find("floor_front: beast or poco"), std::string::npos) << out;
  EXPECT_EQ(
      RunCommand(floor + " --config=" + Config(R"({"listen":"h:1","wal_dir":"w","floor_waits":3})"),
                 out),
      2);
  EXPECT_NE(out.find("floor_waits must be 1 or 2"), std::string::npos) << out;
  EXPECT_EQ(RunCommand(floor + " --config=" + Config("not json"), out), 2);
  EXPECT_NE(out.find("bad config"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir_ + "/w"));  // no WAL created
}

// Each HTTP front of the floor: the extra config keys that select it.
class FloorFrontTest : public ToolsTest, public ::testing::WithParamInterface<const char*> {
 protected:
  // Starts the floor with this front on a free loopback port and a WAL in wal_; waits for it.
  void StartFloor() {
    const int port = ::txcoord::testing::FreeLoopbackPort();
    ASSERT_GT(port, 0);
    port_ = static_cast<std::uint16_t>(port);
    wal_ = dir_ + "/wal";
    const std::string config = Config(R"({"listen":"127.0.0.1:)" + std::to_string(port) +
                                      R"(","wal_dir":")" + wal_ + "\"" + GetParam() + "}");
    ASSERT_TRUE(floor_.Start({TXC_EVENT_LOOP_FLOOR_PATH, "--config=" + config}, dir_ + "/log"));
    ASSERT_TRUE(WaitHttp(port_, "/readyz", std::chrono::seconds(10)));
  }

  Child floor_;
  std::string wal_;
  std::uint16_t port_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Fronts, FloorFrontTest,
                         ::testing::Values(R"(,"floor_threads":1)",
                                           R"(,"floor_front":"poco","floor_threads":2)",
                                           R"(,"floor_front":"poco","floor_waits":1)"),
                         [](const ::testing::TestParamInfo<const char*>& front) {
                           return std::string(front.index == 0   ? "Beast"
                                              : front.index == 1 ? "PocoTwoWaits"
                                                                 : "PocoOneWait");
                         });

TEST_P(FloorFrontTest, AnswersABadBody400AndLogsNothing) {
  ASSERT_NO_FATAL_FAILURE(StartFloor());
  HttpClient http(port_);
  std::string out;
  EXPECT_EQ(http.Request("POST", "/v1/transactions", "not json", out), 400);
  EXPECT_NE(out.find("bad body"), std::string::npos) << out;
  EXPECT_EQ(http.Request("POST", "/v1/transactions", R"({"branches":[1]})", out), 400);
  EXPECT_EQ(http.Request("POST", "/v1/transactions", R"({"branches":[{"action":"x"}]})", out), 400);
  EXPECT_EQ(http.Request("DELETE", "/v1/transactions", "", out), 404);
  floor_.Kill();
  auto verified = wal::Verify(wal_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok);
  EXPECT_EQ(verified->records, 0u);  // no BEGIN for a refused body
}

TEST_P(FloorFrontTest, MakesBeginAndCommitDurableBeforeItAnswers) {
  ASSERT_NO_FATAL_FAILURE(StartFloor());
  HttpClient http(port_);
  std::string out;
  ASSERT_EQ(http.Request("POST", "/v1/transactions",
                         R"({"mode":"2pc","branches":[{"participant":"a","action":"debit",)"
                         R"("payload":{"account":"b1","amount":"1"}}]})",
                         out),
            200);
  EXPECT_NE(out.find("\"state\":\"committed\""), std::string::npos) << out;
  floor_.Kill();  // END is lazy: written within lazy_delay or lost, never before COMMIT
  auto verified = wal::Verify(wal_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok);
  EXPECT_GE(verified->records, 2u);  // BEGIN and COMMIT were durable before the answer
}

}  // namespace
}  // namespace txcoord::bench
