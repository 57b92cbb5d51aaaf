#pragma once
// Tiny JSON writer helpers for txctl's --json output (one document per command on stdout).
#include <string>
#include <string_view>

namespace txcoord::txctl {

std::string JsonString(std::string_view s);  // quoted and escaped

// Exit codes (docs/txctl.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitProblems = 1;  // the command ran and found problems
inline constexpr int kExitUsage = 2;     // bad usage, unreachable coordinator, I/O error

}  // namespace txcoord::txctl
