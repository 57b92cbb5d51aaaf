#pragma once
// Parsing and validating the bodies of the coordinator's HTTP API (JSON), before anything is
// logged: every problem is an InvalidArgument whose message is the 400 reason.
//
//   POST /v1/transactions
//   {"mode":"2pc"|"saga", "gid":"optional", "timeout_ms":N, "open":false,
//    "branches":[{"participant":"NAME","action":"NAME","payload":{...},
//                 "compensation":{"action":"NAME","payload":{...}},   // saga only
//                 "group":N}]}                                         // saga only, optional
//
// Payload values must be JSON scalars; they are kept as text (integers in decimal, booleans
// "true"/"false", strings as is). Unknown keys are rejected, so a typo is not silently ignored.
// Thread-safety: pure functions.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "txcoord/core/status.h"
#include "txcoord/participant/participant.h"

namespace txcoord::api {

inline constexpr std::size_t kMaxIdempotencyKeyLen = 255;

struct CompensationSpec {
  std::string action;
  participant::Payload payload;
};

struct BranchSpec {
  std::string participant;
  std::string action;
  participant::Payload payload;
  std::optional<CompensationSpec> compensation;  // saga
  std::uint32_t group = 0;                       // saga: steps of one group run concurrently
};

struct TransactionRequest {
  std::string mode;  // "2pc" or "saga"
  std::optional<std::string> gid;
  std::optional<std::int64_t> timeout_ms;
  bool open = false;  // XA-style: branches registered later
  std::vector<BranchSpec> branches;
  // CanonicalHash(*this), set by the caller when it needs it (a request with an Idempotency-Key):
  // the parsers leave it empty (SHA-256 of every request was 5.7 % of a request's instructions).
  std::string body_hash;
};

struct Limits {
  std::size_t max_branches = 64;
  std::int64_t max_timeout_ms = 24ll * 3600 * 1000;
};

// The JSON body (the API's default encoding).
Result<TransactionRequest> ParseTransactionRequest(std::string_view body, const Limits& limits);
// The same request as a serialized txcoord.api.v1.TransactionRequest (api.proto).
Result<TransactionRequest> ParseTransactionRequestProto(std::string_view body,
                                                        const Limits& limits);
// The checks both encodings share. For requests built in code.
Result<TransactionRequest> ValidateTransactionRequest(TransactionRequest req, const Limits& limits);
// Hex SHA-256 over a canonical serialization of the request's fields: the same request sent as
// JSON with keys reordered or re-spaced, or as Protobuf, hashes the same. Idempotency compares
// it ("same key, same body").
std::string CanonicalHash(const TransactionRequest& req);

// POST /v1/transactions/{gid}/branches: {"participant":"NAME","branch":"ID"}
struct RegisterBranchRequest {
  std::string participant;
  std::string branch;
};
Result<RegisterBranchRequest> ParseRegisterBranchRequest(std::string_view body);

// POST /v1/transactions/{gid}/resolve:
//   {"outcome":"commit"|"abort","force":false,"reason":"TEXT","operator":"NAME"}
// outcome and reason are required (reason non-empty); force defaults to false, operator to "".
// Lengths are checked by the engine (TransactionManager::Resolve).
struct ResolveRequest {
  std::string outcome;  // "commit" or "abort"
  bool force = false;
  std::string reason;
  std::string operator_id;
};
Result<ResolveRequest> ParseResolveRequest(std::string_view body);

// Checks the Idempotency-Key header value: 1..255 visible ASCII characters.
Status ValidateIdempotencyKey(std::string_view key);

}  // namespace txcoord::api
