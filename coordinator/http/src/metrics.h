#pragma once
// Prometheus text exposition (format 0.0.4) of the coordinator's figures. Internal.
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "txcoord/coordinator/types.h"
#include "txcoord/wal/log.h"

namespace txcoord::server {

// HTTP requests served, by route template and status. Thread-safe.
class HttpCounters {
 public:
  void Count(const std::string& route, int status);
  std::map<std::pair<std::string, int>, std::uint64_t> Snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> counts_;
};

std::string RenderMetrics(const coordinator::Metrics& m, const std::optional<wal::Stats>& wal,
                          bool ready, const HttpCounters& http);

}  // namespace txcoord::server
