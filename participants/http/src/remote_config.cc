#include <Poco/URI.h>

#include <set>

#include "txcoord/participant/remote.h"

namespace txcoord::participant {
namespace {

Result<std::string> GetString(const Poco::JSON::Object& json, const std::string& key,
                              bool required) {
  if (!json.has(key)) {
    if (required) return InvalidArgument("remote participant config: missing \"" + key + "\"");
    return std::string();
  }
  Poco::Dynamic::Var v = json.get(key);
  if (!v.isString()) {
    return InvalidArgument("remote participant config: \"" + key + "\" must be a string");
  }
  return v.extract<std::string>();
}

// Integer in [lo, hi], or `fallback` when absent.
Result<long long> GetInt(const Poco::JSON::Object& json, const std::string& key, long long lo,
                         long long hi, long long fallback) {
  if (!json.has(key)) return fallback;
  Poco::Dynamic::Var v = json.get(key);
  const std::string what = "remote participant config: \"" + key + "\"";
  if (!v.isInteger()) return InvalidArgument(what + " must be an integer");
  long long n = 0;
  try {
    n = v.convert<long long>();
  } catch (const std::exception& e) {
    return InvalidArgument(what + ": " + e.what());
  }
  if (n < lo || n > hi) {
    return InvalidArgument(what + " must be in " + std::to_string(lo) + ".." + std::to_string(hi) +
                           ", got " + std::to_string(n));
  }
  return n;
}

bool IsSegmentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

}  // namespace

Status ValidateRemoteConfig(const RemoteConfig& c) {
  if (c.name.empty() || c.name.size() > 64) {
    return InvalidArgument("remote participant: name must be 1..64 bytes");
  }
  for (char ch : c.name) {
    if (!IsSegmentChar(ch)) {
      return InvalidArgument("remote participant: name '" + c.name +
                             "' has a character outside [A-Za-z0-9._-]");
    }
  }
  if (c.token.empty()) return InvalidArgument("remote participant " + c.name + ": empty token");
  try {
    Poco::URI uri(c.base_url);
    if (uri.getScheme() != "http") {
      return InvalidArgument("remote participant " + c.name + ": url '" + c.base_url +
                             "' must start with http://");
    }
    if (uri.getHost().empty()) {
      return InvalidArgument("remote participant " + c.name + ": url '" + c.base_url +
                             "' has no host");
    }
    if ((!uri.getPath().empty() && uri.getPath() != "/") || !uri.getRawQuery().empty()) {
      return InvalidArgument("remote participant " + c.name + ": url '" + c.base_url +
                             "' must not have a path or query");
    }
  } catch (const std::exception& e) {
    return InvalidArgument("remote participant " + c.name + ": bad url '" + c.base_url +
                           "': " + e.what());
  }
  if (c.connect_timeout.count() <= 0 || c.call_timeout.count() <= 0) {
    return InvalidArgument("remote participant " + c.name + ": timeouts must be > 0");
  }
  if (c.max_connections < 1 || c.max_connections > 1024) {
    return InvalidArgument("remote participant " + c.name + ": max_connections must be 1..1024");
  }
  return Status::Ok();
}

Result<RemoteConfig> ParseRemoteConfig(const Poco::JSON::Object& json) {
  static const std::set<std::string> kKeys = {
      "name",    "kind", "url", "token", "connect_timeout_ms", "call_timeout_ms", "max_connections",
      "encoding"};
  for (const auto& [key, value] : json) {
    if (!kKeys.contains(key)) {
      return InvalidArgument("remote participant config: unknown key \"" + key + "\"");
    }
  }
  RemoteConfig c;
  TXC_ASSIGN_OR_RETURN(c.name, GetString(json, "name", true));
  TXC_ASSIGN_OR_RETURN(std::string kind, GetString(json, "kind", false));
  if (!kind.empty() && kind != "remote") {
    return InvalidArgument("remote participant config: kind must be \"remote\", got \"" + kind +
                           "\"");
  }
  TXC_ASSIGN_OR_RETURN(c.base_url, GetString(json, "url", true));
  TXC_ASSIGN_OR_RETURN(c.token, GetString(json, "token", true));
  constexpr long long kDay = 24LL * 3600 * 1000;
  TXC_ASSIGN_OR_RETURN(long long ct, GetInt(json, "connect_timeout_ms", 1, kDay, 1000));
  TXC_ASSIGN_OR_RETURN(long long cl, GetInt(json, "call_timeout_ms", 1, kDay, 5000));
  TXC_ASSIGN_OR_RETURN(long long mc, GetInt(json, "max_connections", 1, 1024, 16));
  c.connect_timeout = std::chrono::milliseconds(ct);
  c.call_timeout = std::chrono::milliseconds(cl);
  c.max_connections = static_cast<int>(mc);
  TXC_ASSIGN_OR_RETURN(std::string enc, GetString(json, "encoding", false));
  if (enc == "json") {
    c.encoding = wire::Encoding::kJson;
  } else if (!enc.empty() && enc != "protobuf") {
    return InvalidArgument(
        "remote participant config: encoding must be \"protobuf\" or "
        "\"json\", got \"" +
        enc + "\"");
  }
  TXC_RETURN_IF_ERROR(ValidateRemoteConfig(c));
  return c;
}

}  // namespace txcoord::participant
