// txcoordd's configuration: defaults, command-line overrides, and a clear error for every bad
// value (the daemon turns these into exit code 2).
#include "daemon_config.h"

#include <gtest/gtest.h>

#include "txcoord/adapters/config.h"

namespace txcoord::daemon {
namespace {

constexpr const char* kMinimal =
    R"({"coordinator_id":"c1","wal_dir":"/tmp/w","participants":[{"name":"p","kind":"noop"}]})";

Result<DaemonConfig> Parse(const std::string& text,
                           const std::map<std::string, std::string>& overrides = {}) {
  auto obj = adapters::ParseJsonConfig(text);
  if (!obj.ok()) return obj.status();
  return ParseDaemonConfig(**obj, overrides);
}

std::string With(const std::string& extra) {
  return std::string(kMinimal).substr(0, std::string(kMinimal).size() - 1) + "," + extra + "}";
}

TEST(DaemonConfig, MinimalConfigGetsDocumentedDefaults) {
  auto c = Parse(kMinimal);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->engine.coordinator_id, "c1");
  EXPECT_EQ(c->wal.dir, "/tmp/w");
  EXPECT_EQ(c->server.host, "127.0.0.1");
  EXPECT_EQ(c->server.port, 7000);
  EXPECT_TRUE(c->server.token.empty());
  EXPECT_EQ(c->engine.max_in_flight, 10'000u);
  EXPECT_EQ(c->engine.max_concurrent_per_participant, 8u);
  EXPECT_EQ(c->engine.max_queued_per_participant, 1'000u);
  EXPECT_EQ(c->engine.worker_threads, 16u);
  EXPECT_EQ(c->engine.max_idempotency_keys, 250'000u);
  EXPECT_EQ(c->engine.max_finished_kept, 10'000u);
  EXPECT_EQ(c->engine.inline_calls_under, std::chrono::microseconds(100));
  EXPECT_EQ(c->server.max_body_bytes, 1u << 20);
  EXPECT_EQ(c->server.max_threads, 32);
  EXPECT_EQ(c->server.io_threads, 2);
  EXPECT_EQ(c->server.max_queued, 256);
  EXPECT_EQ(c->server.max_connections, 1024u);
  EXPECT_EQ(c->server.max_header_bytes, 16u << 10);
  EXPECT_EQ(c->server.idle_timeout, std::chrono::milliseconds(60'000));
  EXPECT_EQ(c->server.read_timeout, std::chrono::milliseconds(30'000));
  EXPECT_EQ(c->server.write_timeout, std::chrono::milliseconds(30'000));
  EXPECT_EQ(c->participants.size(), 1u);
}

TEST(DaemonConfig, HttpFrontKeysApply) {
  auto c = Parse(With(R"("http_threads":4,"http_io_threads":1,"http_max_queued":9,
                         "http_max_connections":100,"http_max_header_bytes":4096,
                         "http_idle_timeout_ms":1500,"http_read_timeout_ms":2500,
                         "http_write_timeout_ms":3500)"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.max_threads, 4);
  EXPECT_EQ(c->server.io_threads, 1);
  EXPECT_EQ(c->server.max_queued, 9);
  EXPECT_EQ(c->server.max_connections, 100u);
  EXPECT_EQ(c->server.max_header_bytes, 4096u);
  EXPECT_EQ(c->server.idle_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(c->server.read_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(c->server.write_timeout, std::chrono::milliseconds(3500));
}

TEST(DaemonConfig, KeysAndOverridesApply) {
  auto c = Parse(With(R"("listen":"0.0.0.0:9000","token":"s","max_concurrent_per_participant":16,
                         "max_queued_per_participant":50,"worker_threads":32,"log_level":"warn",
                         "max_idempotency_keys":5000,"inline_calls_under_us":0,
                         "max_finished_kept":7)"),
                 {{"wal-dir", "/tmp/other"}, {"coordinator-id", "c2"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.host, "0.0.0.0");
  EXPECT_EQ(c->server.port, 9000);
  EXPECT_EQ(c->server.token, "s");
  EXPECT_EQ(c->engine.max_concurrent_per_participant, 16u);
  EXPECT_EQ(c->engine.max_queued_per_participant, 50u);
  EXPECT_EQ(c->engine.worker_threads, 32u);
  EXPECT_EQ(c->engine.max_idempotency_keys, 5000u);
  EXPECT_EQ(c->engine.max_finished_kept, 7u);
  EXPECT_EQ(c->engine.inline_calls_under, std::chrono::microseconds(0));
  EXPECT_EQ(c->log_level, log::Level::kWarn);
  EXPECT_EQ(c->wal.dir, "/tmp/other");
  EXPECT_EQ(c->engine.coordinator_id, "c2");
}

TEST(DaemonConfig, BadValuesNameTheKey) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"wal_dir":"/w","participants":[{}]})", "coordinator_id"},
      {R"({"coordinator_id":"c:1","wal_dir":"/w","participants":[{}]})", "coordinator id"},
      {R"({"coordinator_id":"c","participants":[{}]})", "wal_dir"},
      {R"({"coordinator_id":"c","wal_dir":"/w"})", "participants"},
      {R"({"coordinator_id":"c","wal_dir":"/w","participants":[]})", "participants"},
      {R"({"coordinator_id":"c","wal_dir":"/w","participants":[3]})", "participants[0]"},
      {With(R"("lisen":"x")"), "lisen"},
      {With(R"("listen":"nohost")"), "listen"},
      {With(R"("listen":"h:99999")"), "listen"},
      {With(R"("max_in_flight":0)"), "max_in_flight"},
      {With(R"("max_idempotency_keys":0)"), "max_idempotency_keys"},
      {With(R"("max_finished_kept":0)"), "max_finished_kept"},
      {With(R"("max_finished_kept":100001)"), "max_finished_kept"},
      {With(R"("max_concurrent_per_participant":0)"), "max_concurrent_per_participant"},
      {With(R"("max_queued_per_participant":"10")"), "max_queued_per_participant"},
      {With(R"("default_timeout_ms":-1)"), "default_timeout_ms"},
      {With(R"("inline_calls_under_us":-5)"), "inline_calls_under_us"},
      {With(R"("inline_calls_under_us":2000000)"), "inline_calls_under_us"},
      {With(R"("log_level":"loud")"), "log level"},
      {With(R"("token":5)"), "token"},
      {With(R"("http_io_threads":0)"), "http_io_threads"},
      {With(R"("http_max_queued":0)"), "http_max_queued"},
      {With(R"("http_max_connections":0)"), "http_max_connections"},
      {With(R"("http_max_header_bytes":100)"), "http_max_header_bytes"},
      {With(R"("http_idle_timeout_ms":0)"), "http_idle_timeout_ms"},
      {With(R"("http_read_timeout_ms":"5")"), "http_read_timeout_ms"},
      {With(R"("http_write_timeout_ms":-1)"), "http_write_timeout_ms"},
  };
  for (const auto& [text, needle] : bad) {
    auto c = Parse(text);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument) << text;
    EXPECT_NE(c.status().message().find(needle), std::string::npos) << text << " -> " << c.status();
  }
}

TEST(DaemonConfig, LoadNeedsAConfigFile) {
  EXPECT_EQ(LoadDaemonConfig({}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(LoadDaemonConfig({{"config", "/nonexistent/txcoordd.json"}}).status().code(),
            Code::kNotFound);
}

}  // namespace
}  // namespace txcoord::daemon
