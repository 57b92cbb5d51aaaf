#include "records.h"

#include <cstdio>

namespace txcoord::coordinator::internal {
namespace {

class Fnv {
 public:
  void Add(std::string_view s) {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 1099511628211ull;
    }
    h_ ^= 0xff;  // field separator that no byte of a field can fake
    h_ *= 1099511628211ull;
  }
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  std::uint64_t h_ = 14695981039346656037ull;
};

}  // namespace

std::int64_t ToUnixMs(Clock::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

Clock::WallTime FromUnixMs(std::int64_t ms) {
  return Clock::WallTime(
      std::chrono::duration_cast<Clock::WallTime::duration>(std::chrono::milliseconds(ms)));
}

namespace {

std::string DecisionDetail(const v1::Decision& d) {
  std::string out = d.outcome() == v1::Decision::COMMIT ? "commit" : "abort";
  if (d.heuristic() || !d.operator_id().empty()) {
    out += " (";
    if (d.heuristic()) out += d.heuristic_mixed() ? "heuristic, mixed, " : "heuristic, ";
    out += "by " + (d.operator_id().empty() ? std::string("unknown") : d.operator_id());
    out += ": " + d.reason() + ")";
  } else if (!d.reason().empty()) {
    out += ": " + d.reason();
  }
  return out;
}

std::string SagaStepDetail(const v1::SagaStep& s) {
  static const char* kEvents[] = {"?", "started", "done", "refused", "failed"};
  const int ev = s.event() >= 0 && s.event() <= 4 ? s.event() : 0;
  std::string out = "step " + std::to_string(s.step()) +
                    (s.phase() == v1::SagaStep::COMPENSATE ? " compensation " : " forward ") +
                    kEvents[ev];
  if (!s.error().empty() && s.event() != v1::SagaStep::STARTED) out += ": " + s.error();
  return out;
}

}  // namespace

v1::TimelineEntry TimelineOf(const v1::Record& rec, std::string_view end_state) {
  v1::TimelineEntry e;
  switch (rec.kind_case()) {
    case v1::Record::kBegin: {
      const v1::Begin& b = rec.begin();
      e.set_at_unix_ms(b.created_unix_ms());
      e.set_record("begin");
      if (b.open()) {
        e.set_detail("open, timeout " + std::to_string(b.timeout_ms()) + " ms");
      } else {
        const bool saga = b.mode() == "saga";
        e.set_detail(b.mode() + ", " + std::to_string(b.branches_size()) +
                     (saga ? " steps" : " branches"));
      }
      break;
    }
    case v1::Record::kRegisterBranch:
      e.set_at_unix_ms(rec.register_branch().at_unix_ms());
      e.set_record("register");
      e.set_detail("branch " + rec.register_branch().branch().branch() + " on " +
                   rec.register_branch().branch().participant());
      break;
    case v1::Record::kDecision:
      e.set_at_unix_ms(rec.decision().at_unix_ms());
      e.set_record("decision");
      e.set_detail(DecisionDetail(rec.decision()));
      break;
    case v1::Record::kEnd: {
      const v1::End& end = rec.end();
      e.set_at_unix_ms(end.at_unix_ms());
      e.set_record("end");
      std::string detail = end.final_state().empty() ? std::string(end_state) : end.final_state();
      if (end.heuristic()) {
        detail += " (heuristic";
        if (end.heuristic_branches_size() > 0) {
          detail += "; not acknowledged:";
          for (const auto& b : end.heuristic_branches()) detail += " " + b;
        }
        detail += ")";
      }
      e.set_detail(detail);
      break;
    }
    case v1::Record::kSagaStep:
      e.set_at_unix_ms(rec.saga_step().at_unix_ms());
      e.set_record("saga_step");
      e.set_detail(SagaStepDetail(rec.saga_step()));
      break;
    case v1::Record::KIND_NOT_SET:
      break;
  }
  return e;
}

void AppendTimeline(std::vector<v1::TimelineEntry>& line, v1::TimelineEntry e) {
  if (e.record().empty()) return;
  if (line.size() >= kMaxTimelineEntries) line.erase(line.begin() + 1);  // keep "begin"
  line.push_back(std::move(e));
}

TimelineEntry FromProto(const v1::TimelineEntry& e) {
  return TimelineEntry{FromUnixMs(e.at_unix_ms()), e.record(), e.detail()};
}

v1::TimelineEntry ToProto(const TimelineEntry& e) {
  v1::TimelineEntry p;
  p.set_at_unix_ms(ToUnixMs(e.at));
  p.set_record(e.record);
  p.set_detail(e.detail);
  return p;
}

const std::string& GidOf(const v1::Record& rec) {
  switch (rec.kind_case()) {
    case v1::Record::kBegin:
      return rec.begin().gid();
    case v1::Record::kRegisterBranch:
      return rec.register_branch().gid();
    case v1::Record::kDecision:
      return rec.decision().gid();
    case v1::Record::kEnd:
      return rec.end().gid();
    case v1::Record::kSagaStep:
      return rec.saga_step().gid();
    case v1::Record::KIND_NOT_SET:
      break;
  }
  static const std::string kNone;
  return kNone;
}

std::string Serialize(const google::protobuf::MessageLite& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

v1::Branch ToProto(const BranchRequest& b) {
  v1::Branch p;
  p.set_participant(b.participant);
  p.set_action(b.action);
  p.set_branch(b.branch);
  for (const auto& [k, v] : b.payload) (*p.mutable_payload())[k] = v;
  return p;
}

std::string HashRequest(const TxnRequest& r) {
  Fnv f;
  f.Add("2pc");
  f.Add(r.gid);
  f.Add(r.timeout ? std::to_string(r.timeout->count()) : "");
  for (const auto& b : r.branches) {
    f.Add(b.participant);
    f.Add(b.action);
    f.Add(b.branch);
    f.Add(std::to_string(b.payload.size()));
    for (const auto& [k, v] : b.payload) {
      f.Add(k);
      f.Add(v);
    }
  }
  return f.Hex();
}

std::string HashRequest(const SagaRequest& r) {
  Fnv f;
  f.Add("saga");
  f.Add(r.gid);
  f.Add(r.timeout ? std::to_string(r.timeout->count()) : "");
  auto add_payload = [&](const participant::Payload& p) {
    f.Add(std::to_string(p.size()));
    for (const auto& [k, v] : p) {
      f.Add(k);
      f.Add(v);
    }
  };
  for (const auto& s : r.steps) {
    f.Add(s.participant);
    f.Add(s.action);
    f.Add(s.branch);
    f.Add(std::to_string(s.group));
    add_payload(s.payload);
    f.Add(s.compensation_action);
    add_payload(s.compensation_payload);
  }
  return f.Hex();
}

std::string HashRequest(const OpenRequest& r) {
  Fnv f;
  f.Add("open");
  f.Add(r.gid);
  f.Add(r.timeout ? std::to_string(r.timeout->count()) : "");
  return f.Hex();
}

}  // namespace txcoord::coordinator::internal
