#pragma once
// Internal: filling action templates, checking filled plans, and the key layout.
// Pure functions over values; no store access. Thread-safe.
#include <string>
#include <string_view>
#include <vector>

#include "txcoord/participant/ids.h"
#include "txcoord/participant/participant.h"
#include "txcoord/redis/config.h"

namespace txcoord::redis::internal {

// Replaces every ${field} with payload[field]. InvalidArgument naming the first missing field
// or malformed placeholder ("${" without "}"; an empty or nested name).
Result<ActionPlan> Expand(const ActionPlan& tmpl, const participant::Payload& payload);
// Checks the placeholder syntax of template text (not whether a payload fills it).
Status CheckPlaceholders(std::string_view text);

// Checks a filled plan: shape (CheckPlanShape without templates), at least one key, no key
// under the reserved "txc:" prefix, and one hash tag shared by every key. Returns that tag.
Result<std::string> CheckFilled(const ActionPlan& plan);

// The Redis Cluster hash tag of a key: the text between the first '{' and the first '}' after
// it, if non-empty; else the whole key (so "txc:{<key>}..." lands in the key's slot).
// InvalidArgument for a key without a tag that contains '{' or '}' (its slot cannot be shared).
Result<std::string> HashTagOf(std::string_view key);

// Key layout (docs/adapters-redis.md). `tag` from CheckFilled.
std::string BarrierKey(std::string_view tag, const participant::BranchId& id);
std::string PreparedSetKey(std::string_view tag);
std::string LockPrefix(std::string_view tag);
// Maps a branch to its tag (or to kAbortedMark): the one record outside the tag's slot.
std::string IndexKey(const participant::BranchId& id);
inline constexpr std::string_view kAbortedMark = "!aborted";
inline constexpr std::string_view kPreparedSetPattern = "txc:{*}:prepared";

// Distinct keys a plan reads or writes, in first-seen order.
std::vector<std::string> TouchedKeys(const ActionPlan& plan);

// The plan as the scripts take it (lua/checks.lua, one argument each, unpacked by cmsgpack):
// the guards as "" (none) or a msgpack array of {op, key, field, value}; the writes as a msgpack
// array of {command, key, args...} — also what the barrier stores as `writes`.
std::string PackGuards(const ActionPlan& plan);
std::string PackWrites(const ActionPlan& plan);

}  // namespace txcoord::redis::internal
