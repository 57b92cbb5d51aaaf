#include "args.h"

#include <cctype>

namespace txcoord::txctl {

std::string Args::Get(const std::string& name, const std::string& fallback) const {
  auto it = flags.find(name);
  return it == flags.end() ? fallback : it->second;
}

Result<Args> ParseArgs(const std::vector<std::string>& argv, const std::set<std::string>& boolean,
                       const std::set<std::string>& valued) {
  Args a;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& w = argv[i];
    if (w.rfind("--", 0) != 0 || w == "--") {
      a.positional.push_back(w);
      continue;
    }
    std::string name = w.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (boolean.count(name)) {
      if (value) return InvalidArgument("flag --" + name + " takes no value");
      a.flags[name] = "";
    } else if (valued.count(name)) {
      if (!value) {
        if (i + 1 >= argv.size()) return InvalidArgument("flag --" + name + " needs a value");
        value = argv[++i];
      }
      a.flags[name] = *value;
    } else {
      return InvalidArgument("unknown flag --" + name);
    }
  }
  return a;
}

Result<long long> ParseDurationMs(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12) return InvalidArgument("bad duration '" + text + "' (e.g. 90s, 5m, 2h)");
  const long long n = std::stoll(text.substr(0, i));
  const std::string unit = text.substr(i);
  if (unit == "ms") return n;
  if (unit == "s") return n * 1000;
  if (unit == "m") return n * 60'000;
  if (unit == "h") return n * 3'600'000;
  if (unit == "d") return n * 86'400'000;
  return InvalidArgument("bad duration unit in '" + text + "' (ms, s, m, h, d)");
}

}  // namespace txcoord::txctl
