// JSON config parsing: Poco exceptions stop here and become InvalidArgument.
#include "txcoord/redis/config.h"

#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <charconv>
#include <set>

#include "plan.h"

namespace txcoord::redis {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

Result<std::string> TextOf(const Poco::Dynamic::Var& v, const std::string& where) {
  if (v.isEmpty() || !(v.isString() || v.isNumeric()) || v.isBoolean()) {
    return InvalidArgument(where + " must be a string or a number");
  }
  return v.convert<std::string>();
}

Result<long long> IntField(const Object& o, const std::string& key, long long fallback,
                           long long min) {
  if (!o.has(key)) return fallback;
  const Poco::Dynamic::Var v = o.get(key);
  if (!v.isInteger() || v.isBoolean())
    return InvalidArgument("config: " + key + " must be an integer");
  const long long n = v.convert<long long>();
  if (n < min) {
    return InvalidArgument("config: " + key + " must be >= " + std::to_string(min) + ", got " +
                           std::to_string(n));
  }
  return n;
}

Result<Guard> ParseGuard(const Object& g, const std::string& where) {
  for (const char* k : {"key", "op"}) {
    if (!g.has(k)) return InvalidArgument(where + ": missing \"" + k + "\"");
  }
  Guard guard;
  TXC_ASSIGN_OR_RETURN(guard.key, TextOf(g.get("key"), where + ".key"));
  TXC_ASSIGN_OR_RETURN(std::string op, TextOf(g.get("op"), where + ".op"));
  Result<GuardOp> parsed = ParseGuardOp(op);
  if (!parsed.ok()) return parsed.status().Annotate(where);
  guard.op = *parsed;
  if (g.has("field")) {
    TXC_ASSIGN_OR_RETURN(guard.field, TextOf(g.get("field"), where + ".field"));
  }
  const bool needs_value =
      guard.op == GuardOp::kGe || guard.op == GuardOp::kLe || guard.op == GuardOp::kEq;
  if (needs_value && !g.has("value")) return InvalidArgument(where + ": missing \"value\"");
  if (g.has("value")) {
    TXC_ASSIGN_OR_RETURN(guard.value, TextOf(g.get("value"), where + ".value"));
  }
  return guard;
}

Result<ActionPlan> ParseAction(const Object& a, const std::string& where) {
  for (const std::string& k : a.getNames()) {
    if (k != "guards" && k != "writes") {
      return InvalidArgument(where + ": unknown key \"" + k + "\" (expected guards, writes)");
    }
  }
  ActionPlan plan;
  if (a.has("guards")) {
    Poco::JSON::Array::Ptr guards = a.getArray("guards");
    if (!guards) return InvalidArgument(where + ".guards must be an array");
    for (unsigned i = 0; i < guards->size(); ++i) {
      const std::string gw = where + ".guards[" + std::to_string(i) + "]";
      Object::Ptr g = guards->getObject(i);
      if (!g) return InvalidArgument(gw + " must be an object");
      TXC_ASSIGN_OR_RETURN(Guard guard, ParseGuard(*g, gw));
      plan.guards.push_back(std::move(guard));
    }
  }
  if (!a.has("writes")) return InvalidArgument(where + ": missing \"writes\"");
  Poco::JSON::Array::Ptr writes = a.getArray("writes");
  if (!writes) return InvalidArgument(where + ".writes must be an array");
  for (unsigned i = 0; i < writes->size(); ++i) {
    const std::string ww = where + ".writes[" + std::to_string(i) + "]";
    Poco::JSON::Array::Ptr cmd = writes->getArray(i);
    if (!cmd) return InvalidArgument(ww + " must be an array like [\"SET\", key, value]");
    Write w;
    for (unsigned j = 0; j < cmd->size(); ++j) {
      TXC_ASSIGN_OR_RETURN(std::string arg,
                           TextOf(cmd->get(j), ww + "[" + std::to_string(j) + "]"));
      w.args.push_back(std::move(arg));
    }
    if (!w.args.empty()) {
      for (char& c : w.args[0]) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    plan.writes.push_back(std::move(w));
  }
  Status shape = CheckPlanShape(plan, /*templates=*/true);
  if (!shape.ok()) return shape.Annotate(where);
  return plan;
}

Result<Config> ParseConfigUnchecked(const Object& json) {
  Config c;
  for (const char* k : {"name", "url", "actions"}) {
    if (!json.has(k)) return InvalidArgument(std::string("config: missing \"") + k + "\"");
  }
  TXC_ASSIGN_OR_RETURN(c.name, TextOf(json.get("name"), "config: name"));
  if (c.name.empty()) return InvalidArgument("config: name must not be empty");
  if (json.has("kind")) {
    TXC_ASSIGN_OR_RETURN(std::string kind, TextOf(json.get("kind"), "config: kind"));
    if (kind != "redis")
      return InvalidArgument("config: kind must be \"redis\", got \"" + kind + "\"");
  }
  TXC_ASSIGN_OR_RETURN(c.url, TextOf(json.get("url"), "config: url"));
  TXC_ASSIGN_OR_RETURN(c.endpoint, ParseUrl(c.url));
  TXC_ASSIGN_OR_RETURN(long long pool, IntField(json, "pool_size", 8, 1));
  TXC_ASSIGN_OR_RETURN(long long timeout, IntField(json, "timeout_ms", 2000, 1));
  TXC_ASSIGN_OR_RETURN(long long wait, IntField(json, "lock_wait_ms", 0, 0));
  TXC_ASSIGN_OR_RETURN(long long ttl, IntField(json, "barrier_ttl_s", 604800, 0));
  if (pool > 1024) return InvalidArgument("config: pool_size must be <= 1024");
  c.pool_size = static_cast<int>(pool);
  c.timeout = std::chrono::milliseconds(timeout);
  c.lock_wait = std::chrono::milliseconds(wait);
  c.barrier_ttl = std::chrono::seconds(ttl);
  if (json.has("index_in_script")) {
    const Poco::Dynamic::Var v = json.get("index_in_script");
    if (!v.isString()) return InvalidArgument("config: index_in_script must be a string");
    Result<IndexInScript> mode = ParseIndexInScript(v.convert<std::string>());
    if (!mode.ok()) return mode.status().Annotate("config");
    c.index_in_script = *mode;
  }
  Object::Ptr actions = json.getObject("actions");
  if (!actions) return InvalidArgument("config: actions must be an object");
  for (const std::string& name : actions->getNames()) {
    const std::string where = "config: action \"" + name + "\"";
    if (name.empty()) return InvalidArgument("config: an action name is empty");
    Object::Ptr a = actions->getObject(name);
    if (!a) return InvalidArgument(where + " must be an object");
    TXC_ASSIGN_OR_RETURN(ActionPlan plan, ParseAction(*a, where));
    c.actions.emplace(name, std::move(plan));
  }
  return c;
}

bool ParseInt(std::string_view s, int& out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<GuardOp> ParseGuardOp(std::string_view op) {
  if (op == "exists") return GuardOp::kExists;
  if (op == "not_exists") return GuardOp::kNotExists;
  if (op == ">=") return GuardOp::kGe;
  if (op == "<=") return GuardOp::kLe;
  if (op == "==" || op == "eq") return GuardOp::kEq;
  return InvalidArgument("unknown guard op \"" + std::string(op) +
                         "\" (expected exists, not_exists, >=, <=, ==)");
}

std::string_view GuardOpName(GuardOp op) {
  switch (op) {
    case GuardOp::kExists:
      return "exists";
    case GuardOp::kNotExists:
      return "not_exists";
    case GuardOp::kGe:
      return ">=";
    case GuardOp::kLe:
      return "<=";
    case GuardOp::kEq:
      return "==";
  }
  return "?";
}

Result<IndexInScript> ParseIndexInScript(std::string_view text) {
  if (text == "auto") return IndexInScript::kAuto;
  if (text == "on") return IndexInScript::kOn;
  if (text == "off") return IndexInScript::kOff;
  return InvalidArgument("index_in_script must be \"auto\", \"on\" or \"off\", got \"" +
                         std::string(text) + "\"");
}

std::string_view IndexInScriptName(IndexInScript mode) {
  switch (mode) {
    case IndexInScript::kAuto:
      return "auto";
    case IndexInScript::kOn:
      return "on";
    case IndexInScript::kOff:
      return "off";
  }
  return "?";
}

Result<Endpoint> ParseUrl(std::string_view url) {
  const std::string bad = "config: bad url \"" + std::string(url) + "\": ";
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return InvalidArgument(bad + "expected redis://[:password@]host[:port][/db] (no TLS)");
  }
  std::string_view rest = url.substr(kScheme.size());
  Endpoint e;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    const auto colon = cred.find(':');
    e.password = std::string(colon == std::string_view::npos ? cred : cred.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  std::string_view hostport = rest.substr(0, rest.find('/'));
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && (!ParseInt(db, e.db) || e.db < 0)) {
      return InvalidArgument(bad + "database must be a non-negative integer");
    }
  }
  if (const auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    if (!ParseInt(hostport.substr(colon + 1), e.port) || e.port <= 0 || e.port > 65535) {
      return InvalidArgument(bad + "port must be 1..65535");
    }
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) return InvalidArgument(bad + "missing host");
  e.host = std::string(hostport);
  return e;
}

Result<Config> ParseConfig(const Object& json) {
  try {
    return ParseConfigUnchecked(json);
  } catch (const Poco::Exception& e) {
    return InvalidArgument("config: " + e.displayText());
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("config: ") + e.what());
  }
}

Result<Config> ParseConfigText(std::string_view json) {
  try {
    Poco::JSON::Parser parser;
    Poco::Dynamic::Var v = parser.parse(std::string(json));
    if (v.type() != typeid(Object::Ptr)) return InvalidArgument("config: not a JSON object");
    Object::Ptr o = v.extract<Object::Ptr>();
    if (!o) return InvalidArgument("config: not a JSON object");
    return ParseConfig(*o);
  } catch (const Poco::Exception& e) {
    return InvalidArgument("config: not valid JSON: " + e.displayText());
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("config: not valid JSON: ") + e.what());
  }
}

}  // namespace txcoord::redis
