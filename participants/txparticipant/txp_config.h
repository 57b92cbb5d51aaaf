#pragma once
// txparticipant's configuration file (docs/txparticipant.md):
//
//   {"listen":"127.0.0.1:7001","token":"...","max_body_bytes":1048576,
//    "http_threads":8,"log_level":"info",
//    "participants":[{"name":"bank-pg","kind":"postgres",...},{"kind":"redis",...}]}
//
// listen, token and participants are required; every string may use ${env:NAME}
// (adapters::LoadJsonConfig). Unknown keys, wrong types and out-of-range values are
// InvalidArgument naming the key. The participant objects are only checked for a name and a
// kind of postgres or redis here; adapters::CreateParticipant checks the rest.
// Thread-safety: free functions; no shared state.
#include <Poco/JSON/Object.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "txcoord/core/log.h"
#include "txcoord/core/status.h"

namespace txcoord::txparticipant {

struct TxpConfig {
  std::string host;
  std::uint16_t port = 0;  // 0 = ephemeral (the bound port is logged)
  std::string token;
  std::size_t max_body_bytes = 1 << 20;
  int http_threads = 8;
  log::Level log_level = log::Level::kInfo;
  std::vector<Poco::JSON::Object::Ptr> participants;
};

Result<TxpConfig> ParseTxpConfig(const Poco::JSON::Object& obj);
// Reads, expands and parses `path`; errors name the file.
Result<TxpConfig> LoadTxpConfig(const std::string& path);

}  // namespace txcoord::txparticipant
