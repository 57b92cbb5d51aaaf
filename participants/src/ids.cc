#include "txcoord/participant/ids.h"

#include <cctype>

namespace txcoord::participant {
namespace {

bool IsIdChar(char c, bool allow_colon) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
         (allow_colon && c == ':');
}

Status CheckId(std::string_view what, std::string_view v, std::size_t max, bool colon) {
  if (v.empty() || v.size() > max) {
    return InvalidArgument(std::string(what) + " must be 1.." + std::to_string(max) +
                           " bytes, got " + std::to_string(v.size()));
  }
  for (char c : v) {
    if (!IsIdChar(c, colon)) {
      return InvalidArgument(std::string(what) + " '" + std::string(v) +
                             "' has a character outside [A-Za-z0-9._" + (colon ? ":" : "") + "-]");
    }
  }
  return Status::Ok();
}

}  // namespace

Status ValidateCoordinatorId(std::string_view id) {
  return CheckId("coordinator id", id, kMaxCoordinatorIdLen, false);
}
Status ValidateGid(std::string_view gid) {
  return CheckId("gid", gid, kMaxGidLen, true);
}
Status ValidateBranch(std::string_view b) {
  return CheckId("branch", b, kMaxBranchLen, false);
}

Status Validate(const BranchId& id) {
  TXC_RETURN_IF_ERROR(ValidateCoordinatorId(id.coordinator));
  TXC_RETURN_IF_ERROR(ValidateGid(id.gid));
  return ValidateBranch(id.branch);
}

std::string PreparedName(const BranchId& id) {
  std::string s(kPreparedPrefix);
  s += id.coordinator;
  s += ':';
  s += id.gid;
  s += ':';
  s += id.branch;
  return s;
}

Result<BranchId> ParsePreparedName(std::string_view name) {
  if (name.substr(0, kPreparedPrefix.size()) != kPreparedPrefix) {
    return NotFound("not a txcoord prepared name: " + std::string(name));
  }
  std::string_view rest = name.substr(kPreparedPrefix.size());
  const auto first = rest.find(':');
  const auto last = rest.rfind(':');
  if (first == std::string_view::npos || first == last) {
    return NotFound("malformed txcoord prepared name: " + std::string(name));
  }
  BranchId id{std::string(rest.substr(0, first)),
              std::string(rest.substr(first + 1, last - first - 1)),
              std::string(rest.substr(last + 1))};
  if (Status s = Validate(id); !s.ok()) return NotFound(s.message());
  return id;
}

std::string ToString(const BranchId& id) {
  return id.gid + "/" + id.branch + "@" + id.coordinator;
}

}  // namespace txcoord::participant
