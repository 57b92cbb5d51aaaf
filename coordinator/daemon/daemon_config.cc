#include "daemon_config.h"

#include <Poco/JSON/Array.h>

#include <set>

#include "txcoord/adapters/config.h"
#include "txcoord/participant/ids.h"

namespace txcoord::daemon {
namespace {

using Poco::Dynamic::Var;
using Poco::JSON::Object;
using std::chrono::milliseconds;

const std::set<std::string> kKeys = {"coordinator_id",
                                     "listen",
                                     "wal_dir",
                                     "token",
                                     "participants",
                                     "log_level",
                                     "max_in_flight",
                                     "max_branches",
                                     "max_body_bytes",
                                     "default_timeout_ms",
                                     "max_timeout_ms",
                                     "phase2_wait_ms",
                                     "worker_threads",
                                     "max_concurrent_per_participant",
                                     "max_queued_per_participant",
                                     "inline_calls_under_us",
                                     "orphan_scan_interval_ms",
                                     "orphan_min_age_ms",
                                     "checkpoint_every_records",
                                     "checkpoint_interval_ms",
                                     "idempotency_horizon_ms",
                                     "max_idempotency_keys",
                                     "max_finished_kept",
                                     "wal_segment_bytes",
                                     "http_threads",
                                     "http_io_threads",
                                     "http_max_queued",
                                     "http_max_connections",
                                     "http_max_header_bytes",
                                     "http_idle_timeout_ms",
                                     "http_read_timeout_ms",
                                     "http_write_timeout_ms",
                                     "saga_step_max_attempts",
                                     "saga_stuck_after"};

Result<std::int64_t> Int(const Object& o, const std::string& key, std::int64_t fallback,
                         std::int64_t min, std::int64_t max) {
  if (!o.has(key)) return fallback;
  const Var& v = o.get(key);
  if (!v.isInteger()) return InvalidArgument("\"" + key + "\" must be an integer");
  const auto n = v.convert<std::int64_t>();
  if (n < min || n > max) {
    return InvalidArgument("\"" + key + "\" must be in " + std::to_string(min) + ".." +
                           std::to_string(max));
  }
  return n;
}

Result<std::string> Str(const Object& o, const std::string& key,
                        const std::map<std::string, std::string>& overrides,
                        const std::string& override_name, const std::string& fallback) {
  if (auto it = overrides.find(override_name); it != overrides.end()) return it->second;
  if (!o.has(key)) {
    if (fallback.empty()) return InvalidArgument("\"" + key + "\" is required");
    return fallback;
  }
  const Var& v = o.get(key);
  if (!v.isString()) return InvalidArgument("\"" + key + "\" must be a string");
  return v.extract<std::string>();
}

Status ParseListen(const std::string& listen, server::ServerOptions& out) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgument("\"listen\" must be HOST:PORT, got '" + listen + "'");
  }
  int port = -1;
  try {
    std::size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) return InvalidArgument("\"listen\" has a bad port: " + listen);
  out.host = listen.substr(0, colon);
  out.port = static_cast<std::uint16_t>(port);
  return Status::Ok();
}

}  // namespace

