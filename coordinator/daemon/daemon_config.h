#pragma once
// txcoordd's configuration: the JSON file plus command-line overrides (docs/operations.md).
#include <Poco/JSON/Object.h>

#include <map>
#include <string>
#include <vector>

#include "txcoord/coordinator/types.h"
#include "txcoord/core/log.h"
#include "txcoord/core/status.h"
#include "txcoord/server/api_server.h"
#include "txcoord/wal/log.h"

namespace txcoord::daemon {

struct DaemonConfig {
  coordinator::Config engine;
  server::ServerOptions server;
  wal::Options wal;
  std::vector<Poco::JSON::Object::Ptr> participants;  // each built by adapters::CreateParticipant
  log::Level log_level = log::Level::kInfo;
};

// `overrides` holds the command-line options by name ("config", "listen", "wal-dir",
// "coordinator-id", "log-level"). InvalidArgument naming the key for every bad value.
Result<DaemonConfig> LoadDaemonConfig(const std::map<std::string, std::string>& overrides);
// The same from an already-parsed JSON object (tests).
Result<DaemonConfig> ParseDaemonConfig(const Poco::JSON::Object& obj,
                                       const std::map<std::string, std::string>& overrides);

}  // namespace txcoord::daemon
