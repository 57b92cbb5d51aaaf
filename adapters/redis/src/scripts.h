#pragma once
// Internal: running the embedded Lua scripts with EVALSHA, falling back to EVAL on NOSCRIPT
// (the server's script cache is empty after a restart or SCRIPT FLUSH).
// Thread-safety: Script is immutable; RunScript is as thread-safe as the Pool.
#include <string>
#include <vector>

#include "pool.h"

namespace txcoord::redis::internal {

struct Script {
  explicit Script(const char* text);
  std::string body;
  std::string sha1;  // hex, as EVALSHA wants it
};

// The scripts of the participant, built once.
const Script& PrepareScript();
const Script& CommitScript();
const Script& AbortScript();
const Script& ExecuteScript();
const Script& CompensateScript();

// Runs `script` and returns its reply as strings: a table's elements, or a string reply (the
// scripts answer with their reply's kind alone, e.g. 'ok', when it has no details) as one
// element. A Lua error reply (a bug, or data changed behind our back) → kInternal; pool errors
// as Pool::Run. `before` is pipelined
// ahead of the script as in Pool::Run (sent once: not again with the EVAL fallback).
Result<std::vector<std::string>> RunScript(
    Pool& pool, const Script& script, const std::vector<std::string>& keys,
    const std::vector<std::string>& args, Effect effect,
    const std::vector<std::vector<std::string>>& before = {});

}  // namespace txcoord::redis::internal
