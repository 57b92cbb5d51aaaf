#include "txp_config.h"

#include <Poco/JSON/Array.h>

#include <exception>
#include <set>

#include "txcoord/adapters/config.h"

namespace txcoord::txparticipant {
namespace {

using Poco::Dynamic::Var;
using Poco::JSON::Object;

const std::set<std::string> kKeys = {"listen",       "token",     "max_body_bytes",
                                     "http_threads", "log_level", "participants"};

Result<std::int64_t> Int(const Object& o, const std::string& key, std::int64_t fallback,
                         std::int64_t min, std::int64_t max) {
  if (!o.has(key)) return fallback;
  const Var& v = o.get(key);
  if (!v.isInteger()) return InvalidArgument("\"" + key + "\" must be an integer");
  const auto n = v.convert<std::int64_t>();
  if (n < min || n > max) {
    return InvalidArgument("\"" + key + "\" must be in " + std::to_string(min) + ".." +
                           std::to_string(max));
  }
  return n;
}

Result<std::string> Str(const Object& o, const std::string& key, const std::string& fallback,
                        bool required) {
  if (!o.has(key)) {
    if (required) return InvalidArgument("\"" + key + "\" is required");
    return fallback;
  }
  const Var& v = o.get(key);
  if (!v.isString()) return InvalidArgument("\"" + key + "\" must be a string");
  return v.extract<std::string>();
}

Status ParseListen(const std::string& listen, TxpConfig& out) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgument("\"listen\" must be HOST:PORT, got '" + listen + "'");
  }
  const std::string digits = listen.substr(colon + 1);
  int port = -1;
  if (!digits.empty() && digits.size() <= 5 &&
      digits.find_first_not_of("0123456789") == std::string::npos) {
    port = std::stoi(digits);
  }
  if (port < 0 || port > 65535) {
    return InvalidArgument("\"listen\" has a bad port: '" + listen + "'");
  }
  out.host = listen.substr(0, colon);
  out.port = static_cast<std::uint16_t>(port);
  return Status::Ok();
}

Status CheckParticipant(const Object& p, std::size_t i) {
  const std::string where = "participants[" + std::to_string(i) + "]";
  if (!p.has("name") || !p.get("name").isString()) {
    return InvalidArgument(where + ": \"name\" is required (a string)");
  }
  const std::string name = p.get("name").extract<std::string>();
  if (!p.has("kind") || !p.get("kind").isString()) {
    return InvalidArgument(where + " '" + name + "': \"kind\" is required (postgres or redis)");
  }
  const std::string kind = p.get("kind").extract<std::string>();
  if (kind != "postgres" && kind != "redis") {
    return InvalidArgument(where + " '" + name + "': unknown kind '" + kind +
                           "' (txparticipant serves postgres and redis)");
  }
  return Status::Ok();
}

Status ParseParticipants(const Object& o, TxpConfig& c) {
  if (!o.has("participants")) return InvalidArgument("\"participants\" is required");
  Poco::JSON::Array::Ptr arr = o.getArray("participants");
  if (arr.isNull() || arr->size() == 0) {
    return InvalidArgument("\"participants\" must be a non-empty array");
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    Object::Ptr p = arr->getObject(static_cast<unsigned>(i));
    if (p.isNull()) {
      return InvalidArgument("participants[" + std::to_string(i) + "] must be an object");
    }
    TXC_RETURN_IF_ERROR(CheckParticipant(*p, i));
    const std::string name = p->get("name").extract<std::string>();
    if (!names.insert(name).second) {
      return InvalidArgument("participant name '" + name + "' is used twice");
    }
    c.participants.push_back(p);
  }
  return Status::Ok();
}

Result<TxpConfig> Parse(const Object& o) {
  for (const auto& [key, value] : o) {
    if (!kKeys.contains(key)) {
      return InvalidArgument("unknown configuration key \"" + key +
                             "\" (listen, token, max_body_bytes, http_threads, log_level, "
                             "participants)");
    }
  }
  TxpConfig c;
  TXC_ASSIGN_OR_RETURN(std::string listen, Str(o, "listen", "", /*required=*/true));
  TXC_RETURN_IF_ERROR(ParseListen(listen, c));
  TXC_ASSIGN_OR_RETURN(c.token, Str(o, "token", "", /*required=*/true));
  if (c.token.empty()) return InvalidArgument("\"token\" must not be empty");
  TXC_ASSIGN_OR_RETURN(auto body, Int(o, "max_body_bytes", 1 << 20, 1024, 64 << 20));
  c.max_body_bytes = static_cast<std::size_t>(body);
  TXC_ASSIGN_OR_RETURN(auto threads, Int(o, "http_threads", 32, 1, 1024));
  c.http_threads = static_cast<int>(threads);
  TXC_ASSIGN_OR_RETURN(std::string level, Str(o, "log_level", "info", /*required=*/false));
  TXC_ASSIGN_OR_RETURN(c.log_level, log::ParseLevel(level));
  TXC_RETURN_IF_ERROR(ParseParticipants(o, c));
  return c;
}

}  // namespace

Result<TxpConfig> ParseTxpConfig(const Object& obj) {
  try {
    return Parse(obj);
  } catch (const std::exception& e) {
    // Poco's Var conversions throw on values of an unexpected shape.
    return InvalidArgument(std::string("bad configuration value: ") + e.what());
  }
}

Result<TxpConfig> LoadTxpConfig(const std::string& path) {
  TXC_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr obj, adapters::LoadJsonConfig(path));
  auto cfg = ParseTxpConfig(*obj);
  if (!cfg.ok()) return cfg.status().Annotate(path);
  return cfg;
}

}  // namespace txcoord::txparticipant
