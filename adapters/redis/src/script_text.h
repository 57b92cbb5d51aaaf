#pragma once
// Internal: the Lua scripts, embedded at build time from adapters/redis/lua/ (common.lua is
// prepended to each, and checks.lua to prepare, execute and compensate). Defined in the
// generated script_text.cc.
namespace txcoord::redis::internal {
extern const char* const kLua_prepare;
extern const char* const kLua_commit;
extern const char* const kLua_abort;
extern const char* const kLua_execute;
extern const char* const kLua_compensate;
}  // namespace txcoord::redis::internal
