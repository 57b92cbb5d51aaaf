#include "txcoord/core/status.h"

#include <cstdio>
#include <cstdlib>

namespace txcoord {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case Code::kNotFound:
      return "NOT_FOUND";
    case Code::kConflict:
      return "CONFLICT";
    case Code::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case Code::kUnauthenticated:
      return "UNAUTHENTICATED";
    case Code::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case Code::kUnavailable:
      return "UNAVAILABLE";
    case Code::kTimeout:
      return "TIMEOUT";
    case Code::kAborted:
      return "ABORTED";
    case Code::kUnknownOutcome:
      return "UNKNOWN_OUTCOME";
    case Code::kDataLoss:
      return "DATA_LOSS";
    case Code::kInternal:
      return "INTERNAL";
  }
  return "INVALID_CODE";
}

Reaction ReactionOf(Code code) {
  switch (code) {
    case Code::kOk:
      return Reaction::kNone;
    case Code::kInvalidArgument:
    case Code::kNotFound:
    case Code::kConflict:
    case Code::kFailedPrecondition:
    case Code::kUnauthenticated:
      return Reaction::kFixRequest;
    case Code::kResourceExhausted:
    case Code::kUnavailable:
    case Code::kTimeout:
      return Reaction::kRetryCall;
    case Code::kAborted:
      return Reaction::kRetryTransaction;
    case Code::kUnknownOutcome:
      return Reaction::kResolveUnknown;
    case Code::kDataLoss:
    case Code::kInternal:
      return Reaction::kGiveUp;
  }
  return Reaction::kGiveUp;
}

Status Status::Annotate(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return {code_, std::move(msg)};
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s(CodeName(code_));
  s += ": ";
  s += message_;
  return s;
}

std::ostream& operator<<(std::ostream& os, const Status& s) {
  return os << s.ToString();
}

Status InvalidArgument(std::string m) {
  return {Code::kInvalidArgument, std::move(m)};
}
Status NotFound(std::string m) {
  return {Code::kNotFound, std::move(m)};
}
Status Conflict(std::string m) {
  return {Code::kConflict, std::move(m)};
}
Status FailedPrecondition(std::string m) {
  return {Code::kFailedPrecondition, std::move(m)};
}
Status Unauthenticated(std::string m) {
  return {Code::kUnauthenticated, std::move(m)};
}
Status ResourceExhausted(std::string m) {
  return {Code::kResourceExhausted, std::move(m)};
}
Status Unavailable(std::string m) {
  return {Code::kUnavailable, std::move(m)};
}
Status Timeout(std::string m) {
  return {Code::kTimeout, std::move(m)};
}
Status Aborted(std::string m) {
  return {Code::kAborted, std::move(m)};
}
Status UnknownOutcome(std::string m) {
  return {Code::kUnknownOutcome, std::move(m)};
}
Status DataLoss(std::string m) {
  return {Code::kDataLoss, std::move(m)};
}
Status Internal(std::string m) {
  return {Code::kInternal, std::move(m)};
}

void DieOnBadResultAccess(const Status& s) {
  std::fprintf(stderr, "txcoord: value() of an error Result: %s\n", s.ToString().c_str());
  std::abort();
}

}  // namespace txcoord
