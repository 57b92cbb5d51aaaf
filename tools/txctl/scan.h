#pragma once
// txctl participants scan --config txcoordd.json [--stale 10m] [--fix]
//
// Builds every participant of the daemon's config (adapters::CreateParticipant), reads its
// in-doubt list for the config's coordinator_id and classifies each prepared branch against the
// coordinator's log through the API (GET /v1/transactions/{gid}):
//   orphan    the coordinator does not know the gid (404): presumed abort applies
//   mismatch  the log says the transaction finished (phase 2 complete), yet it is prepared
//   stale     in progress and prepared for longer than --stale (default 10m)
// --fix aborts orphans (presumed abort), after asking the coordinator once more right before.
// Refuses (exit 2) when --url serves another coordinator id than the config names (metric
// txcoord_info): every branch would look like an orphan and --fix would break atomicity.
#include "args.h"
#include "http_call.h"

namespace txcoord::txctl {

int ParticipantsScan(const Endpoint& ep, const Args& args);

}  // namespace txcoord::txctl
