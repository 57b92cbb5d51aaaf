#pragma once
// Builds a Participant from its JSON config, whatever its kind — for txcoordd and txparticipant.
//
//   {"name":"bank-pg","kind":"postgres", ...}   adapters/postgres (docs/adapters-postgres.md)
//   {"name":"wallet","kind":"redis", ...}       adapters/redis    (docs/adapters-redis.md)
//   {"name":"wallet","kind":"remote", ...}      RemoteParticipant (docs/participant-protocol.md)
//   {"name":"sink","kind":"noop"}                does nothing, always succeeds: a benchmark/testing
//                                                aid (coordinator cost alone; docs/performance.md)
//
// InvalidArgument for an unknown kind or a bad config (the message names the participant);
// a store that cannot be reached at start is Unavailable.
#include <Poco/JSON/Object.h>

#include <memory>

#include "txcoord/core/status.h"
#include "txcoord/participant/participant.h"

namespace txcoord::adapters {

Result<std::shared_ptr<participant::Participant>> CreateParticipant(
    const Poco::JSON::Object& config);

}  // namespace txcoord::adapters
