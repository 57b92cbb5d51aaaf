#pragma once
// RecoveredState: what the engine's WAL records say, rebuilt by replaying a wal::Log.
//
//   coordinator::RecoveredState state;
//   auto log = wal::Log::Open(options, state.Visitor());   // replays into `state`
//   auto tm = TransactionManager::Start(config, participants, std::move(*log), std::move(state),
//                                       clock, random);
//
// Replay is idempotent (log.h allows a record to be in a checkpoint and replayed after it):
// a checkpoint replaces everything seen before it; a BEGIN for a known gid, a duplicate
// REGISTER_BRANCH, a second DECISION and an END for an unknown gid are ignored. An END moves
// its transaction to the finished ones kept for Get/List (the newest max_finished_kept).
// A record that does not parse fails the replay with kDataLoss.
// Thread-safety: not thread-safe; used by one thread during Open.
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "txcoord/coordinator/types.h"
#include "txcoord/core/status.h"
#include "txcoord/wal/log.h"

namespace txcoord::coordinator {

namespace internal {
struct ReplayTables;  // defined in src/records.h
}

class RecoveredState {
 public:
  // Keeps the newest `max_finished_kept` finished transactions (pass Config::max_finished_kept).
  explicit RecoveredState(std::size_t max_finished_kept = kDefaultMaxFinishedKept);
  ~RecoveredState();
  RecoveredState(RecoveredState&&) noexcept;
  RecoveredState& operator=(RecoveredState&&) noexcept;

  // A visitor for wal::Log::Open. Valid while this object lives.
  wal::ReplayVisitor Visitor();
  Status Apply(const wal::ReplayedRecord& record);

  std::size_t live_transactions() const;
  std::size_t idempotency_records() const;
  std::uint64_t records_seen() const { return records_seen_; }

  internal::ReplayTables& tables() { return *tables_; }

 private:
  std::unique_ptr<internal::ReplayTables> tables_;
  std::uint64_t records_seen_ = 0;
};

}  // namespace txcoord::coordinator
