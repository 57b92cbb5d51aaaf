#include "scripts.h"

#include <Poco/DigestEngine.h>
#include <Poco/SHA1Engine.h>

#include "script_text.h"

namespace txcoord::redis::internal {

Script::Script(const char* text) : body(text) {
  Poco::SHA1Engine sha;
  sha.update(body);
  sha1 = Poco::DigestEngine::digestToHex(sha.digest());
}

const Script& PrepareScript() {
  static const Script s(kLua_prepare);
  return s;
}
const Script& CommitScript() {
  static const Script s(kLua_commit);
  return s;
}
const Script& AbortScript() {
  static const Script s(kLua_abort);
  return s;
}
const Script& ExecuteScript() {
  static const Script s(kLua_execute);
  return s;
}
const Script& CompensateScript() {
  static const Script s(kLua_compensate);
  return s;
}

namespace {

std::vector<std::string> EvalArgs(const std::string& cmd, const std::string& script,
                                  const std::vector<std::string>& keys,
                                  const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back(cmd);
  argv.push_back(script);
  argv.push_back(std::to_string(keys.size()));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Result<std::vector<std::string>> Strings(const redisReply* r) {
  if (r->type == REDIS_REPLY_ERROR) {
    return Internal("redis script failed: " + std::string(r->str, r->len));
  }
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
    return std::vector<std::string>{std::string(r->str, r->len)};
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
    return Internal("redis script: unexpected reply type " + std::to_string(r->type));
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply* e = r->element[i];
    if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) {
      out.emplace_back(e->str, e->len);
    } else if (e->type == REDIS_REPLY_INTEGER) {
      out.push_back(std::to_string(e->integer));
    } else {
      out.emplace_back();
    }
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> RunScript(Pool& pool, const Script& script,
                                           const std::vector<std::string>& keys,
                                           const std::vector<std::string>& args, Effect effect,
                                           const std::vector<std::vector<std::string>>& before) {
  TXC_ASSIGN_OR_RETURN(Reply r,
                       pool.Run(EvalArgs("EVALSHA", script.sha1, keys, args), effect, before));
  if (r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).rfind("NOSCRIPT", 0) == 0) {
    // Not in the cache: nothing ran. EVAL runs it and caches it again.
    TXC_ASSIGN_OR_RETURN(r, pool.Run(EvalArgs("EVAL", script.body, keys, args), effect));
  }
  return Strings(r.get());
}

}  // namespace txcoord::redis::internal
