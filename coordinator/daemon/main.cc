// txcoordd: the coordinator daemon. Reads a JSON config (docs/operations.md), builds the
// participants, opens and replays the WAL, resumes unfinished transactions, serves the HTTP API.
//
//   txcoordd --config=txcoordd.json [--listen=127.0.0.1:7000] [--wal-dir=DIR]
//            [--coordinator-id=ID] [--log-level=debug|info|warn|error]
//
// Logs are JSON lines on stderr. SIGTERM/SIGINT: stop accepting, finish requests, exit 0.
// Fault points: TXC_FAILPOINTS (see README). Exit codes: 0 clean stop, 1 start-up failure,
// 2 usage/config error.
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionSet.h>
#include <Poco/Util/ServerApplication.h>

#include <iostream>

#include "daemon_config.h"
#include "txcoord/adapters/factory.h"
#include "txcoord/coordinator/recovery.h"
#include "txcoord/coordinator/transaction_manager.h"
#include "txcoord/core/fault.h"
#include "txcoord/core/log.h"
#include "txcoord/server/api_server.h"
#include "txcoord/wal/log.h"

namespace txcoord::daemon {
namespace {

constexpr int kExitStartup = 1;  // store unreachable, WAL corrupt or locked, port in use
constexpr int kExitUsage = 2;    // bad command line or configuration

using Poco::Util::Option;
using Poco::Util::OptionCallback;

class Daemon : public Poco::Util::ServerApplication {
 protected:
  void defineOptions(Poco::Util::OptionSet& options) override {
    ServerApplication::defineOptions(options);
    auto add = [&](const char* name, const char* arg, const char* help) {
      options.addOption(Option(name, "", help)
                            .required(false)
                            .repeatable(false)
                            .argument(arg)
                            .callback(OptionCallback<Daemon>(this, &Daemon::SetOverride)));
    };
    add("config", "FILE", "JSON configuration file (required)");
    add("listen", "HOST:PORT", "override \"listen\"");
    add("wal-dir", "DIR", "override \"wal_dir\"");
    add("coordinator-id", "ID", "override \"coordinator_id\"");
    add("log-level", "LEVEL", "debug, info, warn or error (default info)");
    options.addOption(Option("help", "h", "print this help")
                          .required(false)
                          .callback(OptionCallback<Daemon>(this, &Daemon::Help)));
  }

  void SetOverride(const std::string& name, const std::string& value) { overrides_[name] = value; }

  void Help(const std::string&, const std::string&) {
    Poco::Util::HelpFormatter f(options());
    f.setCommand(commandName());
    f.setUsage("--config=FILE [options]");
    f.setHeader("txcoord coordinator daemon");
    f.format(std::cout);
    help_ = true;
    stopOptionsProcessing();
  }

  int main(const std::vector<std::string>&) override {
    if (help_) return EXIT_OK;
    if (Status s = fault::ArmFromEnvironment(); !s.ok()) return Fail(kExitUsage, s);
    auto cfg = LoadDaemonConfig(overrides_);
    if (!cfg.ok()) return Fail(kExitUsage, cfg.status());
    log::SetMinLevel(cfg->log_level);
    Status run = Run(*cfg);
    if (!run.ok()) {
      // A config the stores reject (unknown kind, bad action) is a config error, not an outage.
      return Fail(run.code() == Code::kInvalidArgument ? kExitUsage : kExitStartup, run);
    }
    return EXIT_OK;
  }

 private:
  Status Run(const DaemonConfig& cfg) {
    coordinator::Participants participants;
    for (const auto& p : cfg.participants) {
      auto made = adapters::CreateParticipant(*p);
      if (!made.ok()) return made.status();
      log::Info("participant ready", {{"name", (*made)->name()}});
      WarnIfPoolBelowCap(*p, cfg.engine.max_concurrent_per_participant);
      participants.push_back(std::move(*made));
    }
    coordinator::RecoveredState state(cfg.engine.max_finished_kept);
    auto log = wal::Log::Open(cfg.wal, state.Visitor());
    if (!log.ok()) return log.status().Annotate("wal " + cfg.wal.dir);
    const auto& report = (*log)->replay_report();
    log::Info("wal replayed", {{"dir", cfg.wal.dir},
                               {"records", std::to_string(report.records)},
                               {"checkpoint_lsn", std::to_string(report.checkpoint_lsn)},
                               {"truncated_bytes", std::to_string(report.truncated_bytes)},
                               {"live_transactions", std::to_string(state.live_transactions())}});
    std::shared_ptr<wal::Log> shared_log(std::move(*log));
    auto manager =
        coordinator::TransactionManager::Start(cfg.engine, std::move(participants), shared_log,
                                               std::move(state), Clock::Real(), Random::System());
    if (!manager.ok()) return manager.status().Annotate("engine");
    server::ServerOptions opts = cfg.server;
    opts.wal_stats = [shared_log] { return shared_log->stats(); };
    auto api = server::ApiServer::Start(**manager, opts);
    if (!api.ok()) return api.status();
    log::Info("listening", {{"address", opts.host + ":" + std::to_string((*api)->port())},
                            {"coordinator_id", cfg.engine.coordinator_id}});
    waitForTerminationRequest();
    log::Info("stopping");
    (*api)->Stop();
    return Status::Ok();
  }

  // More concurrent calls than connections: the extra calls wait for a connection inside the
  // adapter (and fail after its pool wait) instead of in the engine's queue. Worth a warning.
  static void WarnIfPoolBelowCap(const Poco::JSON::Object& p, std::size_t cap) {
    const std::string kind = p.optValue<std::string>("kind", "");
    const char* key = kind == "remote" ? "max_connections" : "pool_size";
    const int fallback = kind == "remote" ? 16 : 8;  // the adapters' defaults
    if (kind != "postgres" && kind != "redis" && kind != "remote") return;
    const int pool = p.optValue<int>(key, fallback);
    if (pool >= static_cast<int>(cap)) return;
    log::Warn("participant pool smaller than max_concurrent_per_participant",
              {{"name", p.optValue<std::string>("name", "")},
               {key, std::to_string(pool)},
               {"max_concurrent_per_participant", std::to_string(cap)}});
  }

  int Fail(int code, const Status& s) {
    log::Error("txcoordd failed",
               {{"code", std::string(CodeName(s.code()))}, {"error", s.message()}});
    return code;
  }

  std::map<std::string, std::string> overrides_;
  bool help_ = false;
};

}  // namespace
}  // namespace txcoord::daemon

int main(int argc, char** argv) {
  txcoord::daemon::Daemon app;
  const int rc = app.run(argc, argv);
  // Poco reports a bad command line as EXIT_CONFIG/EXIT_USAGE; ours is 2 (docs/operations.md).
  if (rc == Poco::Util::Application::EXIT_CONFIG || rc == Poco::Util::Application::EXIT_USAGE) {
    return 2;
  }
  return rc;
}
