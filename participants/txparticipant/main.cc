// txparticipant: serves PostgreSQL and Redis participants over HTTP from a JSON config alone
// (docs/txparticipant.md).
//
//   txparticipant --config FILE      (also --config=FILE)
//   txparticipant --help
//
// Logs are JSON lines on stderr. Fault points: TXC_FAILPOINTS, armed at start.
// SIGTERM/SIGINT: stop accepting, finish running requests, exit 0.
// Exit codes: 0 clean stop, 1 start-up failure (store unreachable, port in use),
// 2 usage or configuration error. Every failure is one log line naming the problem.
#include <pthread.h>
#include <signal.h>

#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "txcoord/adapters/factory.h"
#include "txcoord/core/fault.h"
#include "txcoord/core/log.h"
#include "txcoord/participant/service.h"
#include "txcoord/redis/participant.h"
#include "txp_config.h"
#include "txp_server.h"

namespace txcoord::txparticipant {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitStartup = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: txparticipant --config FILE\n"
    "Serves the participants of FILE (JSON) over the txcoord participant protocol.\n"
    "  --config FILE  configuration file; values may use ${env:NAME}\n"
    "  --help         print this help\n"
    "Environment: TXC_FAILPOINTS arms fault points. Exit codes: 0 stopped by SIGTERM/SIGINT,\n"
    "1 start-up failure, 2 usage or configuration error. See docs/txparticipant.md.\n";

int Fail(int exit_code, std::string_view what, const Status& s) {
  log::Error(what, {{"code", std::string(CodeName(s.code()))},
                    {"error", s.message()},
                    {"exit", std::to_string(exit_code)}});
  return exit_code;
}

// The config path, or "" after printing help (`help` set) or on a usage error (`error` set).
std::string ParseArgs(const std::vector<std::string>& args, bool& help, std::string& error) {
  std::string path;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      help = true;
      return "";
    }
    if (a == "--config" && i + 1 < args.size()) {
      path = args[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      path = a.substr(9);
    } else {
      error = a == "--config" ? "--config needs a FILE" : "unknown argument '" + a + "'";
      return "";
    }
  }
  if (path.empty()) error = "--config FILE is required";
  return path;
}

// Builds every participant. The exit code tells a bad definition (2) from a store that cannot
// be reached (1).
int AddParticipants(const TxpConfig& cfg, participant::ParticipantService& service) {
  for (const auto& obj : cfg.participants) {
    auto made = adapters::CreateParticipant(*obj);
    if (!made.ok()) {
      const bool bad_config = made.status().code() == Code::kInvalidArgument;
      return Fail(bad_config ? kExitUsage : kExitStartup,
                  bad_config ? "txparticipant: bad participant config"
                             : "txparticipant: participant cannot start",
                  made.status());
    }
    const auto& p = *made;
    if (const auto* r = dynamic_cast<const redis::RedisParticipant*>(p.get())) {
      for (const std::string& w : r->warnings()) {
        log::Warn("redis participant warning", {{"participant", p->name()}, {"warning", w}});
      }
    }
    // Reachability probe (the Redis adapter connects lazily): also tells the operator how
    // many branches wait for a decision.
    auto in_doubt = p->InDoubt("");
    if (!in_doubt.ok()) {
      return Fail(kExitStartup, "txparticipant: participant cannot start",
                  in_doubt.status().Annotate("participant '" + p->name() + "': store probe"));
    }
    if (Status s = service.Add(p); !s.ok()) {
      return Fail(kExitUsage, "txparticipant: bad participant config", s);
    }
    log::Info("participant ready",
              {{"name", p->name()}, {"in_doubt", std::to_string(in_doubt->size())}});
  }
  return kExitOk;
}

int Run(const std::string& path, const sigset_t& stop_signals) {
  if (Status s = fault::ArmFromEnvironment(); !s.ok()) {
    return Fail(kExitUsage, "txparticipant: bad TXC_FAILPOINTS", s);
  }
  auto cfg = LoadTxpConfig(path);
  if (!cfg.ok()) return Fail(kExitUsage, "txparticipant: config error", cfg.status());
  log::SetMinLevel(cfg->log_level);
  auto service = participant::ParticipantService::Create(
      {.token = cfg->token, .max_body_bytes = cfg->max_body_bytes});
  if (!service.ok()) return Fail(kExitUsage, "txparticipant: config error", service.status());
  if (int rc = AddParticipants(*cfg, **service); rc != kExitOk) return rc;

  TxpServer server(*service, cfg->host, cfg->port, cfg->http_threads);
  if (Status s = server.Start(); !s.ok()) {
    return Fail(kExitStartup, "txparticipant: cannot serve", s);
  }
  log::Info("listening", {{"address", cfg->host + ":" + std::to_string(server.port())},
                          {"participants", std::to_string(cfg->participants.size())}});
  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  log::Info("stopping", {{"signal", strsignal(sig)}});
  server.Stop();
  log::Info("stopped");
  return kExitOk;
}

}  // namespace
}  // namespace txcoord::txparticipant

int main(int argc, char** argv) {
  using namespace txcoord::txparticipant;
  // Blocked before any thread starts, so every thread inherits the mask and only sigwait in
  // Run() sees the stop signals. A peer closing a socket must not kill the process.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  bool help = false;
  std::string error;
  const std::string path = ParseArgs(std::vector<std::string>(argv + 1, argv + argc), help, error);
  if (help) {
    std::cout << kUsage;
    return kExitOk;
  }
  if (!error.empty()) {
    txcoord::log::Error("txparticipant: usage error", {{"error", error}, {"exit", "2"}});
    std::cerr << kUsage;
    return kExitUsage;
  }
  try {
    return Run(path, stop);
  } catch (const std::exception& e) {
    txcoord::log::Error("txparticipant: unexpected exception", {{"error", e.what()}});
    return kExitStartup;
  }
}
