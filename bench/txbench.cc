// txbench: closed-loop clients over HTTP against the bank setup (a transfer = debit a
// PostgreSQL account, credit a Redis wallet), at 1, 8 and 64 clients, in one run:
//   baseline    the same two writes done directly (UPDATE+COMMIT, INCRBY), no coordinator
//   2pc         txcoordd with bank-pg and wallet-redis in-process
//   2pc-remote  txcoordd with bank-pg in-process, the wallet in a txparticipant process
//   saga        txcoordd, the transfer as a two-step saga (in-process participants)
//   noop        txcoordd with two participants of kind "noop" (WAL on, no store)
//   http        GET /healthz on txcoordd: its HTTP server alone (the floor under every mode)
// Starts its own servers (scripts/services with TXC_SERVICES_DIR=/tmp/txbench-services-<pid>) and
// daemons, stops them at the end. Options: --seconds S (per mode and client count, default 3);
// --modes a,b (default all, baseline always runs first) and --clients 1,8 (default 1,8,64) to
// profile one figure; the last line needs 64 clients and every mode. --coordinator-json adds raw
// JSON members to txcoordd's config (e.g. '"max_concurrent_per_participant":16'), for experiments;
// --txcoordd PATH runs another build's daemon (A/B runs alternated in one session).
// Each mode's line also splits the machine's CPU per transaction by process (cpu_ms, txcoordd_ms,
// postgres_ms, ...; docs/performance.md): a CPU-bound mode's throughput is the cores over cpu_ms.
// Last line:
//   txbench: clients=64 baseline_tps=B 2pc_tps=X 2pc_ratio=R1 saga_tps=Y saga_ratio=R2
//            noop_tps=Z p99_2pc_ms=L
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "txbench_util.h"

namespace txcoord::bench {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

struct Env {
  std::string services, pg_dsn, redis_host;
  int redis_port = 0;
  std::uint16_t coord_port = 0;
  pid_t coord_pid = -1, part_pid = -1, pg_pid = -1, redis_pid = -1;
  bool idempotency_keys = false;  // every coordinator request carries a unique Idempotency-Key
};

// Per participant from txcoordd's /metrics: calls run, seconds queued, seconds running.
struct CallTimes {
  double calls = 0, queued = 0, running = 0;
};
using CallTimeMap = std::map<std::string, CallTimes>;

CallTimeMap ReadCallTimes(std::uint16_t port) {
  CallTimeMap out;
  HttpClient http(port);
  std::string text;
  if (http.Request("GET", "/metrics", "", text) != 200) return out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto p = line.find("participant=\"");
    if (p == std::string::npos) continue;
    const auto q = line.find('"', p + 13);
    const std::string name = line.substr(p + 13, q - p - 13);
    const double v = std::atof(line.c_str() + line.rfind(' ') + 1);
    if (line.rfind("txcoord_participant_calls_run_total", 0) == 0) out[name].calls = v;
    if (line.rfind("txcoord_participant_call_seconds_total", 0) == 0) {
      (line.find("phase=\"queued\"") != std::string::npos ? out[name].queued : out[name].running) =
          v;
    }
  }
  return out;
}

// CPU seconds used so far, per process and by the whole machine.
struct CpuSnapshot {
  MachineCpu machine;
  double txcoordd = 0, txparticipant = 0, postgres = 0, redis = 0, txbench = 0;
  long long txcoordd_switches = 0;
};

CpuSnapshot TakeCpuSnapshot(const Env& env) {
  CpuSnapshot s;
  s.machine = ReadMachineCpu();
  s.txcoordd = CpuSeconds(env.coord_pid);
  s.txcoordd_switches = ContextSwitches(env.coord_pid);
  s.txparticipant = CpuSeconds(env.part_pid);
  s.postgres = TreeCpuSeconds(env.pg_pid);
  s.redis = CpuSeconds(env.redis_pid);
  s.txbench = SelfCpuSeconds();
  return s;
}

// Milliseconds of CPU per transaction between two snapshots: the machine's (every process and
// the kernel's own threads) and each process's; `other` is the machine's minus the processes'.
// The figures a CPU-bound mode's throughput divides the cores by.
struct CpuUse {
  double machine = 0, txcoordd = 0, txparticipant = 0, postgres = 0, redis = 0, txbench = 0;
  double other = 0, idle_pct = 0, txcoordd_cs = 0;
};

