// RedisParticipant::InDoubt: the recovery scan over every tag's prepared set.
#include <algorithm>
#include <cstdlib>

#include "plan.h"
#include "pool.h"
#include "txcoord/redis/participant.h"

namespace txcoord::redis {

using internal::Effect;
using participant::InDoubtBranch;

namespace {

std::string Str(const redisReply* r) {
  return (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
             ? std::string(r->str, r->len)
             : std::string();
}

}  // namespace

// SCAN for txc:{*}:prepared sets, then every member with its score (prepare time, ms).
// Members that are not txcoord prepared names are skipped. Sorted by branch id.
Result<std::vector<InDoubtBranch>> RedisParticipant::InDoubt(std::string_view coordinator_id) {
  if (!coordinator_id.empty())
    TXC_RETURN_IF_ERROR(participant::ValidateCoordinatorId(coordinator_id));
  std::vector<InDoubtBranch> out;
  std::string cursor = "0";
  do {
    TXC_ASSIGN_OR_RETURN(
        internal::Reply scan,
        pool_->Run({"SCAN", cursor, "MATCH", std::string(internal::kPreparedSetPattern), "COUNT",
                    "1000", "TYPE", "zset"},
                   Effect::kRead));
    if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2 ||
        scan->element[1]->type != REDIS_REPLY_ARRAY) {
      return Internal("redis SCAN: unexpected reply");
    }
    cursor = Str(scan->element[0]);
    const redisReply* keys = scan->element[1];
    for (size_t k = 0; k < keys->elements; ++k) {
      TXC_ASSIGN_OR_RETURN(
          internal::Reply members,
          pool_->Run({"ZRANGE", Str(keys->element[k]), "0", "-1", "WITHSCORES"}, Effect::kRead));
      if (members->type != REDIS_REPLY_ARRAY) return Internal("redis ZRANGE: unexpected reply");
      for (size_t i = 0; i + 1 < members->elements; i += 2) {
        Result<participant::BranchId> id = participant::ParsePreparedName(Str(members->element[i]));
        if (!id.ok()) continue;
        if (!coordinator_id.empty() && id->coordinator != coordinator_id) continue;
        const long long ms = std::strtoll(Str(members->element[i + 1]).c_str(), nullptr, 10);
        out.push_back({std::move(id).value(),
                       std::chrono::system_clock::time_point(std::chrono::milliseconds(ms))});
      }
    }
  } while (cursor != "0" && !cursor.empty());
  std::sort(out.begin(), out.end(),
            [](const InDoubtBranch& a, const InDoubtBranch& b) { return a.id < b.id; });
  return out;
}

}  // namespace txcoord::redis
