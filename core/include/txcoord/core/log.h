#pragma once
// Structured logs: one JSON object per line on stderr, for txcoordd and txparticipant.
//
//   txcoord::log::Info("recovered", {{"transactions", "12"}, {"wal_dir", dir}});
//   → {"ts":"2026-11-24T02:20:01.123Z","level":"info","msg":"recovered","transactions":"12",...}
//
// Thread-safety: lines from concurrent threads never interleave. Each line is flushed, so a
// crash loses at most the line being written. Field values are JSON-escaped strings.
#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "txcoord/core/status.h"

namespace txcoord::log {

enum class Level { kDebug, kInfo, kWarn, kError };

using Fields = std::initializer_list<std::pair<std::string_view, std::string>>;

void SetMinLevel(Level level);  // default kInfo
// "debug", "info", "warn", "error"; InvalidArgument naming the choices otherwise.
Result<Level> ParseLevel(std::string_view name);
void Write(Level level, std::string_view msg, Fields fields = {});
inline void Info(std::string_view msg, Fields fields = {}) {
  Write(Level::kInfo, msg, fields);
}
inline void Warn(std::string_view msg, Fields fields = {}) {
  Write(Level::kWarn, msg, fields);
}
inline void Error(std::string_view msg, Fields fields = {}) {
  Write(Level::kError, msg, fields);
}

// "2026-11-24T02:20:01.123Z" (UTC, milliseconds).
std::string FormatUtc(std::chrono::system_clock::time_point t);

// Appends `s` to `out` as a JSON string literal (with quotes).
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace txcoord::log
