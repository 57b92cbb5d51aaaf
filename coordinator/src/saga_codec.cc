// saga::Record <-> coordinator.proto Record (saga_codec.h).
#include "txcoord/coordinator/saga_codec.h"

#include "txcoord/coordinator/coordinator.pb.h"

namespace txcoord::coordinator {

namespace v1 = ::txcoord::coordinator::v1;

namespace {

void ToProto(const saga::StepSpec& s, v1::Branch& p) {
  p.set_participant(s.participant);
  p.set_action(s.action);
  p.set_branch(s.step_id);
  for (const auto& [k, v] : s.payload) (*p.mutable_payload())[k] = v;
  p.set_compensation_action(s.compensation_action);
  for (const auto& [k, v] : s.compensation_payload) (*p.mutable_compensation_payload())[k] = v;
  p.set_group(s.group);
}

saga::StepSpec FromProto(const v1::Branch& p) {
  saga::StepSpec s;
  s.participant = p.participant();
  s.action = p.action();
  s.step_id = p.branch();
  for (const auto& [k, v] : p.payload()) s.payload.emplace(k, v);
  s.compensation_action = p.compensation_action();
  for (const auto& [k, v] : p.compensation_payload()) s.compensation_payload.emplace(k, v);
  s.group = p.group();
  return s;
}

struct Encoder {
  v1::Record& r;
  std::string_view gid;
  std::int64_t at;
  void operator()(const saga::BeginRecord& b) const {
    v1::Begin* p = r.mutable_begin();
    p->set_gid(b.gid);
    p->set_mode("saga");
    for (const saga::StepSpec& s : b.steps) ToProto(s, *p->add_branches());
    p->set_created_unix_ms(at);
    p->set_timeout_ms(b.timeout.count());
  }
  void operator()(const saga::StepRecord& s) const {
    v1::SagaStep* p = r.mutable_saga_step();
    p->set_gid(std::string(gid));
    p->set_step(s.step);
    p->set_phase(s.phase == saga::StepPhase::kForward ? v1::SagaStep::FORWARD
                                                      : v1::SagaStep::COMPENSATE);
    switch (s.event) {
      case saga::StepEvent::kStarted:
        p->set_event(v1::SagaStep::STARTED);
        break;
      case saga::StepEvent::kDone:
        p->set_event(v1::SagaStep::DONE);
        break;
      case saga::StepEvent::kRefused:
        p->set_event(v1::SagaStep::REFUSED);
        break;
      case saga::StepEvent::kFailed:
        p->set_event(v1::SagaStep::FAILED);
        break;
    }
    p->set_error(s.error);
    p->set_at_unix_ms(at);
  }
  void operator()(const saga::DecisionRecord& d) const {
    v1::Decision* p = r.mutable_decision();
    p->set_gid(std::string(gid));
    p->set_outcome(v1::Decision::ABORT);
    p->set_reason(d.reason);
    p->set_at_unix_ms(at);
  }
  void operator()(const saga::EndRecord& e) const {
    v1::End* p = r.mutable_end();
    p->set_gid(std::string(gid));
    p->set_final_state(e.final_state == saga::FinalState::kCommitted ? "committed" : "compensated");
    p->set_at_unix_ms(at);
  }
};

Result<DecodedSagaRecord> StepOf(const v1::SagaStep& p) {
  saga::StepRecord s;
  s.step = p.step();
  s.error = p.error();
  switch (p.phase()) {
    case v1::SagaStep::FORWARD:
      s.phase = saga::StepPhase::kForward;
      break;
    case v1::SagaStep::COMPENSATE:
      s.phase = saga::StepPhase::kCompensate;
      break;
    default:
      return InvalidArgument("SAGA_STEP of " + p.gid() + " with phase " +
                             std::to_string(p.phase()));
  }
  switch (p.event()) {
    case v1::SagaStep::STARTED:
      s.event = saga::StepEvent::kStarted;
      break;
    case v1::SagaStep::DONE:
      s.event = saga::StepEvent::kDone;
      break;
    case v1::SagaStep::REFUSED:
      s.event = saga::StepEvent::kRefused;
      break;
    case v1::SagaStep::FAILED:
      s.event = saga::StepEvent::kFailed;
      break;
    default:
      return InvalidArgument("SAGA_STEP of " + p.gid() + " with event " +
                             std::to_string(p.event()));
  }
  return DecodedSagaRecord{p.gid(), s};
}

}  // namespace

std::string EncodeSagaRecord(std::string_view gid, const saga::Record& record,
                             std::int64_t at_unix_ms) {
  v1::Record r;
  std::visit(Encoder{r, gid, at_unix_ms}, record);
  return r.SerializeAsString();
}

Result<DecodedSagaRecord> DecodeSagaRecord(std::string_view bytes) {
  v1::Record r;
  if (!r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgument("not a coordinator Record (" + std::to_string(bytes.size()) + " bytes)");
  }
  switch (r.kind_case()) {
    case v1::Record::kBegin: {
      const v1::Begin& p = r.begin();
      if (p.mode() != "saga") return InvalidArgument("BEGIN of mode '" + p.mode() + "'");
      saga::BeginRecord b;
      b.gid = p.gid();
      b.timeout = std::chrono::milliseconds(p.timeout_ms());
      for (const v1::Branch& s : p.branches()) b.steps.push_back(FromProto(s));
      return DecodedSagaRecord{p.gid(), std::move(b)};
    }
    case v1::Record::kSagaStep:
      return StepOf(r.saga_step());
    case v1::Record::kDecision: {
      const v1::Decision& p = r.decision();
      if (p.outcome() != v1::Decision::ABORT) {
        return InvalidArgument("DECISION of " + p.gid() + " is not a saga's turn back (ABORT)");
      }
      return DecodedSagaRecord{p.gid(), saga::DecisionRecord{p.reason()}};
    }
    case v1::Record::kEnd: {
      const v1::End& p = r.end();
      if (p.final_state() != "committed" && p.final_state() != "compensated") {
        return InvalidArgument("END of " + p.gid() + " with final state '" + p.final_state() + "'");
      }
      saga::EndRecord e;
      e.final_state = p.final_state() == "committed" ? saga::FinalState::kCommitted
                                                     : saga::FinalState::kCompensated;
      return DecodedSagaRecord{p.gid(), e};
    }
    default:
      return InvalidArgument("not a saga record (kind " + std::to_string(r.kind_case()) + ")");
  }
}

}  // namespace txcoord::coordinator
