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
  // Hex SHA-256 over the canonical form of the body (keys sorted, no whitespace): the same
  // request with keys reordered or re-spaced hashes the same.
  std::string body_hash;
};

struct Limits {
  std::size_t max_branches = 64;
  std::int64_t max_timeout_ms = 24ll * 3600 * 1000;
};

Result<TransactionRequest> ParseTransactionRequest(std::string_view body, const Limits& limits);

// POST /v1/transactions/{gid}/branches: {"participant":"NAME","branch":"ID"}
struct RegisterBranchRequest {
  std::string participant;
  std::string branch;
};
Result<RegisterBranchRequest> ParseRegisterBranchRequest(std::string_view body);

// Checks the Idempotency-Key header value: 1..255 visible ASCII characters.
Status ValidateIdempotencyKey(std::string_view key);

}  // namespace txcoord::api
