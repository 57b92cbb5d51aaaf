#include "scan.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <vector>

#include "json_out.h"
#include "txcoord/adapters/config.h"
#include "txcoord/adapters/factory.h"

namespace txcoord::txctl {
namespace {

using Poco::JSON::Object;

struct Finding {
  std::string participant;
  participant::InDoubtBranch branch;
  std::string kind;  // orphan | stale | mismatch
  std::string detail;
  bool fixed = false;
  std::string fix_error;
};

struct ParticipantReport {
  std::string name;
  std::size_t in_doubt = 0;
  std::string error;  // could not be built or asked
};

// The coordinator id behind `ep` (txcoord_info metric), or an error.
Result<std::string> ServedCoordinatorId(const Endpoint& ep) {
  Reply r = Call(ep, "GET", "/metrics");
  if (r.status != 200) return Unavailable("coordinator at " + ep.url + ": " + ErrorText(r));
  const std::string prefix = "txcoord_info{coordinator_id=\"";
  for (const auto& [sample, value] : ParseMetrics(r.body)) {
    if (sample.rfind(prefix, 0) == 0 && sample.size() > prefix.size() + 2)
      return sample.substr(prefix.size(), sample.size() - prefix.size() - 2);
  }
  return FailedPrecondition("coordinator at " + ep.url + " does not publish txcoord_info");
}

long long AgeMs(const participant::InDoubtBranch& b) {
  if (b.prepared_at.time_since_epoch().count() == 0) return -1;
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() -
                                                               b.prepared_at)
      .count();
}

// Classifies one prepared branch; false when the coordinator could not be asked.
bool Classify(const Endpoint& ep, const std::string& name, const participant::InDoubtBranch& b,
              long long stale_ms, std::vector<Finding>& out) {
  Reply r = Call(ep, "GET", "/v1/transactions/" + b.id.gid);
  Finding f{name, b, "", "", false, ""};
  if (r.status == 404) {
    f.kind = "orphan";
    f.detail = "unknown to the coordinator's log";
  } else if (r.status != 200) {
    std::cerr << "txctl: ask about " << b.id.gid << ": " << ErrorText(r) << '\n';
    return false;
  } else if (auto v = ParseObject(r.body); v && Str(v, "phase2_complete") == "true") {
    f.kind = "mismatch";
    f.detail = "the log says " + Str(v, "state") + " and finished";
  } else if (const long long age = AgeMs(b); age >= 0 && age > stale_ms) {
    f.kind = "stale";
    f.detail = "prepared " + std::to_string(age / 1000) +
               "s ago; coordinator: " + (v ? Str(v, "detail") : std::string("?"));
  } else {
    return true;  // in progress, not stale
  }
  out.push_back(std::move(f));
  return true;
}

// Presumed abort of an orphan, if the coordinator still does not know the gid.
void Fix(const Endpoint& ep, participant::Participant& p, Finding& f) {
  Reply again = Call(ep, "GET", "/v1/transactions/" + f.branch.id.gid);
  if (again.status != 404) {
    f.fix_error = "not aborted: the coordinator now answers " + std::to_string(again.status);
    return;
  }
  Status s = p.Abort(f.branch.id);
  f.fixed = s.ok();
  if (!s.ok()) f.fix_error = s.ToString();
}

void Print(const Endpoint& ep, const std::string& cid, const std::vector<ParticipantReport>& ps,
           const std::vector<Finding>& fs) {
  if (ep.json) {
    std::cout << "{\"coordinator_id\":" << JsonString(cid) << ",\"participants\":[";
    for (std::size_t i = 0; i < ps.size(); ++i) {
      std::cout << (i ? "," : "") << "{\"name\":" << JsonString(ps[i].name)
                << ",\"in_doubt\":" << ps[i].in_doubt;
      if (!ps[i].error.empty()) std::cout << ",\"error\":" << JsonString(ps[i].error);
      std::cout << "}";
    }
    std::cout << "],\"findings\":[";
    for (std::size_t i = 0; i < fs.size(); ++i) {
      const auto& f = fs[i];
      std::cout << (i ? "," : "") << "\n{\"participant\":" << JsonString(f.participant)
                << ",\"gid\":" << JsonString(f.branch.id.gid)
                << ",\"branch\":" << JsonString(f.branch.id.branch)
                << ",\"age_ms\":" << AgeMs(f.branch) << ",\"kind\":" << JsonString(f.kind)
                << ",\"detail\":" << JsonString(f.detail)
                << ",\"fixed\":" << (f.fixed ? "true" : "false");
      if (!f.fix_error.empty()) std::cout << ",\"fix_error\":" << JsonString(f.fix_error);
      std::cout << "}";
    }
    std::cout << "]}\n";
    return;
  }
  std::cout << "coordinator " << cid << '\n';
  for (const auto& p : ps)
    std::cout << "  " << p.name << ": " << p.in_doubt << " in doubt"
              << (p.error.empty() ? "" : "  ERROR " + p.error) << '\n';
  std::printf("%-9s %-16s %-36s %-14s %s\n", "KIND", "PARTICIPANT", "GID", "BRANCH", "DETAIL");
  for (const auto& f : fs) {
    std::string d = f.detail;
    if (f.fixed) d += "; ABORTED (presumed abort)";
    if (!f.fix_error.empty()) d += "; " + f.fix_error;
    std::printf("%-9s %-16s %-36s %-14s %s\n", f.kind.c_str(), f.participant.c_str(),
                f.branch.id.gid.c_str(), f.branch.id.branch.c_str(), d.c_str());
  }
}

}  // namespace