CpuUse CpuPerTxn(const CpuSnapshot& a, const CpuSnapshot& b, double txns) {
  CpuUse u;
  if (txns <= 0) return u;
  const auto ms = [&](double before, double after) { return (after - before) * 1000.0 / txns; };
  u.machine = ms(a.machine.busy, b.machine.busy);
  u.txcoordd = ms(a.txcoordd, b.txcoordd);
  u.txparticipant = ms(a.txparticipant, b.txparticipant);
  u.postgres = ms(a.postgres, b.postgres);
  u.redis = ms(a.redis, b.redis);
  u.txbench = ms(a.txbench, b.txbench);
  u.other = u.machine - (u.txcoordd + u.txparticipant + u.postgres + u.redis + u.txbench);
  const double total = b.machine.total - a.machine.total;
  u.idle_pct = total > 0 ? 100.0 * (b.machine.idle - a.machine.idle) / total : 0;
  u.txcoordd_cs = static_cast<double>(b.txcoordd_switches - a.txcoordd_switches) / txns;
  return u;
}

struct ModeResult {
  double tps = 0;
  CpuUse cpu;              // cpu.txcoordd is also the coordinator's CPU seconds per 1,000
  std::string call_times;  // "name: queued/running ms per call" of the participants used
  LatencyStats lat;
  long long errors = 0;
  long long rss = 0;
};

std::string Run(const std::string& cmd) {
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, f)) out += buf;
    if (::pclose(f) != 0) return "";
  }
  return out;
}

std::string Quote(const std::string& s) {
  return "\"" + s + "\"";
}

std::string Actions(bool pg) {
  if (pg) {
    return "\"actions\":{\"debit\":{\"sql\":[\"UPDATE bench_accounts SET balance = balance - "
           ":amount WHERE id = :account\"],\"expect_rows\":[1]},\"credit\":{\"sql\":[\"UPDATE "
           "bench_accounts SET balance = balance + :amount WHERE id = :account\"],"
           "\"expect_rows\":[1]}}";
  }
  return "\"actions\":{\"debit\":{\"writes\":[[\"DECRBY\",\"wallet:{${account}}\","
         "\"${amount}\"]]},\"credit\":{\"writes\":[[\"INCRBY\",\"wallet:{${account}}\","
         "\"${amount}\"]]}}";
}

std::string Body(const std::string& mode, const std::string& pg, const std::string& redis,
                 int client) {
  const std::string a = "{\"account\":\"b" + std::to_string(client) + "\",\"amount\":1}";
  const std::string w = "{\"account\":\"w" + std::to_string(client) + "\",\"amount\":1}";
  const bool saga = mode == "saga";
  const std::string comp1 =
      saga ? ",\"compensation\":{\"action\":\"credit\",\"payload\":" + a + "}" : "";
  return "{\"mode\":" + Quote(saga ? "saga" : "2pc") +
         ",\"branches\":[{\"participant\":" + Quote(pg) + ",\"action\":\"debit\",\"payload\":" + a +
         comp1 + "},{\"participant\":" + Quote(redis) + ",\"action\":\"credit\",\"payload\":" + w +
         "}]}";
}

// One closed-loop client of the direct baseline: UPDATE+COMMIT, then INCRBY.
bool BaselineClient(const Env& env, int client, SteadyClock::time_point until,
                    std::vector<double>& lat, long long& errors) {
  PGconn* pg = PQconnectdb(env.pg_dsn.c_str());
  redisContext* rd = redisConnect(env.redis_host.c_str(), env.redis_port);
  const bool ok = PQstatus(pg) == CONNECTION_OK && rd && !rd->err;
  const std::string sql = "BEGIN; UPDATE bench_accounts SET balance = balance - 1 WHERE id = 'b" +
                          std::to_string(client) + "'; COMMIT";
  const std::string key = "wallet:{w" + std::to_string(client) + "}";
  while (ok && SteadyClock::now() < until) {
    const auto t0 = SteadyClock::now();
    PGresult* r = PQexec(pg, sql.c_str());
    const bool pg_ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    auto* reply = static_cast<redisReply*>(redisCommand(rd, "INCRBY %s 1", key.c_str()));
    const bool rd_ok = reply && reply->type == REDIS_REPLY_INTEGER;
    if (reply) freeReplyObject(reply);
    if (pg_ok && rd_ok) {
      lat.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
    } else {
      ++errors;
    }
  }
  PQfinish(pg);
  if (rd) redisFree(rd);
  return ok;
}

