// txctl — recovery tooling for operators after an outage (docs/txctl.md, docs/operations.md).
// Exit codes: 0 ok, 1 problems found, 2 usage or connection error.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "args.h"
#include "json_out.h"
#include "online.h"
#include "scan.h"
#include "wal_cmds.h"

namespace txcoord::txctl {
namespace {

constexpr const char* kUsage = R"(usage: txctl [--json] [--url URL] [--token TOKEN] COMMAND ...

online (through txcoordd's HTTP API; --url default $TXC_URL or http://127.0.0.1:7000,
        --token default $TXC_TOKEN):
  status                                  health, WAL, transactions by state, oldest in flight
  list [--state S] [--older-than 5m] [--participant P]
  show GID                                one transaction: branches, attempts, last errors,
                                          timeline of its WAL records
  retry GID                               resend phase 2 now, backoff reset
  resolve GID --commit|--abort --reason TEXT [--force] [--operator NAME]
                                          an operator's decision; --force = heuristic:
                                          settles unreachable branches (docs/txctl.md)
  participants scan --config txcoordd.json [--stale 10m] [--fix]
                                          prepared branches in the stores vs the log:
                                          orphans, stale, mismatches; --fix aborts orphans

offline (the coordinator must be down):
  wal dump DIR [--gid GID]                every record (or one transaction's), decoded
  wal verify DIR                          check every CRC; report the first bad offset
  wal repair DIR                          truncate at the last good record (cut bytes kept)

exit codes: 0 ok, 1 problems found (incl. resolve refused: 409), 2 usage or connection error
)";

int Usage(const std::string& error) {
  if (!error.empty()) std::cerr << "txctl: " << error << "\n\n";
  std::cerr << kUsage;
  return kExitUsage;
}

bool ValidGid(const std::string& gid) {
  if (gid.empty() || gid.size() > 128) return false;
  for (char c : gid) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

int Run(const std::vector<std::string>& argv) {
  auto parsed = ParseArgs(argv, {"json", "help", "fix", "commit", "abort", "force"},
                          {"url", "token", "state", "older-than", "participant", "config", "stale",
                           "gid", "reason", "operator"});
  if (!parsed.ok()) return Usage(parsed.status().message());
  const Args& a = *parsed;
  const auto& p = a.positional;
  if (a.Has("help")) return std::cout << kUsage, kExitOk;
  if (p.empty()) return Usage("no command");
  const bool json = a.Has("json");
  const std::string& cmd = p[0];

  if (a.Has("gid") && cmd != "wal") return Usage("--gid is for wal dump");
  if (a.Has("gid") && !ValidGid(a.Get("gid"))) return Usage("bad --gid '" + a.Get("gid") + "'");
  if (cmd == "wal") {
    if (p.size() != 3) return Usage("wal needs a subcommand and a directory");
    if (p[1] == "dump") return WalDump(p[2], json, a.Get("gid"));
    if (p[1] == "verify") return WalVerify(p[2], json);
    if (p[1] == "repair") return WalRepair(p[2], json);
    return Usage("unknown wal subcommand '" + p[1] + "' (dump, verify, repair)");
  }

  Endpoint ep{a.Get("url", Env("TXC_URL", "http://127.0.0.1:7000")),
              a.Get("token", Env("TXC_TOKEN", "")), json};
  if (ep.url.rfind("http://", 0) != 0) return Usage("--url must start with http://");
  const bool list_flags = a.Has("state") || a.Has("older-than") || a.Has("participant");
  if (list_flags && cmd != "list") return Usage("--state/--older-than/--participant are for list");
  const bool scan_flags = a.Has("config") || a.Has("stale") || a.Has("fix");
  if (scan_flags && cmd != "participants") return Usage("--config/--stale/--fix are for scan");
  const bool resolve_flags =
      a.Has("commit") || a.Has("abort") || a.Has("force") || a.Has("reason") || a.Has("operator");
  if (resolve_flags && cmd != "resolve") {
    return Usage("--commit/--abort/--force/--reason/--operator are for resolve");
  }
  if (cmd == "resolve") {
    if (p.size() != 2) return Usage("usage: resolve GID --commit|--abort --reason TEXT");
    if (!ValidGid(p[1])) return Usage("bad gid '" + p[1] + "' (1..128 of [A-Za-z0-9._:-])");
    if (a.Has("commit") == a.Has("abort"))
      return Usage("resolve needs exactly one of --commit, --abort");
    if (a.Get("reason").empty())
      return Usage("resolve needs --reason TEXT (it is written to the WAL)");
    std::string op = a.Get("operator", Env("USER", "unknown"));
    if (op.empty()) op = "unknown";
    return Resolve(ep, p[1], a.Has("commit"), a.Has("force"), a.Get("reason"), op);
  }
  if (cmd == "participants") {
    if (p.size() != 2 || p[1] != "scan") return Usage("usage: participants scan --config FILE");
    return ParticipantsScan(ep, a);
  }
  if (cmd == "status" && p.size() == 1) return Status(ep);
  if (cmd == "list" && p.size() == 1) return List(ep, a);
  if ((cmd == "show" || cmd == "retry") && p.size() == 2) {
    if (!ValidGid(p[1])) return Usage("bad gid '" + p[1] + "' (1..128 of [A-Za-z0-9._:-])");
    return cmd == "show" ? Show(ep, p[1]) : Retry(ep, p[1]);
  }
  if (cmd == "status" || cmd == "list" || cmd == "show" || cmd == "retry")
    return Usage("wrong number of arguments for " + cmd);
  return Usage("unknown command '" + cmd + "'");
}

}  // namespace
}  // namespace txcoord::txctl

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return txcoord::txctl::Run(args);
}
