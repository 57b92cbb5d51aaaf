#include "online.h"

#include <Poco/DateTimeParser.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <Poco/Timestamp.h>
#include <Poco/URI.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "http_call.h"
#include "json_out.h"

namespace txcoord::txctl {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

constexpr int kResolveTimeoutS = 120;

// Exit code for a failed call: 1 for "not found" (the answer is a finding), else 2.
int Fail(const std::string& what, const Reply& r) {
  std::cerr << "txctl: " << what << ": " << ErrorText(r) << '\n';
  return r.status == 404 ? kExitProblems : kExitUsage;
}

// Milliseconds since the view's "created" time; -1 when absent/unparseable.
long long AgeMs(const Object::Ptr& txn) {
  int tz = 0;
  Poco::DateTime dt;
  if (!Poco::DateTimeParser::tryParse(Str(txn, "created"), dt, tz)) return -1;
  return (Poco::Timestamp() - dt.timestamp()) / 1000;
}

std::string Age(long long ms) {
  if (ms < 0) return "?";
  char buf[32];
  if (ms < 60'000)
    std::snprintf(buf, sizeof buf, "%llds", ms / 1000);
  else if (ms < 3'600'000)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", ms / 60'000, ms / 1000 % 60);
  else
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", ms / 3'600'000, ms / 60'000 % 60);
  return buf;
}

bool InFlight(const Object::Ptr& txn) {
  return !(txn->has("phase2_complete") && txn->getValue<bool>("phase2_complete"));
}

std::string Stringify(const Poco::Dynamic::Var& v) {
  std::ostringstream os;
  if (v.type() == typeid(Object::Ptr))
    v.extract<Object::Ptr>()->stringify(os);
  else if (v.type() == typeid(Array::Ptr))
    v.extract<Array::Ptr>()->stringify(os);
  else
    os << v.toString();
  return os.str();
}

Result<Array::Ptr> FetchList(const Endpoint& ep, const std::string& state, int limit) {
  std::string path = "/v1/transactions?limit=" + std::to_string(limit);
  if (!state.empty()) path += "&state=" + state;
  Reply r = Call(ep, "GET", path);
  if (r.status != 200) return Unavailable("list transactions: " + ErrorText(r));
  auto obj = ParseObject(r.body);
  if (!obj || !obj->getArray("transactions")) return Internal("list: unexpected body " + r.body);
  return obj->getArray("transactions");
}

void PrintBranches(const Object::Ptr& txn) {
  auto branches = txn->getArray("branches");
  if (!branches) return;
  std::printf("  %-16s %-12s %-14s %-10s %8s  %s\n", "PARTICIPANT", "ACTION", "BRANCH", "STATE",
              "ATTEMPTS", "LAST ERROR");
  for (std::size_t i = 0; i < branches->size(); ++i) {
    auto b = branches->getObject(static_cast<unsigned>(i));
    std::printf("  %-16s %-12s %-14s %-10s %8s  %s\n", Str(b, "participant").c_str(),
                Str(b, "action").c_str(), Str(b, "branch").c_str(), Str(b, "state").c_str(),
                Str(b, "attempts").c_str(), Str(b, "error").c_str());
  }
}

void PrintTxn(const Object::Ptr& txn) {
  std::cout << "gid        " << Str(txn, "gid") << "\nmode       " << Str(txn, "mode")
            << (Str(txn, "open") == "true" ? " (open)" : "") << "\nstate      " << Str(txn, "state")
            << "\ndetail     " << Str(txn, "detail") << "\nphase2     "
            << (InFlight(txn) ? "in progress" : "complete") << "\ncreated    "
            << Str(txn, "created") << " (" << Age(AgeMs(txn)) << " ago)\nupdated    "
            << Str(txn, "updated") << '\n';
  if (!Str(txn, "reason").empty()) std::cout << "reason     " << Str(txn, "reason") << '\n';
  if (Str(txn, "heuristic") == "true") {
    std::cout << "HEURISTIC  settled by " << Str(txn, "operator")
              << (Str(txn, "heuristic_mixed") == "true"
                      ? " against an earlier decision (mixed outcome possible)"
                      : "")
              << '\n';
  } else if (!Str(txn, "operator").empty()) {
    std::cout << "operator   " << Str(txn, "operator") << '\n';
  }
  std::cout << "branches\n";
  PrintBranches(txn);
  auto timeline = txn->getArray("timeline");
  if (!timeline || timeline->size() == 0) return;
  std::cout << "timeline (WAL records; full history: txctl wal dump DIR --gid GID)\n";
  for (std::size_t i = 0; i < timeline->size(); ++i) {
    auto e = timeline->getObject(static_cast<unsigned>(i));
    std::printf("  %-24s %-9s %s\n", Str(e, "at").c_str(), Str(e, "record").c_str(),
                Str(e, "detail").c_str());
  }
}

}  // namespace

int Status(const Endpoint& ep) {
  Reply health = Call(ep, "GET", "/healthz");
  if (health.status != 200) return Fail("coordinator at " + ep.url, health);
  Reply ready = Call(ep, "GET", "/readyz");
  Reply metrics = Call(ep, "GET", "/metrics");
  auto m = ParseMetrics(metrics.body);
  auto list = FetchList(ep, "", 1000);
  if (!list.ok()) {
    std::cerr << "txctl: " << list.status().ToString() << '\n';
    return kExitUsage;
  }
  std::map<std::string, int> by_state;
  Object::Ptr oldest;
  long long oldest_age = -1;
  for (std::size_t i = 0; i < (*list)->size(); ++i) {
    auto t = (*list)->getObject(static_cast<unsigned>(i));
    ++by_state[Str(t, "detail")];
    if (InFlight(t) && AgeMs(t) > oldest_age) {
      oldest_age = AgeMs(t);
      oldest = t;
    }
  }
  const bool is_ready = ready.status == 200;
  auto metric = [&](const std::string& k) { return static_cast<long long>(m[k]); };
  if (ep.json) {
    std::cout << "{\"healthy\":true,\"ready\":" << (is_ready ? "true" : "false");
    if (!is_ready) std::cout << ",\"not_ready_reason\":" << JsonString(ErrorText(ready));
    std::cout << ",\"wal\":{\"segments\":" << metric("txcoord_wal_segments")
              << ",\"bytes\":" << metric("txcoord_wal_bytes")
              << ",\"last_lsn\":" << metric("txcoord_wal_last_lsn")
              << ",\"checkpoint_lsn\":" << metric("txcoord_wal_checkpoint_lsn")
              << "},\"in_flight\":" << metric("txcoord_transactions_in_flight")
              << ",\"by_state\":{";
    bool first = true;
    for (const auto& [s, n] : by_state) {
      std::cout << (first ? "" : ",") << JsonString(s) << ":" << n;
      first = false;
    }
    std::cout << "},\"oldest_in_flight\":";
    if (oldest)
      std::cout << "{\"gid\":" << JsonString(Str(oldest, "gid"))
                << ",\"detail\":" << JsonString(Str(oldest, "detail"))
                << ",\"age_ms\":" << oldest_age << "}";
    else
      std::cout << "null";
    std::cout << "}\n";
  } else {
    std::cout << "coordinator  " << ep.url << "  healthy, "
              << (is_ready ? "ready" : "NOT READY (" + ErrorText(ready) + ")") << '\n'
              << "wal          " << metric("txcoord_wal_segments") << " segments, "
              << metric("txcoord_wal_bytes") << " bytes, last lsn "
              << metric("txcoord_wal_last_lsn") << ", last checkpoint lsn "
              << metric("txcoord_wal_checkpoint_lsn") << '\n'
              << "in flight    " << metric("txcoord_transactions_in_flight") << '\n';
    for (const auto& [s, n] : by_state) std::printf("  %-14s %d\n", s.c_str(), n);
    if (oldest)
      std::cout << "oldest       " << Str(oldest, "gid") << " (" << Str(oldest, "detail") << ", "
                << Age(oldest_age) << ")\n";
  }
  return is_ready ? kExitOk : kExitProblems;
}

int List(const Endpoint& ep, const Args& args) {
  long long older_ms = -1;
  if (args.Has("older-than")) {
    auto d = ParseDurationMs(args.Get("older-than"));
    if (!d.ok()) {
      std::cerr << "txctl: --older-than: " << d.status().message() << '\n';
      return kExitUsage;
    }
    older_ms = *d;
  }
  const std::string participant = args.Get("participant");
  auto list = FetchList(ep, args.Get("state"), 1000);
  if (!list.ok()) {
    std::cerr << "txctl: " << list.status().ToString() << '\n';
    return kExitUsage;
  }
  Array out;
  for (std::size_t i = 0; i < (*list)->size(); ++i) {
    auto t = (*list)->getObject(static_cast<unsigned>(i));
    if (older_ms >= 0 && AgeMs(t) < older_ms) continue;
    if (!participant.empty()) {
      bool uses = false;
      auto bs = t->getArray("branches");
      for (std::size_t j = 0; bs && j < bs->size(); ++j)
        uses = uses || Str(bs->getObject(static_cast<unsigned>(j)), "participant") == participant;
      if (!uses) continue;
    }
    out.add(t);
  }
  if (ep.json) {
    std::cout << "{\"transactions\":" << Stringify(Poco::Dynamic::Var(Array::Ptr(new Array(out))))
              << "}\n";
    return kExitOk;
  }
  std::printf("%-40s %-11s %-11s %-8s %-8s %s\n", "GID", "STATE", "DETAIL", "AGE", "BRANCHES",
              "LAST ERROR");
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto t = out.getObject(static_cast<unsigned>(i));
    auto bs = t->getArray("branches");
    std::string err;
    for (std::size_t j = 0; bs && j < bs->size(); ++j)
      if (auto e = Str(bs->getObject(static_cast<unsigned>(j)), "error"); !e.empty()) err = e;
    std::printf("%-40s %-11s %-11s %-8s %-8zu %s\n", Str(t, "gid").c_str(), Str(t, "state").c_str(),
                Str(t, "detail").c_str(), Age(AgeMs(t)).c_str(), bs ? bs->size() : 0, err.c_str());
  }
  return kExitOk;
}

