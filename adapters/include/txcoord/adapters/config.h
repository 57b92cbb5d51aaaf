#pragma once
// Loading JSON configuration files for txcoord binaries (txparticipant, txcoordd).
//
// Every string value may reference the environment as ${env:NAME}; a reference to an unset
// variable is an error (a silent empty DSN would connect somewhere unintended). "$${env:"
// escapes a literal "${env:". Other "${...}" text (e.g. the Redis adapter's payload
// placeholders "${account}") is left alone. Expansion happens on the parsed tree, so values
// cannot inject JSON structure.
// Thread-safety: free functions; no shared state.
#include <Poco/JSON/Object.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "txcoord/core/status.h"

namespace txcoord::adapters {

// Looks a variable up; std::nullopt when unset. Defaults to getenv.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Expands ${env:NAME} in `text`; InvalidArgument naming the variable when it is unset.
Result<std::string> ExpandEnv(std::string_view text, const EnvLookup& env = {});

// Parses JSON text whose top level must be an object, expanding ${env:NAME} in every string value.
Result<Poco::JSON::Object::Ptr> ParseJsonConfig(std::string_view text, const EnvLookup& env = {});

// Reads and parses a file; errors name the file.
Result<Poco::JSON::Object::Ptr> LoadJsonConfig(const std::string& path, const EnvLookup& env = {});

}  // namespace txcoord::adapters
