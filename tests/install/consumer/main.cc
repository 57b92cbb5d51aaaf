// A service embedding txcoord through its installed CMake package.
#include <cstdio>

#include "txcoord/core/status.h"
#include "txcoord/participant/participant.pb.h"
#include "txcoord/participant/remote.h"
#include "txcoord/participant/service.h"

int main() {
  txcoord::Status s = txcoord::Unavailable("probe");
  std::printf("consumer linked txcoord: %s\n", s.ToString().c_str());
  // The participant library and its generated protocol header are usable from the package.
  txcoord::participant::v1::ErrorResponse err;
  err.set_code("UNAVAILABLE");
  auto svc = txcoord::participant::ParticipantService::Create({.token = "t"});
  return s.retryable() && svc.ok() && !err.SerializeAsString().empty() ? 0 : 1;
}