int Show(const Endpoint& ep, const std::string& gid) {
  Reply r = Call(ep, "GET", "/v1/transactions/" + gid);
  if (r.status != 200) return Fail("show " + gid, r);
  auto txn = ParseObject(r.body);
  if (!txn) return Fail("show " + gid + ": unexpected body", r);
  if (ep.json)
    std::cout << r.body << '\n';
  else
    PrintTxn(txn);
  return kExitOk;
}

int Resolve(const Endpoint& ep, const std::string& gid, bool commit, bool force,
            const std::string& reason, const std::string& operator_id) {
  const std::string body = std::string("{\"outcome\":") + (commit ? "\"commit\"" : "\"abort\"") +
                           ",\"force\":" + (force ? "true" : "false") +
                           ",\"reason\":" + JsonString(reason) +
                           ",\"operator\":" + JsonString(operator_id) + "}";
  // A forced resolve waits for phase-2 calls in flight (up to 30 s) and makes one call per
  // unacknowledged branch: allow it more than the usual 15 s.
  Reply r = Call(ep, "POST", "/v1/transactions/" + gid + "/resolve", body, kResolveTimeoutS);
  if (r.status == 409) {
    // Refused: the decision would break atomicity, or there is nothing to decide. A finding
    // (exit 1), with the reason; --json prints the API error as is.
    if (ep.json) std::cout << r.body << '\n';
    std::cerr << "txctl: resolve " << gid << " refused: " << ErrorText(r) << '\n';
    return kExitProblems;
  }
  if (r.status != 200) return Fail("resolve " + gid, r);
  auto txn = ParseObject(r.body);
  if (!txn) return Fail("resolve " + gid + ": unexpected body", r);
  if (ep.json) {
    std::cout << r.body << '\n';
  } else {
    std::cout << (force ? "heuristic " : "") << (commit ? "commit" : "abort") << " recorded for "
              << gid << '\n';
    PrintTxn(txn);
  }
  return kExitOk;
}

int Retry(const Endpoint& ep, const std::string& gid) {
  Reply r = Call(ep, "POST", "/v1/transactions/" + gid + "/retry");
  if (r.status != 200) return Fail("retry " + gid, r);
  if (ep.json) {
    std::cout << r.body << '\n';
  } else {
    std::cout << "phase 2 resent now, backoff reset\n";
    if (auto txn = ParseObject(r.body)) PrintTxn(txn);
  }
  return kExitOk;
}

}  // namespace txcoord::txctl