ModeResult RunMode(const Env& env, const std::string& mode, int clients, double seconds) {
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(clients));
  std::vector<long long> errors(static_cast<std::size_t>(clients), 0);
  const CpuSnapshot snap0 = TakeCpuSnapshot(env);
  const CallTimeMap times0 = mode == "baseline" ? CallTimeMap{} : ReadCallTimes(env.coord_port);
  const auto start = SteadyClock::now();
  const auto until = start + std::chrono::duration_cast<SteadyClock::duration>(
                                 std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto& l = lat[static_cast<std::size_t>(c)];
      auto& e = errors[static_cast<std::size_t>(c)];
      if (mode == "baseline") {
        if (!BaselineClient(env, c, until, l, e)) ++e;
        return;
      }
      if (mode == "http") {  // the HTTP server's floor: no body, no engine
        HttpClient http(env.coord_port);
        std::string out;
        while (SteadyClock::now() < until) {
          const auto t0 = SteadyClock::now();
          if (http.Request("GET", "/healthz", "", out) == 200) {
            l.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
          } else {
            ++e;
          }
        }
        return;
      }
      const std::string pg = mode == "noop" ? "noop-a" : "bank-pg";
      const std::string rd = mode == "noop"         ? "noop-b"
                             : mode == "2pc-remote" ? "wallet-remote"
                                                    : "wallet-redis";
      const std::string body = Body(mode, pg, rd, c);
      HttpClient http(env.coord_port);
      std::string out, key;
      const std::string key_prefix =
          mode + "-" + std::to_string(clients) + "-" + std::to_string(c) + "-";
      for (long long n = 0; SteadyClock::now() < until; ++n) {
        if (env.idempotency_keys) key = key_prefix + std::to_string(n);
        const auto t0 = SteadyClock::now();
        const int status = http.Request("POST", "/v1/transactions", body, out, key);
        if (status == 200 && out.find("\"state\":\"committed\"") != std::string::npos) {
          l.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
        } else {
          ++e;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const CpuSnapshot snap1 = TakeCpuSnapshot(env);
  const double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
  std::vector<double> all;
  ModeResult r;
  for (std::size_t c = 0; c < lat.size(); ++c) {
    all.insert(all.end(), lat[c].begin(), lat[c].end());
    r.errors += errors[c];
  }
  r.tps = static_cast<double>(all.size()) / elapsed;
  r.cpu = CpuPerTxn(snap0, snap1, static_cast<double>(all.size()));
  r.rss = RssBytes(env.coord_pid);
  if (mode != "baseline") {
    std::ostringstream os;
    os << std::fixed << std::setprecision(2);
    for (const auto& [name, t] : ReadCallTimes(env.coord_port)) {
      const auto it = times0.find(name);
      const CallTimes before = it == times0.end() ? CallTimes{} : it->second;
      const double n = t.calls - before.calls;
      if (n <= 0) continue;
      os << " " << name << "_queued_ms=" << (t.queued - before.queued) * 1000 / n << " " << name
         << "_running_ms=" << (t.running - before.running) * 1000 / n;
    }
    r.call_times = os.str();
  }
  r.lat = Summarize(all);
  return r;
}

bool ParseEnv(const std::string& text, Env& env) {
  std::istringstream in(text);
  std::string line;
  std::string redis_url;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = line.substr(0, eq);
    std::string v = line.substr(eq + 1);
    if (!v.empty() && (v.front() == '\'' || v.front() == '"')) v = v.substr(1, v.size() - 2);
    if (k == "TXC_PG_DSN") env.pg_dsn = v;
    if (k == "TXC_REDIS_URL") redis_url = v;
  }
  // redis://host:port/db
  const auto host_at = redis_url.find("://");
  const auto colon = redis_url.rfind(':');
  if (env.pg_dsn.empty() || host_at == std::string::npos || colon <= host_at) return false;
  env.redis_host = redis_url.substr(host_at + 3, colon - host_at - 3);
  env.redis_port = std::atoi(redis_url.c_str() + colon + 1);
  return env.redis_port > 0;
}

bool Seed(const Env& env) {
  PGconn* pg = PQconnectdb(env.pg_dsn.c_str());
  std::string sql =
      "DROP TABLE IF EXISTS bench_accounts; CREATE TABLE bench_accounts (id text PRIMARY KEY, "
      "balance bigint NOT NULL); INSERT INTO bench_accounts SELECT 'b' || i, 1000000000000 FROM "
      "generate_series(0, 63) i";
  PGresult* r = PQexec(pg, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) std::cerr << "txbench: schema: " << PQerrorMessage(pg);
  PQclear(r);
  PQfinish(pg);
  return ok;
}

void WriteConfigs(const std::string& dir, const Env& env, std::uint16_t part_port,
                  const std::string& extra) {
  std::ofstream c(dir + "/txcoordd.json", std::ios::trunc);
  // Store pools of 16 (below): let 16 calls per participant run (default 8, for pools of 8).
  // `extra` (--coordinator-json) comes last, so it overrides these.
  c << "{\"coordinator_id\":\"bench-1\",\"listen\":\"127.0.0.1:" << env.coord_port
    << "\",\"wal_dir\":" << Quote(dir + "/wal")
    << ",\"http_threads\":80,\"max_concurrent_per_participant\":16,\"worker_threads\":48,"
    << (extra.empty() ? "" : extra + ",") << "\"participants\":["
    << "{\"name\":\"bank-pg\",\"kind\":\"postgres\",\"dsn\":" << Quote(env.pg_dsn)
    << ",\"pool_size\":16," << Actions(true) << "},"
    << "{\"name\":\"wallet-redis\",\"kind\":\"redis\",\"url\":\"redis://" << env.redis_host << ":"
    << env.redis_port << "/0\",\"pool_size\":16," << Actions(false) << "},"
    << "{\"name\":\"wallet-remote\",\"kind\":\"remote\",\"url\":\"http://127.0.0.1:" << part_port
    << "\",\"token\":\"bench\",\"call_timeout_ms\":5000},"
    << "{\"name\":\"noop-a\",\"kind\":\"noop\"},{\"name\":\"noop-b\",\"kind\":\"noop\"}]}";
  std::ofstream p(dir + "/txparticipant.json", std::ios::trunc);
  p << "{\"listen\":\"127.0.0.1:" << part_port
    << "\",\"token\":\"bench\",\"http_threads\":32,\"participants\":["
    << "{\"name\":\"wallet-remote\",\"kind\":\"redis\",\"url\":\"redis://" << env.redis_host << ":"
    << env.redis_port << "/0\",\"pool_size\":16," << Actions(false) << "}]}";
}

void Print(const std::string& mode, int clients, const ModeResult& r, double baseline_tps) {
  std::cout << std::fixed << std::setprecision(2) << std::left << std::setw(11) << mode
            << " clients=" << std::setw(3) << clients << " tps=" << std::setw(9) << r.tps
            << " p50_ms=" << r.lat.p50_ms << " p99_ms=" << r.lat.p99_ms
            << " max_ms=" << r.lat.max_ms << " errors=" << r.errors;
  const CpuUse& u = r.cpu;
  std::cout << std::setprecision(3) << " cpu_ms=" << u.machine << " txcoordd_ms=" << u.txcoordd
            << " txparticipant_ms=" << u.txparticipant << " postgres_ms=" << u.postgres
            << " redis_ms=" << u.redis << " txbench_ms=" << u.txbench << " other_ms=" << u.other
            << std::setprecision(0) << " idle_pct=" << u.idle_pct << std::setprecision(1)
            << " txcoordd_cs=" << u.txcoordd_cs;
  if (mode != "baseline") {
    std::cout << " cpu_s_per_1k=" << std::setprecision(3) << u.txcoordd
              << " rss_mb=" << std::setprecision(1) << static_cast<double>(r.rss) / 1048576.0
              << " ratio=" << std::setprecision(2) << (baseline_tps > 0 ? r.tps / baseline_tps : 0)
              << r.call_times;
  }
  std::cout << std::endl;
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

int Main(int argc, char** argv) {
  double seconds = 3;
  const std::vector<std::string> all_modes = {"baseline", "2pc",  "2pc-remote",
                                              "saga",     "noop", "http"};
  std::vector<std::string> modes = all_modes;
  std::vector<int> client_counts = {1, 8, 64};
  std::string coordinator_extra;  // raw JSON members added to txcoordd.json (experiments)
  bool idempotency_keys = false;
  std::string txcoordd = TXC_TXCOORDD_PATH;  // --txcoordd: another build's, for A/B runs
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    char* end = nullptr;
    bool ok = false;
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::strtod(argv[++i], &end);
      ok = *end == '\0' && seconds >= 0.5 && seconds <= 600;
    } else if (a == "--modes" && i + 1 < argc) {
      modes = {"baseline"};
      ok = true;
      for (const auto& m : SplitComma(argv[++i])) {
        ok = ok && std::find(all_modes.begin(), all_modes.end(), m) != all_modes.end();
        if (m != "baseline") modes.push_back(m);
      }
    } else if (a == "--idempotency-keys") {
      idempotency_keys = true;
      ok = true;
    } else if (a == "--txcoordd" && i + 1 < argc) {
      txcoordd = argv[++i];
      if (::access(txcoordd.c_str(), X_OK) != 0) {
        std::cerr << "txbench: --txcoordd " << txcoordd << ": not an executable file\n";
        return 2;
      }
      ok = true;
    } else if (a == "--coordinator-json" && i + 1 < argc) {
      coordinator_extra = argv[++i];
      ok = true;
    } else if (a == "--clients" && i + 1 < argc) {
      client_counts.clear();
      ok = true;
      for (const auto& c : SplitComma(argv[++i])) {
        const long n = std::strtol(c.c_str(), &end, 10);
        ok = ok && *end == '\0' && n >= 1 && n <= 1024;
        client_counts.push_back(static_cast<int>(n));
      }
      ok = ok && !client_counts.empty();
    }
    if (ok) continue;
    std::cerr << "txbench: bad argument \"" << a
              << "\"; usage: txbench [--seconds 0.5..600] [--modes 2pc,saga,...] "
                 "[--clients 1,8,64] [--idempotency-keys] "
                 "[--coordinator-json '\"worker_threads\":32,...'] [--txcoordd PATH]\n";
    return 2;
  }
  const char* base = std::getenv("TXC_BENCH_DIR");
  const std::string dir =
      std::string(base ? base : "/tmp") + "/txbench-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  Env env;
  env.services = TXC_SERVICES_SCRIPT;
  env.idempotency_keys = idempotency_keys;
  // Under /tmp: PostgreSQL runs as the postgres user, which may not reach TXC_BENCH_DIR.
  const std::string services_dir = "/tmp/txbench-services-" + std::to_string(::getpid());
  ::setenv("TXC_SERVICES_DIR", services_dir.c_str(), 1);
  const std::string svc = Quote(env.services);
  struct Stop {
    std::string cmd;
    ~Stop() { (void)std::system(cmd.c_str()); }
  } stop{svc + " stop --purge >/dev/null 2>&1"};
  if (Run(svc + " start >" + Quote(dir + "/services.log") + " 2>&1 && echo ok").empty() ||
      !ParseEnv(Run(svc + " env"), env) || !Seed(env)) {
    std::cerr << "txbench: cannot start the servers (see " << dir << "/services.log)\n";
    return 1;
  }
  env.coord_port = FreePort();
  const std::uint16_t part_port = FreePort();
  WriteConfigs(dir, env, part_port, coordinator_extra);
  Child participant, coordinator;
  participant.Start({TXC_TXPARTICIPANT_PATH, "--config=" + dir + "/txparticipant.json"},
                    dir + "/txparticipant.log");
  if (!WaitHttp(part_port, "/healthz", 30s)) {
    std::cerr << "txbench: txparticipant did not start (see " << dir << ")\n";
    return 1;
  }
  coordinator.Start({txcoordd, "--config=" + dir + "/txcoordd.json"}, dir + "/txcoordd.log");
  if (!WaitHttp(env.coord_port, "/readyz", 30s)) {
    std::cerr << "txbench: txcoordd did not start (see " << dir << ")\n";
    return 1;
  }
  env.coord_pid = coordinator.pid();
  env.part_pid = participant.pid();
  env.pg_pid = PidFromFile(services_dir + "/pg/data/postmaster.pid");
  env.redis_pid = PidFromFile(services_dir + "/redis/redis.pid");
  std::cout << "txbench: " << seconds << " s per mode and client count; 2 cores shared\n";
  std::map<std::pair<std::string, int>, ModeResult> res;
  std::cout << "txbench: coordinator pid " << env.coord_pid << "\n" << std::flush;
  for (int clients : client_counts) {
    for (const std::string& mode : modes) {
      res[{mode, clients}] = RunMode(env, mode, clients, seconds);
      Print(mode, clients, res[{mode, clients}], res[{"baseline", clients}].tps);
    }
  }
  const auto tps = [&](const std::string& m) { return res[{m, 64}].tps; };
  const double b = tps("baseline");
  std::cout << std::fixed << std::setprecision(0) << "txbench: clients=64 baseline_tps=" << b
            << " 2pc_tps=" << tps("2pc") << std::setprecision(2)
            << " 2pc_ratio=" << (b > 0 ? tps("2pc") / b : 0) << std::setprecision(0)
            << " saga_tps=" << tps("saga") << std::setprecision(2)
            << " saga_ratio=" << (b > 0 ? tps("saga") / b : 0) << std::setprecision(0)
            << " noop_tps=" << tps("noop") << std::setprecision(2)
            << " p99_2pc_ms=" << res[{"2pc", 64}].lat.p99_ms << std::endl;
  coordinator.Kill();
  participant.Kill();
  std::filesystem::remove_all(dir + "/wal");
  return 0;
}

}  // namespace
}  // namespace txcoord::bench

int main(int argc, char** argv) {
  return txcoord::bench::Main(argc, argv);
}
