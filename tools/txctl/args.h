#pragma once
// Command-line parsing for txctl: positional words and --flag / --flag=value / --flag value.
// Unknown flags are an error (a typo is not ignored).
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "txcoord/core/status.h"

namespace txcoord::txctl {

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;  // name without "--" -> value ("" for booleans)

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
};

// `boolean` names flags without a value; `valued` names flags that take one. Anything else
// starting with "--" is InvalidArgument.
Result<Args> ParseArgs(const std::vector<std::string>& argv, const std::set<std::string>& boolean,
                       const std::set<std::string>& valued);

// "90s", "5m", "2h", "1d", "1500ms" -> milliseconds; InvalidArgument otherwise.
Result<long long> ParseDurationMs(const std::string& text);

}  // namespace txcoord::txctl
