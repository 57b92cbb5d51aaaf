#include "render.h"

#include "txcoord/core/log.h"
#include "txcoord/participant/wire.h"

namespace txcoord::server {
namespace {

using coordinator::TxnState;

void Field(std::string& out, std::string_view key, std::string_view value, bool comma = true) {
  if (comma) out += ',';
  log::AppendJsonString(out, key);
  out += ':';
  log::AppendJsonString(out, value);
}

void RawField(std::string& out, std::string_view key, std::string_view raw) {
  out += ',';
  log::AppendJsonString(out, key);
  out += ':';
  out += raw;
}

void AppendTxnJson(std::string& out, const coordinator::TxnView& v) {
  out += '{';
  Field(out, "gid", v.gid, false);
  Field(out, "mode", v.mode);
  Field(out, "state", ApiState(v.state));
  Field(out, "detail", coordinator::TxnStateName(v.state));
  RawField(out, "phase2_complete", coordinator::IsFinal(v.state) ? "true" : "false");
  if (!v.reason.empty()) Field(out, "reason", v.reason);
  if (v.mode == "saga") RawField(out, "stuck", v.stuck ? "true" : "false");
  RawField(out, "open", v.open ? "true" : "false");
  RawField(out, "heuristic", v.heuristic ? "true" : "false");
  if (v.heuristic) RawField(out, "heuristic_mixed", v.heuristic_mixed ? "true" : "false");
  if (!v.operator_id.empty()) Field(out, "operator", v.operator_id);
  Field(out, "created", log::FormatUtc(v.created));
  Field(out, "updated", log::FormatUtc(v.updated));
  out += ",\"branches\":[";
  for (std::size_t i = 0; i < v.branches.size(); ++i) {
    const auto& b = v.branches[i];
    if (i) out += ',';
    out += '{';
    Field(out, "participant", b.participant, false);
    Field(out, "action", b.action);
    Field(out, "branch", b.branch);
    Field(out, "state", coordinator::BranchStateName(b.state));
    RawField(out, "attempts", std::to_string(b.attempts));
    if (!b.last_error.empty()) Field(out, "error", b.last_error);
    out += '}';
  }
  out += "],\"timeline\":[";
  for (std::size_t i = 0; i < v.timeline.size(); ++i) {
    const auto& e = v.timeline[i];
    if (i) out += ',';
    out += '{';
    Field(out, "at", log::FormatUtc(e.at), false);
    Field(out, "record", e.record);
    Field(out, "detail", e.detail);
    out += '}';
  }
  out += "]}";
}

}  // namespace

// The client's answer: a durable decision is the outcome (phase 2 may still run); otherwise the
// engine state.
std::string_view ApiState(TxnState s) {
  if (s == TxnState::kCommitting) return "committed";
  if (s == TxnState::kAborting) return "aborted";
  return coordinator::TxnStateName(s);
}

api::v1::TransactionResponse ToProto(const coordinator::TxnView& v) {
  api::v1::TransactionResponse r;
  r.set_gid(v.gid);
  r.set_mode(v.mode);
  r.set_state(std::string(ApiState(v.state)));
  r.set_detail(std::string(coordinator::TxnStateName(v.state)));
  r.set_phase2_complete(coordinator::IsFinal(v.state));
  r.set_reason(v.reason);
  r.set_open(v.open);
  r.set_created(log::FormatUtc(v.created));
  r.set_updated(log::FormatUtc(v.updated));
  r.set_stuck(v.stuck);
  r.set_heuristic(v.heuristic);
  r.set_heuristic_mixed(v.heuristic_mixed);
  r.set_operator_(v.operator_id);
  for (const auto& e : v.timeline) {
    auto* out = r.add_timeline();
    out->set_at(log::FormatUtc(e.at));
    out->set_record(e.record);
    out->set_detail(e.detail);
  }
  for (const auto& b : v.branches) {
    auto* out = r.add_branches();
    out->set_participant(b.participant);
    out->set_action(b.action);
    out->set_branch(b.branch);
    out->set_state(std::string(coordinator::BranchStateName(b.state)));
    out->set_attempts(b.attempts);
    out->set_error(b.last_error);
  }
  return r;
}

std::string RenderTxn(const coordinator::TxnView& v, Encoding e) {
  if (e == Encoding::kProtobuf) return ToProto(v).SerializeAsString();
  std::string out;
  AppendTxnJson(out, v);
  return out;
}

std::string RenderTxnList(const std::vector<coordinator::TxnView>& views) {
  std::string out = "{\"transactions\":[";
  for (std::size_t i = 0; i < views.size(); ++i) {
    if (i) out += ',';
    AppendTxnJson(out, views[i]);
  }
  out += "]}";
  return out;
}

std::string RenderError(const Status& s, Encoding e) {
  if (e == Encoding::kProtobuf) {
    api::v1::ErrorResponse r;
    r.set_code(std::string(CodeName(s.code())));
    r.set_message(s.message());
    return r.SerializeAsString();
  }
  std::string out = "{\"error\":{";
  Field(out, "code", CodeName(s.code()), false);
  Field(out, "message", s.message());
  out += "}}";
  return out;
}

int HttpStatusFor(const Status& s) {
  if (coordinator::IsIdempotencyMismatch(s)) return 422;
  return participant::wire::HttpStatusOf(s.code());
}

}  // namespace txcoord::server
