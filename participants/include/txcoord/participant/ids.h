#pragma once
// Identifiers of a branch and the names stores keep them under.
//
//   coordinator id  1..32 bytes of [A-Za-z0-9._-]
//   gid             1..128 bytes of [A-Za-z0-9._:-]
//   branch          1..16 bytes of [A-Za-z0-9._-]
//   prepared name   "txc:<coordinator>:<gid>:<branch>"  (≤ 182 bytes < PostgreSQL's GIDSIZE 200)
// The "txc:<coordinator>:" prefix lets recovery tell our prepared transactions from others'.
// gid may contain ':' — the name is parsed from both ends (coordinator and branch have none).
#include <string>
#include <string_view>

#include "txcoord/core/status.h"

namespace txcoord::participant {

inline constexpr std::size_t kMaxCoordinatorIdLen = 32;
inline constexpr std::size_t kMaxGidLen = 128;
inline constexpr std::size_t kMaxBranchLen = 16;
inline constexpr std::string_view kPreparedPrefix = "txc:";

struct BranchId {
  std::string coordinator;
  std::string gid;
  std::string branch;

  friend bool operator==(const BranchId&, const BranchId&) = default;
  friend auto operator<=>(const BranchId&, const BranchId&) = default;
};

Status ValidateCoordinatorId(std::string_view id);
Status ValidateGid(std::string_view gid);
Status ValidateBranch(std::string_view branch);
Status Validate(const BranchId& id);

// "txc:<coordinator>:<gid>:<branch>". Precondition: Validate(id).ok().
std::string PreparedName(const BranchId& id);
// Inverse of PreparedName; NotFound for names that are not txcoord's.
Result<BranchId> ParsePreparedName(std::string_view name);
// For logs and errors: "<gid>/<branch>@<coordinator>".
std::string ToString(const BranchId& id);

}  // namespace txcoord::participant