int ParticipantsScan(const Endpoint& ep, const Args& args) {
  if (!args.Has("config")) {
    std::cerr << "txctl: participants scan needs --config txcoordd.json\n";
    return kExitUsage;
  }
  long long stale_ms = 10 * 60'000;
  if (args.Has("stale")) {
    auto d = ParseDurationMs(args.Get("stale"));
    if (!d.ok()) return std::cerr << "txctl: --stale: " << d.status().message() << '\n', kExitUsage;
    stale_ms = *d;
  }
  auto cfg = adapters::LoadJsonConfig(args.Get("config"));
  if (!cfg.ok()) return std::cerr << "txctl: " << cfg.status().ToString() << '\n', kExitUsage;
  const std::string cid = Str(*cfg, "coordinator_id");
  auto arr = (*cfg)->getArray("participants");
  if (cid.empty() || !arr) {
    std::cerr << "txctl: the config needs \"coordinator_id\" and \"participants\"\n";
    return kExitUsage;
  }
  auto served = ServedCoordinatorId(ep);
  if (!served.ok()) return std::cerr << "txctl: " << served.status().ToString() << '\n', kExitUsage;
  if (*served != cid) {
    std::cerr << "txctl: the config is for coordinator '" << cid << "' but " << ep.url
              << " serves '" << *served << "'\n";
    return kExitUsage;
  }
  std::vector<ParticipantReport> reports;
  std::vector<Finding> findings;
  bool problems = false;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto obj = arr->getObject(static_cast<unsigned>(i));
    ParticipantReport rep{obj ? Str(obj, "name") : "", 0, ""};
    if (!obj) {
      std::cerr << "txctl: participants[" << i << "] is not an object\n";
      return kExitUsage;
    }
    auto p = adapters::CreateParticipant(*obj);
    Result<std::vector<participant::InDoubtBranch>> in_doubt =
        p.ok() ? (*p)->InDoubt(cid) : Result<std::vector<participant::InDoubtBranch>>(p.status());
    if (!in_doubt.ok()) {
      rep.error = in_doubt.status().ToString();
      problems = true;
      reports.push_back(rep);
      continue;
    }
    rep.in_doubt = in_doubt->size();
    for (const auto& b : *in_doubt) {
      const std::size_t before = findings.size();
      if (!Classify(ep, rep.name, b, stale_ms, findings)) return kExitUsage;
      if (findings.size() > before && findings.back().kind == "orphan" && args.Has("fix"))
        Fix(ep, **p, findings.back());
    }
    reports.push_back(rep);
  }
  Print(ep, cid, reports, findings);
  for (const auto& f : findings) problems = problems || !f.fixed;
  return problems ? kExitProblems : kExitOk;
}

}  // namespace txcoord::txctl
