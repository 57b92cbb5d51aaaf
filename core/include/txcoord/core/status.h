#pragma once
// Status and Result<T>: how every fallible txcoord function reports failure.
//
// The code answers the caller's real question: what do I do now?
//   Reaction::kNone              ok
//   Reaction::kFixRequest        the request is wrong (bad input, unknown name); retrying won't
//   help Reaction::kRetryCall         nothing happened; call again (after backoff)
//   Reaction::kRetryTransaction  this transaction is lost (aborted); start it again
//   Reaction::kResolveUnknown    it may or may not have happened; retry an *idempotent* call or ask
//   Reaction::kGiveUp            the system is unfit to go on (corruption, fsync failure, bug)
//
// Both types are [[nodiscard]]: ignoring a Status is a compile error under -Werror.
// Thread-safety: values; safe to copy between threads.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace txcoord {

enum class Code : std::uint8_t {
  kOk = 0,
  kInvalidArgument,     // bad input from the caller
  kNotFound,            // the named thing does not exist
  kConflict,            // already exists / concurrent owner / idempotency key reused differently
  kFailedPrecondition,  // the system is not in a state to do this (e.g. PG max_prepared_xacts=0)
  kUnauthenticated,     // missing or wrong credentials
  kResourceExhausted,   // a limit was hit (in-flight, queue, size); retry later
  kUnavailable,         // store/peer unreachable; nothing was applied; retry the call
  kTimeout,             // deadline passed before the call was sent or the answer said "not applied"
  kAborted,             // the transaction was aborted; retry the transaction
  kUnknownOutcome,      // may or may not have been applied (timeout after send, lost reply)
  kDataLoss,            // corruption or lost durability; stop
  kInternal,            // a bug
};

enum class Reaction : std::uint8_t {
  kNone,
  kFixRequest,
  kRetryCall,
  kRetryTransaction,
  kResolveUnknown,
  kGiveUp,
};

std::string_view CodeName(Code code);
Reaction ReactionOf(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  Reaction reaction() const { return ReactionOf(code_); }
  bool retryable() const { return reaction() == Reaction::kRetryCall; }

  // Prefixes the message with context, keeping the code: "wal open: <message>".
  Status Annotate(std::string_view context) const;
  std::string ToString() const;  // "UNAVAILABLE: message"

  // Explicitly drop a status where failure is acceptable (document why at the call site).
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

std::ostream& operator<<(std::ostream& os, const Status& s);

Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status Conflict(std::string message);
Status FailedPrecondition(std::string message);
Status Unauthenticated(std::string message);
Status ResourceExhausted(std::string message);
Status Unavailable(std::string message);
Status Timeout(std::string message);
Status Aborted(std::string message);
Status UnknownOutcome(std::string message);
Status DataLoss(std::string message);
Status Internal(std::string message);

// Result<T>: a T or a non-ok Status. Accessing value() of an error is a programming error
// (it aborts), so check ok() first or use TXC_ASSIGN_OR_RETURN.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status(Code::kInternal, "Result built from ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return Checked(); }
  const T& value() const& { return const_cast<Result*>(this)->Checked(); }
  T&& value() && { return std::move(Checked()); }
  T* operator->() { return &Checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->Checked(); }
  T& operator*() & { return Checked(); }
  const T& operator*() const& { return const_cast<Result*>(this)->Checked(); }
  T value_or(T fallback) const { return ok() ? std::get<T>(v_) : std::move(fallback); }

 private:
  T& Checked();
  std::variant<T, Status> v_;
};

[[noreturn]] void DieOnBadResultAccess(const Status& s);

template <typename T>
T& Result<T>::Checked() {
  if (!ok()) DieOnBadResultAccess(std::get<Status>(v_));
  return std::get<T>(v_);
}

}  // namespace txcoord

#define TXC_CONCAT_INNER(a, b) a##b
#define TXC_CONCAT(a, b) TXC_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` is not ok.
#define TXC_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::txcoord::Status txc_status_ = (expr);    \
    if (!txc_status_.ok()) return txc_status_; \
  } while (0)

// `lhs = value of rexpr`, or return its Status from the enclosing function.
#define TXC_ASSIGN_OR_RETURN(lhs, rexpr) \
  TXC_ASSIGN_OR_RETURN_IMPL(TXC_CONCAT(txc_result_, __LINE__), lhs, rexpr)
#define TXC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                              \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
