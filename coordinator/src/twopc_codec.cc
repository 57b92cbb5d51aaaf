// twopc::Record <-> coordinator.proto Record (twopc_codec.h).
#include "txcoord/coordinator/twopc_codec.h"

#include "txcoord/coordinator/coordinator.pb.h"

namespace txcoord::coordinator {

namespace v1 = ::txcoord::coordinator::v1;

namespace {

void ToProto(const twopc::BranchSpec& b, v1::Branch& p) {
  p.set_participant(b.participant);
  p.set_action(b.action);
  p.set_branch(b.branch);
  for (const auto& [k, v] : b.payload) (*p.mutable_payload())[k] = v;
}

twopc::BranchSpec FromProto(const v1::Branch& p) {
  twopc::BranchSpec b{p.participant(), p.action(), {}, p.branch()};
  for (const auto& [k, v] : p.payload()) b.payload.emplace(k, v);
  return b;
}

struct Encoder {
  v1::Record& r;
  std::int64_t at;
  void operator()(const twopc::BeginRecord& b) const {
    v1::Begin* p = r.mutable_begin();
    p->set_gid(b.gid);
    p->set_mode("2pc");
    for (const twopc::BranchSpec& s : b.branches) ToProto(s, *p->add_branches());
    p->set_created_unix_ms(at);
    p->set_timeout_ms(b.timeout_ms);
    p->set_idempotency_key(b.idempotency_key);
    p->set_request_hash(b.request_hash);
    p->set_open(b.open);
  }
  void operator()(const twopc::RegisterRecord& g) const {
    v1::RegisterBranch* p = r.mutable_register_branch();
    p->set_gid(g.gid);
    ToProto(g.branch, *p->mutable_branch());
    p->set_at_unix_ms(at);
  }
  void operator()(const twopc::DecisionRecord& d) const {
    v1::Decision* p = r.mutable_decision();
    p->set_gid(d.gid);
    p->set_outcome(d.outcome == twopc::Outcome::kCommit ? v1::Decision::COMMIT
                                                        : v1::Decision::ABORT);
    p->set_reason(d.reason);
    p->set_heuristic(d.heuristic);
    p->set_heuristic_mixed(d.heuristic_mixed);
    p->set_operator_id(d.operator_id);
    p->set_at_unix_ms(at);
  }
  void operator()(const twopc::EndRecord& e) const {
    v1::End* p = r.mutable_end();
    p->set_gid(e.gid);
    p->set_final_state(e.final_state);
    p->set_heuristic(e.heuristic);
    for (const std::string& b : e.heuristic_branches) p->add_heuristic_branches(b);
    p->set_at_unix_ms(at);
  }
};

}  // namespace

std::string EncodeTwopcRecord(const twopc::Record& record, std::int64_t at_unix_ms) {
  v1::Record r;
  std::visit(Encoder{r, at_unix_ms}, record);
  return r.SerializeAsString();
}

Result<twopc::Record> DecodeTwopcRecord(std::string_view bytes) {
  v1::Record r;
  if (!r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgument("not a coordinator Record (" + std::to_string(bytes.size()) + " bytes)");
  }
  switch (r.kind_case()) {
    case v1::Record::kBegin: {
      const v1::Begin& p = r.begin();
      if (p.mode() != "2pc") return InvalidArgument("BEGIN of mode '" + p.mode() + "'");
      twopc::BeginRecord b{p.gid(),         {}, p.timeout_ms(), p.open(), p.idempotency_key(),
                           p.request_hash()};
      for (const v1::Branch& s : p.branches()) b.branches.push_back(FromProto(s));
      return twopc::Record{std::move(b)};
    }
    case v1::Record::kRegisterBranch:
      return twopc::Record{twopc::RegisterRecord{r.register_branch().gid(),
                                                 FromProto(r.register_branch().branch())}};
    case v1::Record::kDecision: {
      const v1::Decision& p = r.decision();
      if (p.outcome() != v1::Decision::COMMIT && p.outcome() != v1::Decision::ABORT) {
        return InvalidArgument("DECISION of " + p.gid() + " without an outcome");
      }
      const twopc::Outcome o =
          p.outcome() == v1::Decision::COMMIT ? twopc::Outcome::kCommit : twopc::Outcome::kAbort;
      return twopc::Record{twopc::DecisionRecord{p.gid(), o, p.reason(), p.heuristic(),
                                                 p.heuristic_mixed(), p.operator_id()}};
    }
    case v1::Record::kEnd: {
      const v1::End& p = r.end();
      twopc::EndRecord e{p.gid(), p.final_state(), p.heuristic(), {}};
      for (const std::string& b : p.heuristic_branches()) e.heuristic_branches.push_back(b);
      return twopc::Record{std::move(e)};
    }
    default:
      return InvalidArgument("not a 2PC record (kind " + std::to_string(r.kind_case()) + ")");
  }
}

}  // namespace txcoord::coordinator
