#include "handler.h"

#include <Poco/Exception.h>
#include <Poco/NumberParser.h>
#include <Poco/URI.h>

#include <cstdio>
#include <exception>
#include <vector>

#include "render.h"
#include "translate.h"
#include "txcoord/core/log.h"
#include "txcoord/core/random.h"
#include "txcoord/participant/http_util.h"

namespace txcoord::server {

namespace {

using coordinator::IdempotencyMatch;
using coordinator::TxnState;
using coordinator::TxnView;

constexpr std::string_view kProtobufType = "application/x-protobuf";
constexpr std::string_view kJsonType = "application/json";

bool IsProtobuf(const std::string& content_type) {
  return content_type.compare(0, kProtobufType.size(), kProtobufType) == 0;
}

Encoding EncodingFor(const HttpRequest& req) {
  return IsProtobuf(req.HeaderOr("Content-Type", "")) || IsProtobuf(req.HeaderOr("Accept", ""))
             ? Encoding::kProtobuf
             : Encoding::kJson;
}

// One request: the parsed path, the chosen encodings, and the response being built.
// Single-threaded: lives on the thread that serves the request.
class Exchange {
 public:
  Exchange(Context& ctx, HttpRequest req) : ctx_(ctx), req_(std::move(req)) {
    out_ = EncodingFor(req_);
  }

  // Routes and serves the request; returns the response (always one).
  HttpResponse Serve();

 private:
  void Route();
  void CreateTransaction();
  void ListTransactions();
  void GetTransaction(const std::string& gid);
  void RegisterBranch(const std::string& gid);
  void EndOpen(const std::string& gid, bool commit);
  void RetryNow(const std::string& gid);
  void Resolve(const std::string& gid);
  void Health();
  void Ready();
  void Metrics();

  // Replies with the outcome of Submit/BeginOpen, honouring ?wait.
  // wait: up to `waited_already` less than phase2_wait (a saga whose steps ran on this thread).
  void ReplySubmitted(const coordinator::SubmitReply& reply, bool wait,
                      std::chrono::steady_clock::duration waited_already = {});
  bool WaitRequested() const { return Query("wait", "true") != "false"; }
  std::string Query(const std::string& key, const std::string& fallback) const;
  Status Authorize();
  Result<std::string> Body();

  void Send(int status, const std::string& body, std::string_view content_type);
  void SendTxn(int status, const TxnView& v) {
    Send(status, RenderTxn(v, out_), out_ == Encoding::kProtobuf ? kProtobufType : kJsonType);
  }
  void SendError(const Status& s) { SendErrorWith(HttpStatusFor(s), s); }
  void SendErrorWith(int status, const Status& s) {
    Send(status, RenderError(s, out_), out_ == Encoding::kProtobuf ? kProtobufType : kJsonType);
  }

