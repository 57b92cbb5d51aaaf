#pragma once
// Internal: the replay tables and conversions between WAL records and engine values.
#include <map>
#include <string>
#include <vector>

#include "txcoord/coordinator/coordinator.pb.h"
#include "txcoord/coordinator/types.h"

namespace txcoord::coordinator::internal {

namespace v1 = ::txcoord::coordinator::v1;

struct ReplayTxn {
  v1::Begin begin;
  std::vector<v1::Branch> registered;
  v1::Decision decision;                 // outcome OUTCOME_UNSPECIFIED = undecided
  std::vector<v1::SagaStep> saga_steps;  // in log order
};

struct ReplayTables {
  std::map<std::string, ReplayTxn> live;              // gid -> not-ENDed transaction
  std::map<std::string, v1::IdempotencyRecord> idem;  // key -> record
  std::map<std::string, std::string> key_of_gid;      // gid -> idempotency key
  std::uint64_t records_after_checkpoint = 0;
};

std::int64_t ToUnixMs(Clock::WallTime t);
Clock::WallTime FromUnixMs(std::int64_t ms);

std::string Serialize(const google::protobuf::MessageLite& m);
v1::Branch ToProto(const BranchRequest& b);

// 64-bit FNV-1a of a canonical form of the request, as 16 hex digits.
std::string HashRequest(const TxnRequest& r);
std::string HashRequest(const OpenRequest& r);
std::string HashRequest(const SagaRequest& r);

}  // namespace txcoord::coordinator::internal
