#pragma once
// Configuration of the Redis participant and the action model it runs.
//
// An action is a list of guards (checked at Prepare/Execute, before anything is written) and a
// list of write commands (staged at Prepare and applied at Commit, or applied at Execute).
// Declared actions come from the JSON config and carry `${field}` placeholders filled from the
// call's payload; C++-registered actions (RedisParticipant::RegisterAction) produce the same
// structures, already filled in. Values always travel as script arguments, never as script text.
//
// JSON (all keys but "name", "url" and "actions" optional):
//   {"name":"wallet-redis", "kind":"redis", "url":"redis://[:password@]host[:port][/db]",
//    "pool_size":8, "timeout_ms":2000, "lock_wait_ms":0, "barrier_ttl_s":604800,
//    "index_in_script":"auto",
//    "actions":{"debit":{"guards":[{"key":"wallet:{${account}}","op":">=","value":"${amount}"}],
//                        "writes":[["DECRBY","wallet:{${account}}","${amount}"]]}}}
// Thread-safety: plain values.
#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "txcoord/core/status.h"

namespace Poco::JSON {
class Object;
}

namespace txcoord::redis {

enum class GuardOp {
  kExists,     // "exists": the key (or hash field) exists
  kNotExists,  // "not_exists"
  kGe,         // ">=": integer value (absent = 0) >= value
  kLe,         // "<=": integer value (absent = 0) <= value
  kEq,         // "==": the stored text equals value (absent never equals)
};
// "exists", "not_exists", ">=", "<=", "==" (also "eq").
Result<GuardOp> ParseGuardOp(std::string_view op);
std::string_view GuardOpName(GuardOp op);

struct Guard {
  std::string key;
  std::string field;  // empty: the string value of `key`; else this field of the hash `key`
  GuardOp op = GuardOp::kExists;
  std::string value;  // integer text for >= and <=; compared text for ==; unused otherwise
};

// One write command: args[0] is the command in upper case, args[1] the key, then its arguments.
// Supported (arity checked): SET k v | DEL k | INCRBY k n | DECRBY k n | HSET k f v [f v ...] |
// HDEL k f... | HINCRBY k f n | SADD k m... | SREM k m... | EXPIRE k seconds.
struct Write {
  std::vector<std::string> args;
};

struct ActionPlan {
  std::vector<Guard> guards;
  std::vector<Write> writes;
};

struct Endpoint {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string password;  // empty: no AUTH
};

// Where Prepare/Execute/Compensate bind the branch to its hash tag (the index key, see
// docs/adapters-redis.md): inside their script, one round trip, which touches keys of two hash
// slots and so needs a standalone server; or with a `SET NX GET` before the script, two round
// trips, which keeps every command in one slot (Redis Cluster).
enum class IndexInScript {
  kAuto,  // "auto": inside, unless `INFO cluster` says cluster_enabled:1 or cannot be read
  kOn,    // "on": inside, without asking (a standalone server whose INFO is renamed; tests)
  kOff,   // "off": before the script, whatever the server is (tests; a cluster proxy)
};
// "auto", "on", "off".
Result<IndexInScript> ParseIndexInScript(std::string_view text);
std::string_view IndexInScriptName(IndexInScript mode);

struct Config {
  std::string name;
  std::string url;
  Endpoint endpoint;  // parsed from url
  int pool_size = 8;  // connections at most; callers beyond it wait up to `timeout`
  std::chrono::milliseconds timeout{2000};   // connect, and each command
  std::chrono::milliseconds lock_wait{0};    // how long Prepare/Execute retry a locked key
  std::chrono::seconds barrier_ttl{604800};  // TTL of finished records; 0 = keep forever
  IndexInScript index_in_script = IndexInScript::kAuto;
  std::map<std::string, ActionPlan, std::less<>> actions;  // templates with ${field}
};

// InvalidArgument naming the bad field for: missing name/url, a bad url, a non-positive
// pool_size/timeout, a negative lock_wait_ms/barrier_ttl_s, an index_in_script other than
// "auto"/"on"/"off", an unknown command or guard op, a wrong arity, a malformed placeholder.
Result<Config> ParseConfig(const Poco::JSON::Object& json);
// Convenience: parses JSON text first (InvalidArgument on a syntax error).
Result<Config> ParseConfigText(std::string_view json);
// redis://[[user]:password@]host[:port][/db]
Result<Endpoint> ParseUrl(std::string_view url);

// Checks commands, arities and guard ops of a plan. With `templates`, placeholders are allowed
// anywhere; without, integer arguments and guard values must be canonical 64-bit integers.
Status CheckPlanShape(const ActionPlan& plan, bool templates);

}  // namespace txcoord::redis
