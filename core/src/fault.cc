#include "txcoord/core/fault.h"

#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <thread>

namespace txcoord::fault {
namespace {

void WriteStderr(const std::string& s) {
  // write(2), not stdio: a crash must not flush buffered output.
  ssize_t rc = ::write(STDERR_FILENO, s.data(), s.size());
  (void)rc;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool ParseUint(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Splits "error(unavailable)" into ("error", "unavailable"); ("crash", "").
bool SplitCall(std::string_view s, std::string_view& fn, std::string_view& arg) {
  const auto open = s.find('(');
  if (open == std::string_view::npos) {
    fn = s;
    arg = {};
    return true;
  }
  if (s.back() != ')') return false;
  fn = s.substr(0, open);
  arg = s.substr(open + 1, s.size() - open - 2);
  return true;
}

Result<std::pair<std::string, Spec>> ParseEntry(std::string_view entry) {
  const auto eq = entry.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return InvalidArgument("fault entry '" + std::string(entry) + "' is not name=action");
  }
  std::string name(Trim(entry.substr(0, eq)));
  std::string_view rest = Trim(entry.substr(eq + 1));
  Spec spec;
  if (auto star = rest.rfind('*'); star != std::string_view::npos) {
    if (!ParseUint(rest.substr(star + 1), spec.max_fires) || spec.max_fires == 0) {
      return InvalidArgument("fault '" + name + "': bad '*M' count");
    }
    rest = rest.substr(0, star);
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    if (!ParseUint(rest.substr(at + 1), spec.first_hit) || spec.first_hit == 0) {
      return InvalidArgument("fault '" + name + "': bad '@N' hit number (1-based)");
    }
    rest = rest.substr(0, at);
  }
  std::string_view fn, arg;
  if (!SplitCall(rest, fn, arg)) return InvalidArgument("fault '" + name + "': bad action");
  if (fn == "off" && arg.empty()) {
    spec.action = Action::kOff;
  } else if (fn == "crash" && arg.empty()) {
    spec.action = Action::kCrash;
  } else if (fn == "abort" && arg.empty()) {
    spec.action = Action::kAbort;
  } else if (fn == "error") {
    spec.action = Action::kError;
    if (!arg.empty()) {
      auto code = ParseCode(arg);
      if (!code.ok()) return code.status().Annotate("fault '" + name + "'");
      spec.error_code = *code;
    }
  } else if (fn == "delay") {
    std::uint64_t ms = 0;
    if (!ParseUint(arg, ms)) return InvalidArgument("fault '" + name + "': delay(millis)");
    spec.action = Action::kDelay;
    spec.delay = std::chrono::milliseconds(ms);
  } else {
    return InvalidArgument("fault '" + name + "': unknown action '" + std::string(rest) +
                           "' (off, crash, abort, error[(code)], delay(ms))");
  }
  return std::make_pair(std::move(name), std::move(spec));
}

}  // namespace

Result<Code> ParseCode(std::string_view name) {
  for (int c = static_cast<int>(Code::kOk); c <= static_cast<int>(Code::kInternal); ++c) {
    std::string lower(CodeName(static_cast<Code>(c)));
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == name) return static_cast<Code>(c);
  }
  return InvalidArgument("unknown status code '" + std::string(name) + "'");
}

Registry& Registry::Global() {
  static auto* registry = new Registry();  // leaked: usable from any thread at exit
  return *registry;
}

void Registry::Arm(const std::string& name, Spec spec) {
  std::lock_guard<std::mutex> lock(mu_);
  points_[name] = Point{std::move(spec)};
  any_armed_.store(true, std::memory_order_relaxed);
}

void Registry::Disarm(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  points_.erase(name);
  any_armed_.store(!points_.empty(), std::memory_order_relaxed);
}

void Registry::DisarmAll() {
  std::lock_guard<std::mutex> lock(mu_);
  points_.clear();
  any_armed_.store(false, std::memory_order_relaxed);
}

Status Registry::ArmFromString(std::string_view config) {
  std::vector<std::pair<std::string, Spec>> parsed;
  while (!config.empty()) {
    const auto comma = config.find(',');
    std::string_view entry = Trim(config.substr(0, comma));
    config = comma == std::string_view::npos ? std::string_view{} : config.substr(comma + 1);
    if (entry.empty()) continue;
    auto p = ParseEntry(entry);
    if (!p.ok()) return p.status();
    parsed.push_back(std::move(p).value());
  }
  for (auto& [name, spec] : parsed) Arm(name, std::move(spec));
  return Status::Ok();
}

Status Registry::Hit(std::string_view name) {
  if (!any_armed_.load(std::memory_order_relaxed)) return Status::Ok();
  Spec spec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = points_.find(name);
    if (it == points_.end()) return Status::Ok();
    Point& p = it->second;
    ++p.hits;
    if (p.hits < p.spec.first_hit || p.fires >= p.spec.max_fires) return Status::Ok();
    ++p.fires;
    spec = p.spec;  // act outside the lock (callbacks and delays may take time)
  }
  switch (spec.action) {
    case Action::kOff:
      return Status::Ok();
    case Action::kCrash:
      WriteStderr("txcoord: fault point '" + std::string(name) + "' fired: crash\n");
      ::_exit(kCrashExitCode);
    case Action::kAbort:
      WriteStderr("txcoord: fault point '" + std::string(name) + "' fired: abort\n");
      std::abort();
    case Action::kError:
      return {spec.error_code, "injected fault at '" + std::string(name) + "'"};
    case Action::kDelay:
      std::this_thread::sleep_for(spec.delay);
      return Status::Ok();
    case Action::kCallback:
      if (spec.callback) spec.callback();
      return Status::Ok();
  }
  return Status::Ok();
}

std::uint64_t Registry::HitCount(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = points_.find(name);
  return it == points_.end() ? 0 : it->second.hits;
}

std::vector<std::string> Registry::Armed() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, point] : points_) names.push_back(name);
  return names;
}

Status ArmFromEnvironment() {
  const char* env = std::getenv(kEnvVar);
  if (env == nullptr || *env == '\0') return Status::Ok();
  return Registry::Global().ArmFromString(env).Annotate(kEnvVar);
}

}  // namespace txcoord::fault
