#include "plan.h"

#include <charconv>
#include <set>

#include "msgpack.h"

namespace txcoord::redis::internal {
namespace {

struct CommandShape {
  std::string_view name;
  std::size_t min_args;  // after the command name, including the key
  std::size_t max_args;  // 0 = unbounded
  int int_arg;           // index in args (command = 0) that must be an integer; 0 = none
  bool pairs;            // HSET: key + field/value pairs
};

constexpr CommandShape kCommands[] = {
    {"SET", 2, 2, 0, false},     {"DEL", 1, 1, 0, false},  {"INCRBY", 2, 2, 2, false},
    {"DECRBY", 2, 2, 2, false},  {"HSET", 3, 0, 0, true},  {"HDEL", 2, 0, 0, false},
    {"HINCRBY", 3, 3, 3, false}, {"SADD", 2, 0, 0, false}, {"SREM", 2, 0, 0, false},
    {"EXPIRE", 2, 2, 2, false},
};

const CommandShape* FindCommand(std::string_view name) {
  for (const CommandShape& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

bool IsCanonicalInt(std::string_view s) {
  if (s.empty() || s == "-0") return false;
  if (s.size() > 1 && (s[0] == '0' || (s[0] == '-' && s[1] == '0'))) return false;
  long long v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

// Fills placeholders from `payload`; with a null payload only checks their syntax.
Result<std::string> Fill(std::string_view text, const participant::Payload* payload) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const auto open = text.find("${", pos);
    out.append(text.substr(pos, open - pos));
    if (open == std::string_view::npos) return out;
    const auto close = text.find('}', open + 2);
    if (close == std::string_view::npos) {
      return InvalidArgument("unterminated placeholder in \"" + std::string(text) + "\"");
    }
    const std::string_view field = text.substr(open + 2, close - open - 2);
    if (field.empty() || field.find("${") != std::string_view::npos) {
      return InvalidArgument("malformed placeholder in \"" + std::string(text) + "\"");
    }
    if (payload) {
      const auto it = payload->find(field);
      if (it == payload->end()) {
        return InvalidArgument("payload has no field \"" + std::string(field) + "\"");
      }
      out += it->second;
    }
    pos = close + 1;
  }
}

}  // namespace

Status CheckPlaceholders(std::string_view text) {
  return Fill(text, nullptr).status();
}

Result<ActionPlan> Expand(const ActionPlan& tmpl, const participant::Payload& payload) {
  ActionPlan out = tmpl;
  for (Guard& g : out.guards) {
    TXC_ASSIGN_OR_RETURN(g.key, Fill(g.key, &payload));
    TXC_ASSIGN_OR_RETURN(g.field, Fill(g.field, &payload));
    TXC_ASSIGN_OR_RETURN(g.value, Fill(g.value, &payload));
  }
  for (Write& w : out.writes) {
    for (std::size_t i = 1; i < w.args.size(); ++i) {
      TXC_ASSIGN_OR_RETURN(w.args[i], Fill(w.args[i], &payload));
    }
  }
  return out;
}

Result<std::string> HashTagOf(std::string_view key) {
  const auto open = key.find('{');
  if (open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      return std::string(key.substr(open + 1, close - open - 1));
    }
  }
  if (key.find_first_of("{}") != std::string_view::npos) {
    return InvalidArgument("key \"" + std::string(key) +
                           "\" has braces but no hash tag: use a non-empty {tag}");
  }
  return std::string(key);
}

std::vector<std::string> TouchedKeys(const ActionPlan& plan) {
  std::vector<std::string> out;
  std::set<std::string_view> seen;
  auto add = [&](const std::string& k) {
    if (seen.insert(k).second) out.push_back(k);
  };
  for (const Guard& g : plan.guards) add(g.key);
  for (const Write& w : plan.writes) add(w.args[1]);
  return out;
}

std::string PackGuards(const ActionPlan& plan) {
  std::string out;
  if (plan.guards.empty()) return out;
  PackArrayHeader(plan.guards.size(), out);
  for (const Guard& g : plan.guards) {
    PackArrayHeader(4, out);
    PackString(GuardOpName(g.op), out);
    PackString(g.key, out);
    PackString(g.field, out);
    PackString(g.value, out);
  }
  return out;
}

std::string PackWrites(const ActionPlan& plan) {
  std::string out;
  PackArrayHeader(plan.writes.size(), out);
  for (const Write& w : plan.writes) {
    PackArrayHeader(w.args.size(), out);
    for (const std::string& a : w.args) PackString(a, out);
  }
  return out;
}

Result<std::string> CheckFilled(const ActionPlan& plan) {
  TXC_RETURN_IF_ERROR(CheckPlanShape(plan, /*templates=*/false));
  const std::vector<std::string> keys = TouchedKeys(plan);
  if (keys.empty()) return InvalidArgument("action touches no key");
  std::string tag;
  for (const std::string& k : keys) {
    if (k.empty()) return InvalidArgument("a key is empty");
    if (k.rfind("txc:", 0) == 0) {
      return InvalidArgument("key \"" + k + "\" uses the reserved prefix txc:");
    }
    TXC_ASSIGN_OR_RETURN(std::string t, HashTagOf(k));
    if (tag.empty()) {
      tag = std::move(t);
    } else if (t != tag) {
      return InvalidArgument("keys of one action must share one hash tag: \"" + keys[0] +
                             "\" has {" + tag + "} but \"" + k + "\" has {" + t + "}");
    }
  }
  return tag;
}

std::string BarrierKey(std::string_view tag, const participant::BranchId& id) {
  return "txc:{" + std::string(tag) + "}:b:" + id.coordinator + ":" + id.gid + ":" + id.branch;
}
std::string PreparedSetKey(std::string_view tag) {
  return "txc:{" + std::string(tag) + "}:prepared";
}
std::string LockPrefix(std::string_view tag) {
  return "txc:{" + std::string(tag) + "}:l:";
}
std::string IndexKey(const participant::BranchId& id) {
  return "txc:i:" + id.coordinator + ":" + id.gid + ":" + id.branch;
}

}  // namespace txcoord::redis::internal

