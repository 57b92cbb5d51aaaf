#pragma once
// Internal: the replay tables and conversions between WAL records and engine values.
#include <deque>
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
  v1::Decision decision;                    // outcome OUTCOME_UNSPECIFIED = undecided
  std::vector<v1::SagaStep> saga_steps;     // in log order
  std::vector<v1::TimelineEntry> timeline;  // bounded like Txn::timeline
  v1::End end;                              // finished only: its END, final_state set
};

struct ReplayTables {
  std::map<std::string, ReplayTxn> live;              // gid -> not-ENDed transaction
  std::map<std::string, v1::IdempotencyRecord> idem;  // key -> record
  std::map<std::string, std::string> key_of_gid;      // gid -> idempotency key
  // ENDed transactions, the newest max_finished (finished_order: oldest first), for Get/List.
  std::map<std::string, ReplayTxn> finished;
  std::deque<std::string> finished_order;  // each gid in `finished` once
  std::size_t max_finished = kDefaultMaxFinishedKept;
  std::uint64_t records_after_checkpoint = 0;
  std::uint64_t bytes_after_checkpoint = 0;  // their bodies
  std::uint64_t checkpoint_bytes = 0;        // the replayed checkpoint's body; 0 = none
};

std::int64_t ToUnixMs(Clock::WallTime t);
Clock::WallTime FromUnixMs(std::int64_t ms);

// The timeline line of a record; `end_state` names the final state of a 2PC END (its record
// leaves final_state empty). Records of no interest give an entry with an empty `record`.
v1::TimelineEntry TimelineOf(const v1::Record& rec, std::string_view end_state = "");
// Appends keeping the first entry and the newest kMaxTimelineEntries-1.
void AppendTimeline(std::vector<v1::TimelineEntry>& line, v1::TimelineEntry e);
TimelineEntry FromProto(const v1::TimelineEntry& e);
v1::TimelineEntry ToProto(const TimelineEntry& e);

// The gid a record is about (every kind names one; empty for KIND_NOT_SET).
const std::string& GidOf(const v1::Record& rec);

std::string Serialize(const google::protobuf::MessageLite& m);
v1::Branch ToProto(const BranchRequest& b);

// 64-bit FNV-1a of a canonical form of the request, as 16 hex digits.
std::string HashRequest(const TxnRequest& r);
std::string HashRequest(const OpenRequest& r);
std::string HashRequest(const SagaRequest& r);

}  // namespace txcoord::coordinator::internal