  Context& ctx_;
  HttpRequest req_;
  HttpResponse resp_;
  bool sent_ = false;
  Poco::URI uri_;
  std::vector<std::string> segments_;
  Encoding out_;
  std::string route_ = "other";  // route template for metrics
};

HttpResponse Exchange::Serve() {
  try {
    try {
      uri_ = Poco::URI(req_.target);
      uri_.getPathSegments(segments_);
    } catch (const Poco::SyntaxException& e) {
      SendError(InvalidArgument("bad request target: " + e.displayText()));
      return std::move(resp_);
    }
    Route();
  } catch (const std::exception& e) {  // Poco/std edge: never crash a request thread
    log::Error("request failed", {{"uri", req_.target}, {"error", e.what()}});
    if (!sent_) SendError(Internal(std::string("unexpected error: ") + e.what()));
  }
  if (!sent_) SendError(Internal("no response"));
  return std::move(resp_);
}

void Exchange::Route() {
  const std::string& method = req_.method;
  const auto n = segments_.size();
  auto is = [&](std::size_t i, std::string_view s) { return i < n && segments_[i] == s; };
  auto method_is = [&](std::string_view m) {
    if (method == m) return true;
    SendErrorWith(405, InvalidArgument("method " + method + " not allowed here"));
    return false;
  };
  if (n == 1 && is(0, "healthz")) {
    route_ = "/healthz";
    if (method_is("GET")) Health();
    return;
  }
  if (n == 1 && is(0, "readyz")) {
    route_ = "/readyz";
    if (method_is("GET")) Ready();
    return;
  }
  if (n == 1 && is(0, "metrics")) {
    route_ = "/metrics";
    if (method_is("GET")) Metrics();
    return;
  }
  if (n < 2 || !is(0, "v1") || !is(1, "transactions")) {
    SendError(NotFound("no route " + uri_.getPath()));
    return;
  }
  if (Status s = Authorize(); !s.ok()) {
    route_ = "/v1/*";
    SendErrorWith(s.message() == "missing bearer token" ? 401 : 403, s);
    return;
  }
  if (n == 2) {
    route_ = "/v1/transactions";
    if (method == "POST") return CreateTransaction();
    if (method_is("GET")) ListTransactions();
    return;
  }
  const std::string& gid = segments_[2];
  if (n == 3) {
    route_ = "/v1/transactions/{gid}";
    if (method_is("GET")) GetTransaction(gid);
    return;
  }
  if (n == 4) {
    const std::string& op = segments_[3];
    route_ = "/v1/transactions/{gid}/" + op;
    if (op == "branches" && method_is("POST")) return RegisterBranch(gid);
    if (op == "commit" && method_is("POST")) return EndOpen(gid, true);
    if (op == "abort" && method_is("POST")) return EndOpen(gid, false);
    if (op == "retry" && method_is("POST")) return RetryNow(gid);
    if (op == "resolve" && method_is("POST")) return Resolve(gid);
    if (sent_) return;
  }
  route_ = "other";
  SendError(NotFound("no route " + uri_.getPath()));
}

Status Exchange::Authorize() {
  if (ctx_.options.token.empty()) return Status::Ok();
  return participant::http::CheckBearerHeader(req_.HeaderOr("Authorization", ""),
                                              ctx_.options.token);
}

Result<std::string> Exchange::Body() {
  if (req_.body_too_large) {
    // The rest of the body was not read: the connection cannot be reused (the front drains a
    // little of it before closing so that a client still sending gets the 413, not a reset).
    resp_.close = true;
    return ResourceExhausted("request body larger than " +
                             std::to_string(ctx_.options.max_body_bytes) + " bytes");
  }
  return std::move(req_.body);
}

std::string Exchange::Query(const std::string& key, const std::string& fallback) const {
  for (const auto& [k, v] : uri_.getQueryParameters()) {
    if (k == key) return v;
  }
  return fallback;
}

void Exchange::CreateTransaction() {
  const std::string key = req_.HeaderOr("Idempotency-Key", "");
  if (req_.Header("Idempotency-Key") != nullptr) {
    if (Status s = api::ValidateIdempotencyKey(key); !s.ok()) return SendError(s);
  }
  const std::string wait = Query("wait", "true");
  if (wait != "true" && wait != "false") {
    return SendError(InvalidArgument("?wait must be true or false"));
  }
  auto body = Body();
  if (!body.ok()) return SendErrorWith(413, body.status());
  const std::string content_type = req_.HeaderOr("Content-Type", "");
  if (!content_type.empty() && !IsProtobuf(content_type) &&
      content_type.compare(0, 16, "application/json") != 0) {
    return SendErrorWith(415, InvalidArgument("Content-Type must be application/json or " +
                                              std::string(kProtobufType)));
  }
  auto parsed = IsProtobuf(content_type)
                    ? api::ParseTransactionRequestProto(*body, ctx_.options.limits)
                    : api::ParseTransactionRequest(*body, ctx_.options.limits);
  if (!parsed.ok()) return SendError(parsed.status());
  api::TransactionRequest& r = *parsed;
  if (!key.empty()) r.body_hash = api::CanonicalHash(r);  // only idempotency compares it
  if (r.mode != "2pc" && r.mode != "saga") {
    return SendError(
        InvalidArgument("mode \"" + r.mode + "\" is not supported by this coordinator"));
  }
  std::optional<std::chrono::milliseconds> timeout;
  if (r.timeout_ms) timeout = std::chrono::milliseconds(*r.timeout_ms);
  if (r.mode == "saga") {
    if (r.open) return SendError(InvalidArgument("\"open\" is for mode 2pc, not saga"));
    coordinator::SagaRequest saga = SagaRequestOf(r, timeout, key);
    // A waiting request lets SubmitSaga run the steps on this thread (it waits anyway); the
    // time they take counts against phase2_wait.
    if (wait == "true") saga.caller_waits = ctx_.options.phase2_wait;
    const auto started = std::chrono::steady_clock::now();
    auto reply = ctx_.manager.SubmitSaga(saga);
    if (!reply.ok()) return SendError(reply.status());
    return ReplySubmitted(*reply, wait == "true", std::chrono::steady_clock::now() - started);
  }
  if (r.open) {
    coordinator::OpenRequest open{r.gid.value_or(""), timeout, key, r.body_hash};
    auto reply = ctx_.manager.BeginOpen(open);
    if (!reply.ok()) return SendError(reply.status());
    return ReplySubmitted(*reply, false);
  }
  coordinator::TxnRequest txn;
  txn.gid = r.gid.value_or("");
  txn.timeout = timeout;
  txn.idempotency_key = key;
  txn.request_hash = r.body_hash;
  // Branch ids are left to the engine, which makes them fresh for every transaction.
  for (auto& b : r.branches) {
    txn.branches.push_back(
        {std::move(b.participant), std::move(b.action), std::move(b.payload), ""});
  }
  // A waiting request lets Submit run one phase-2 call on this thread (it waits anyway).
  txn.caller_waits_phase2 = wait == "true" && ctx_.options.phase2_wait.count() > 0;
  auto reply = ctx_.manager.Submit(txn);
  if (!reply.ok()) return SendError(reply.status());
  ReplySubmitted(*reply, wait == "true");
}

void Exchange::ReplySubmitted(const coordinator::SubmitReply& reply, bool wait,
                              std::chrono::steady_clock::duration waited_already) {
  TxnView view = reply.txn;
  if (reply.match == IdempotencyMatch::kInProgress) {
    if (wait) {
      auto waited = ctx_.manager.Wait(view.gid, ctx_.options.phase2_wait);
      if (waited.ok() && waited->state != TxnState::kPreparing &&
          waited->state != TxnState::kActive && waited->state != TxnState::kRunning &&
          waited->state != TxnState::kCompensating) {
        resp_.headers.emplace_back("Idempotent-Replayed", "true");
        return SendTxn(200, *waited);
      }
    }
    return SendErrorWith(409, Conflict("a request with this Idempotency-Key is still running "
                                       "(transaction " +
                                       view.gid + ")"));
  }
  if (reply.match == IdempotencyMatch::kReplayed) {
    resp_.headers.emplace_back("Idempotent-Replayed", "true");
  }
  if (view.open) return SendTxn(reply.match == IdempotencyMatch::kNew ? 201 : 200, view);
  if (!wait) return SendTxn(202, view);
  if (!coordinator::IsFinal(view.state)) {  // 0 left: the view as it is now
    const auto left =
        std::max(std::chrono::milliseconds(0),
                 ctx_.options.phase2_wait -
                     std::chrono::duration_cast<std::chrono::milliseconds>(waited_already));
    auto waited = ctx_.manager.Wait(view.gid, left);
    if (waited.ok()) view = *waited;
  }
  SendTxn(200, view);
}

void Exchange::ListTransactions() {
  std::optional<TxnState> state;
  const std::string s = Query("state", "");
  if (!s.empty()) {
    for (auto st : {TxnState::kActive, TxnState::kPreparing, TxnState::kCommitting,
                    TxnState::kCommitted, TxnState::kAborting, TxnState::kAborted,
                    TxnState::kRunning, TxnState::kCompensating, TxnState::kCompensated}) {
      if (coordinator::TxnStateName(st) == s) state = st;
    }
    if (!state) {
      return SendError(InvalidArgument("unknown state '" + s +
                                       "' (active, preparing, committing, committed, aborting, "
                                       "aborted, running, compensating, compensated)"));
    }
  }
  int limit = 100;
  const std::string l = Query("limit", "100");
  if (!Poco::NumberParser::tryParse(l, limit) || limit < 1 || limit > 1000) {
    return SendError(InvalidArgument("limit must be an integer 1..1000"));
  }
  Send(200, RenderTxnList(ctx_.manager.List(state, static_cast<std::size_t>(limit))), kJsonType);
}

void Exchange::GetTransaction(const std::string& gid) {
  auto v = ctx_.manager.Get(gid);
  if (!v.ok()) return SendError(v.status());
  SendTxn(200, *v);
}

void Exchange::RegisterBranch(const std::string& gid) {
  auto body = Body();
  if (!body.ok()) return SendErrorWith(413, body.status());
  auto r = api::ParseRegisterBranchRequest(*body);
  if (!r.ok()) return SendError(r.status());
  if (Status s = ctx_.manager.RegisterBranch(gid, r->participant, r->branch); !s.ok()) {
    return SendError(s);
  }
  GetTransaction(gid);
}

void Exchange::EndOpen(const std::string& gid, bool commit) {
  auto v = commit ? ctx_.manager.Commit(gid) : ctx_.manager.Abort(gid, "aborted by the client");
  if (!v.ok()) return SendError(v.status());
  TxnView view = *v;
  if (!coordinator::IsFinal(view.state)) {
    auto waited = ctx_.manager.Wait(gid, ctx_.options.phase2_wait);
    if (waited.ok()) view = *waited;
  }
  SendTxn(200, view);
}

void Exchange::RetryNow(const std::string& gid) {
  if (Status s = ctx_.manager.RetryNow(gid); !s.ok()) return SendError(s);
  GetTransaction(gid);
}

// An operator's decision (txctl resolve). 409 = refused: the message says why and what --force
// would do.
void Exchange::Resolve(const std::string& gid) {
  auto body = Body();
  if (!body.ok()) return SendErrorWith(413, body.status());
  const std::string content_type = req_.HeaderOr("Content-Type", "");
  if (!content_type.empty() && content_type.compare(0, 16, "application/json") != 0) {
    return SendErrorWith(415, InvalidArgument("Content-Type must be application/json"));
  }
  auto parsed = api::ParseResolveRequest(*body);
  if (!parsed.ok()) return SendError(parsed.status());
  coordinator::ResolveRequest r;
  r.outcome = parsed->outcome == "commit" ? coordinator::ResolveOutcome::kCommit
                                          : coordinator::ResolveOutcome::kAbort;
  r.force = parsed->force;
  r.reason = std::move(parsed->reason);
  r.operator_id = std::move(parsed->operator_id);
  auto v = ctx_.manager.Resolve(gid, r);
  if (!v.ok()) return SendError(v.status());
  TxnView view = *v;
  if (!coordinator::IsFinal(view.state)) {  // a non-forced decision: wait a little for phase 2
    auto waited = ctx_.manager.Wait(gid, ctx_.options.phase2_wait);
    if (waited.ok()) view = *waited;
  }
  SendTxn(200, view);
}

void Exchange::Health() {
  Send(200, "{\"status\":\"ok\"}", kJsonType);
}

void Exchange::Ready() {
  if (ctx_.manager.ready()) return Send(200, "{\"status\":\"ready\"}", kJsonType);
  Status h = ctx_.manager.health();
  SendErrorWith(503, h.ok() ? Unavailable("recovering") : h);
}

void Exchange::Metrics() {
  std::optional<wal::Stats> wal;
  if (ctx_.options.wal_stats) wal = ctx_.options.wal_stats();
  // txcoord_info names this coordinator (txctl participants scan checks it against its config).
  std::string body = RenderMetrics(ctx_.manager.metrics(), wal, ctx_.manager.ready(), ctx_.http);
  body += "# HELP txcoord_info This coordinator's id.\n# TYPE txcoord_info gauge\n";
  body += "txcoord_info{coordinator_id=\"" + ctx_.manager.config().coordinator_id + "\"} 1\n";
  Send(200, body, "text/plain; version=0.0.4");
}

void Exchange::Send(int status, const std::string& body, std::string_view content_type) {
  ctx_.http.Count(route_, status);
  sent_ = true;
  resp_.status = status;
  resp_.headers.emplace_back("Content-Type", std::string(content_type));
  if (status == 429 || status == 503) resp_.headers.emplace_back("Retry-After", "1");
  resp_.body = body;
}

}  // namespace

void HandleRequest(Context& ctx, HttpRequest request, const Reply& done) {
  HttpResponse response;
  try {
    response = Exchange(ctx, std::move(request)).Serve();
  } catch (...) {  // Serve catches std::exception; anything else still gets an answer
    response = ErrorResponse(ctx, nullptr, 500, Internal("unexpected error"), true);
  }
  done(std::move(response));
}

HttpResponse ErrorResponse(Context& ctx, const HttpRequest* request, int status, const Status& s,
                           bool close) {
  const Encoding e = request ? EncodingFor(*request) : Encoding::kJson;
  ctx.http.Count("other", status);
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type",
                         std::string(e == Encoding::kProtobuf ? kProtobufType : kJsonType));
  if (status == 429 || status == 503) r.headers.emplace_back("Retry-After", "1");
  r.body = RenderError(s, e);
  r.close = close;
  return r;
}

}  // namespace txcoord::server