Result<DaemonConfig> ParseDaemonConfig(const Object& o,
                                       const std::map<std::string, std::string>& overrides) {
  for (const auto& [key, value] : o) {
    if (!kKeys.contains(key)) return InvalidArgument("unknown configuration key \"" + key + "\"");
  }
  DaemonConfig c;
  TXC_ASSIGN_OR_RETURN(c.engine.coordinator_id,
                       Str(o, "coordinator_id", overrides, "coordinator-id", ""));
  TXC_RETURN_IF_ERROR(participant::ValidateCoordinatorId(c.engine.coordinator_id));
  TXC_ASSIGN_OR_RETURN(std::string listen, Str(o, "listen", overrides, "listen", "127.0.0.1:7000"));
  TXC_RETURN_IF_ERROR(ParseListen(listen, c.server));
  TXC_ASSIGN_OR_RETURN(c.wal.dir, Str(o, "wal_dir", overrides, "wal-dir", ""));
  if (o.has("token")) {
    TXC_ASSIGN_OR_RETURN(c.server.token, Str(o, "token", {}, "", ""));
  }
  TXC_ASSIGN_OR_RETURN(std::string level, Str(o, "log_level", overrides, "log-level", "info"));
  TXC_ASSIGN_OR_RETURN(c.log_level, log::ParseLevel(level));

  constexpr std::int64_t kDay = 24ll * 3600 * 1000;
  TXC_ASSIGN_OR_RETURN(auto in_flight, Int(o, "max_in_flight", 10'000, 1, 10'000'000));
  c.engine.max_in_flight = static_cast<std::size_t>(in_flight);
  TXC_ASSIGN_OR_RETURN(auto branches, Int(o, "max_branches", 64, 1, 1024));
  c.engine.max_branches = static_cast<std::size_t>(branches);
  c.server.limits.max_branches = c.engine.max_branches;
  TXC_ASSIGN_OR_RETURN(auto body, Int(o, "max_body_bytes", 1 << 20, 1024, 64 << 20));
  c.server.max_body_bytes = static_cast<std::size_t>(body);
  TXC_ASSIGN_OR_RETURN(auto def_timeout, Int(o, "default_timeout_ms", 10'000, 1, kDay));
  c.engine.default_timeout = milliseconds(def_timeout);
  TXC_ASSIGN_OR_RETURN(auto max_timeout, Int(o, "max_timeout_ms", kDay, 1, 30 * kDay));
  c.engine.max_timeout = milliseconds(max_timeout);
  c.server.limits.max_timeout_ms = max_timeout;
  TXC_ASSIGN_OR_RETURN(auto phase2_wait, Int(o, "phase2_wait_ms", 5'000, 0, kDay));
  c.server.phase2_wait = milliseconds(phase2_wait);
  TXC_ASSIGN_OR_RETURN(auto workers, Int(o, "worker_threads", 16, 1, 1024));
  c.engine.worker_threads = static_cast<std::size_t>(workers);
  TXC_ASSIGN_OR_RETURN(auto per_participant, Int(o, "max_concurrent_per_participant", 8, 1, 1024));
  c.engine.max_concurrent_per_participant = static_cast<std::size_t>(per_participant);
  TXC_ASSIGN_OR_RETURN(auto queued, Int(o, "max_queued_per_participant", 1'000, 1, 1'000'000));
  c.engine.max_queued_per_participant = static_cast<std::size_t>(queued);
  TXC_ASSIGN_OR_RETURN(auto inline_under, Int(o, "inline_calls_under_us", 100, 0, 1'000'000));
  c.engine.inline_calls_under = std::chrono::microseconds(inline_under);
  TXC_ASSIGN_OR_RETURN(auto step_attempts, Int(o, "saga_step_max_attempts", 5, 1, 1000));
  c.engine.saga_step_max_attempts = static_cast<std::uint32_t>(step_attempts);
  TXC_ASSIGN_OR_RETURN(auto stuck_after, Int(o, "saga_stuck_after", 10, 1, 1000000));
  c.engine.saga_stuck_after = static_cast<std::uint32_t>(stuck_after);
  TXC_ASSIGN_OR_RETURN(auto http_threads, Int(o, "http_threads", 32, 1, 1024));
  c.server.max_threads = static_cast<int>(http_threads);
  TXC_ASSIGN_OR_RETURN(auto io_threads, Int(o, "http_io_threads", 2, 1, 64));
  c.server.io_threads = static_cast<int>(io_threads);
  TXC_ASSIGN_OR_RETURN(auto http_queued, Int(o, "http_max_queued", 256, 1, 1'000'000));
  c.server.max_queued = static_cast<int>(http_queued);
  TXC_ASSIGN_OR_RETURN(auto conns, Int(o, "http_max_connections", 1024, 1, 1'000'000));
  c.server.max_connections = static_cast<std::size_t>(conns);
  TXC_ASSIGN_OR_RETURN(auto header_bytes, Int(o, "http_max_header_bytes", 16 << 10, 1024, 1 << 20));
  c.server.max_header_bytes = static_cast<std::size_t>(header_bytes);
  TXC_ASSIGN_OR_RETURN(auto idle, Int(o, "http_idle_timeout_ms", 60'000, 1, kDay));
  c.server.idle_timeout = milliseconds(idle);
  TXC_ASSIGN_OR_RETURN(auto read_ms, Int(o, "http_read_timeout_ms", 30'000, 1, kDay));
  c.server.read_timeout = milliseconds(read_ms);
  TXC_ASSIGN_OR_RETURN(auto write_ms, Int(o, "http_write_timeout_ms", 30'000, 1, kDay));
  c.server.write_timeout = milliseconds(write_ms);
  TXC_ASSIGN_OR_RETURN(auto scan, Int(o, "orphan_scan_interval_ms", 30'000, 0, kDay));
  c.engine.orphan_scan_interval = milliseconds(scan);
  TXC_ASSIGN_OR_RETURN(auto orphan_age, Int(o, "orphan_min_age_ms", 30'000, 0, kDay));
  c.engine.orphan_min_age = milliseconds(orphan_age);
  TXC_ASSIGN_OR_RETURN(auto ckpt_n, Int(o, "checkpoint_every_records", 1'000, 0, 1'000'000'000));
  c.engine.checkpoint_every_records = static_cast<std::uint64_t>(ckpt_n);
  TXC_ASSIGN_OR_RETURN(auto ckpt_ms, Int(o, "checkpoint_interval_ms", 60'000, 0, kDay));
  c.engine.checkpoint_interval = milliseconds(ckpt_ms);
  TXC_ASSIGN_OR_RETURN(auto horizon, Int(o, "idempotency_horizon_ms", kDay, 1, 365 * kDay));
  c.engine.idempotency_horizon = milliseconds(horizon);
  TXC_ASSIGN_OR_RETURN(auto max_keys, Int(o, "max_idempotency_keys", 250'000, 1, 1'000'000'000));
  c.engine.max_idempotency_keys = static_cast<std::size_t>(max_keys);
  // Every checkpoint carries the kept ones (~0.3-0.6 KB each): 100,000 stays far below the
  // WAL's 256 MB record limit.
  TXC_ASSIGN_OR_RETURN(
      auto kept, Int(o, "max_finished_kept",
                     static_cast<std::int64_t>(coordinator::kDefaultMaxFinishedKept), 1, 100'000));
  c.engine.max_finished_kept = static_cast<std::size_t>(kept);
  TXC_ASSIGN_OR_RETURN(auto seg, Int(o, "wal_segment_bytes", 64ll << 20, 1 << 20, 1ll << 32));
  c.wal.segment_bytes = static_cast<std::uint64_t>(seg);

  if (!o.has("participants")) return InvalidArgument("\"participants\" is required");
  Poco::JSON::Array::Ptr arr = o.getArray("participants");
  if (arr.isNull() || arr->size() == 0) {
    return InvalidArgument("\"participants\" must be a non-empty array");
  }
  for (std::size_t i = 0; i < arr->size(); ++i) {
    Object::Ptr p = arr->getObject(static_cast<unsigned>(i));
    if (p.isNull()) {
      return InvalidArgument("participants[" + std::to_string(i) + "] must be an object");
    }
    c.participants.push_back(p);
  }
  return c;
}

Result<DaemonConfig> LoadDaemonConfig(const std::map<std::string, std::string>& overrides) {
  auto it = overrides.find("config");
  if (it == overrides.end()) return InvalidArgument("--config=FILE is required");
  TXC_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr obj, adapters::LoadJsonConfig(it->second));
  auto cfg = ParseDaemonConfig(*obj, overrides);
  if (!cfg.ok()) return cfg.status().Annotate(it->second);
  return cfg;
}

}  // namespace txcoord::daemon