namespace txcoord::redis {

Status CheckPlanShape(const ActionPlan& plan, bool templates) {
  using internal::FindCommand;
  for (std::size_t i = 0; i < plan.writes.size(); ++i) {
    const Write& w = plan.writes[i];
    const std::string where = "write " + std::to_string(i) + ": ";
    if (w.args.empty()) return InvalidArgument(where + "empty command");
    const internal::CommandShape* c = FindCommand(w.args[0]);
    if (!c) {
      return InvalidArgument(where + "unknown command \"" + w.args[0] +
                             "\" (supported: SET DEL INCRBY DECRBY HSET HDEL HINCRBY SADD SREM "
                             "EXPIRE)");
    }
    const std::size_t n = w.args.size() - 1;
    if (n < c->min_args || (c->max_args && n > c->max_args) || (c->pairs && n % 2 == 0)) {
      return InvalidArgument(where + w.args[0] + " has the wrong number of arguments (" +
                             std::to_string(n) + ")");
    }
    for (const std::string& a : w.args) {
      if (templates) TXC_RETURN_IF_ERROR(internal::CheckPlaceholders(a).Annotate(where));
    }
    const std::string& int_arg = c->int_arg ? w.args[c->int_arg] : w.args[0];
    const bool literal = !templates || int_arg.find("${") == std::string::npos;
    if (c->int_arg && literal && !internal::IsCanonicalInt(int_arg)) {
      return InvalidArgument(where + w.args[0] + " needs an integer, got \"" + w.args[c->int_arg] +
                             "\"");
    }
  }
  for (std::size_t i = 0; i < plan.guards.size(); ++i) {
    const Guard& g = plan.guards[i];
    const std::string where = "guard " + std::to_string(i) + ": ";
    if (templates) {
      for (const std::string* s : {&g.key, &g.field, &g.value}) {
        TXC_RETURN_IF_ERROR(internal::CheckPlaceholders(*s).Annotate(where));
      }
    }
    const bool literal = !templates || g.value.find("${") == std::string::npos;
    if ((g.op == GuardOp::kGe || g.op == GuardOp::kLe) && literal &&
        !internal::IsCanonicalInt(g.value)) {
      return InvalidArgument(where + std::string(GuardOpName(g.op)) + " needs an integer, got \"" +
                             g.value + "\"");
    }
  }
  return Status::Ok();
}

}  // namespace txcoord::redis
