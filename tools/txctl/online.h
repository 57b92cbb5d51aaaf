#pragma once
// Online txctl commands: they talk to a running txcoordd over its HTTP API (docs/api.md) with
// --url (default $TXC_URL or http://127.0.0.1:7000) and --token (default $TXC_TOKEN).
#include <string>

#include "args.h"
#include "http_call.h"

namespace txcoord::txctl {

// Each returns a process exit code (json_out.h).
int Status(const Endpoint& ep);
int List(const Endpoint& ep, const Args& args);  // --state, --older-than, --participant
int Show(const Endpoint& ep, const std::string& gid);
int Retry(const Endpoint& ep, const std::string& gid);
// resolve GID --commit|--abort --reason TEXT [--force] [--operator NAME]; the flags were
// checked by the caller.
int Resolve(const Endpoint& ep, const std::string& gid, bool commit, bool force,
            const std::string& reason, const std::string& operator_id);

}  // namespace txcoord::txctl
