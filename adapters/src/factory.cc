#include "txcoord/adapters/factory.h"

#include "noop.h"

#include "txcoord/participant/remote.h"
#include "txcoord/postgres/config.h"
#include "txcoord/postgres/participant.h"
#include "txcoord/redis/config.h"
#include "txcoord/redis/participant.h"

namespace txcoord::adapters {
namespace {

template <typename T>
Result<std::shared_ptr<participant::Participant>> Shared(Result<std::unique_ptr<T>> made) {
  if (!made.ok()) return made.status();
  return std::shared_ptr<participant::Participant>(std::move(made).value());
}

}  // namespace

Result<std::shared_ptr<participant::Participant>> CreateParticipant(
    const Poco::JSON::Object& config) {
  const std::string name = config.optValue<std::string>("name", "");
  const std::string where = "participant '" + name + "'";
  if (!config.has("kind")) return InvalidArgument(where + ": \"kind\" is required");
  const std::string kind = config.optValue<std::string>("kind", "");
  Result<std::shared_ptr<participant::Participant>> made =
      InvalidArgument("unknown kind '" + kind + "' (postgres, redis, remote, noop)");
  if (kind == "postgres") {
    auto cfg = postgres::ParseConfig(config);
    made = cfg.ok() ? Shared(postgres::PostgresParticipant::Create(std::move(cfg).value()))
                    : Result<std::shared_ptr<participant::Participant>>(cfg.status());
  } else if (kind == "redis") {
    auto cfg = redis::ParseConfig(config);
    made = cfg.ok() ? Shared(redis::RedisParticipant::Create(std::move(cfg).value()))
                    : Result<std::shared_ptr<participant::Participant>>(cfg.status());
  } else if (kind == "noop") {  // benchmark/testing aid: does nothing, always succeeds
    if (name.empty()) return InvalidArgument(where + ": \"name\" is required");
    made = std::shared_ptr<participant::Participant>(std::make_shared<NoopParticipant>(name));
  } else if (kind == "remote") {
    auto cfg = participant::ParseRemoteConfig(config);
    made = cfg.ok() ? Shared(participant::RemoteParticipant::Create(std::move(cfg).value()))
                    : Result<std::shared_ptr<participant::Participant>>(cfg.status());
  }
  if (!made.ok()) return made.status().Annotate(where);
  return made;
}

}  // namespace txcoord::adapters
