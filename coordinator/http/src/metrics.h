#pragma once
// Prometheus text exposition (format 0.0.4) of the coordinator's figures. Internal.
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "txcoord/coordinator/types.h"
#include "txcoord/wal/log.h"

namespace txcoord::server {

// HTTP requests served, by route template and status; connections open and refused.
// Thread-safe.
class HttpCounters {
 public:
  void Count(const std::string& route, int status);
  std::map<std::pair<std::string, int>, std::uint64_t> Snapshot() const;

  std::atomic<std::int64_t> connections{0};           // open now
  std::atomic<std::uint64_t> connections_refused{0};  // closed at accept: max_connections

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> counts_;
};

std::string RenderMetrics(const coordinator::Metrics& m, const std::optional<wal::Stats>& wal,
                          bool ready, const HttpCounters& http);

}  // namespace txcoord::server
