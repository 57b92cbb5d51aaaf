// A service embedding txcoord through its installed CMake package: the participant server and
// both adapters, configured from JSON (no store is contacted here).
#include <cstdio>

#include "txcoord/adapters/config.h"
#include "txcoord/core/status.h"
#include "txcoord/participant/participant.pb.h"
#include "txcoord/participant/remote.h"
#include "txcoord/participant/service.h"
#include "txcoord/postgres/config.h"
#include "txcoord/redis/config.h"

int main() {
  txcoord::Status s = txcoord::Unavailable("probe");
  std::printf("consumer linked txcoord: %s\n", s.ToString().c_str());
  txcoord::participant::v1::ErrorResponse err;
  err.set_code("UNAVAILABLE");
  auto svc = txcoord::participant::ParticipantService::Create({.token = "t"});
  auto pg = txcoord::postgres::ParseConfigText(
      R"({"name":"p","kind":"postgres","dsn":"postgresql://x@127.0.0.1:1/db",
          "actions":{"a":{"sql":["UPDATE t SET v = :v"]}}})");
  auto redis = txcoord::redis::ParseConfigText(
      R"({"name":"r","kind":"redis","url":"redis://127.0.0.1:1/0",
          "actions":{"a":{"writes":[["SET","k:{${id}}","${v}"]]}}})");
  auto cfg = txcoord::adapters::ParseJsonConfig(R"({"a":1})");
  if (!pg.ok() || !redis.ok() || !cfg.ok()) {
    std::printf("config: %s %s %s\n", pg.status().ToString().c_str(),
                redis.status().ToString().c_str(), cfg.status().ToString().c_str());
    return 1;
  }
  return s.retryable() && svc.ok() && !err.SerializeAsString().empty() ? 0 : 1;
}
