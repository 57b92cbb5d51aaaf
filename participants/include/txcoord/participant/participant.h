#pragma once
// The participant interface: what the coordinator drives, in-process (the PostgreSQL and Redis
// adapters) or over HTTP (RemoteParticipant). One branch of one transaction = one BranchId.
//
// Contract for every implementation (DESIGN-NOTES "Exactly-once effect"):
//  * Idempotent: a call delivered twice gives the same answer and is applied once.
//  * Order-tolerant: Abort before Prepare → the late Prepare votes no. Compensate before
//    Execute → succeeds without business effect (null compensation) and the late Execute is
//    refused (anti-hanging). Commit after Commit → ok. Abort after Abort → ok.
//  * Errors say what the caller does next (txcoord::Reaction):
//      vote no / Outcome::kRefused     business refusal (guard failed, row count wrong); final
//      kUnavailable / kTimeout         nothing happened; retry the same call
//      kUnknownOutcome                 may have happened; retry the same (idempotent) call
//      kInvalidArgument / kNotFound    bad call (unknown action, missing payload field); final
//      kConflict                       protocol violation (e.g. Commit of an aborted branch)
// Thread-safety: implementations are safe to call concurrently from many threads.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "txcoord/core/status.h"
#include "txcoord/participant/ids.h"

namespace txcoord::participant {

// Payload fields of one call: a flat JSON object whose scalar values are kept as text
// (numbers in decimal as written, booleans "true"/"false"). Actions bind these by name.
using Payload = std::map<std::string, std::string, std::less<>>;

// A call that carries business work: 2PC Prepare, saga Execute and Compensate.
struct BranchCall {
  BranchId id;
  std::string action;  // declared action name (for Compensate: the compensation action)
  Payload payload;
};

enum class Vote { kYes, kNo };
struct PrepareResult {
  Vote vote = Vote::kNo;
  std::string reason;  // why "no" (empty for yes)
};

enum class Outcome { kDone, kRefused };
struct ExecuteResult {
  Outcome outcome = Outcome::kRefused;
  std::string reason;  // why refused
};

// A branch prepared in the store and not yet decided (2PC), as recovery sees it.
struct InDoubtBranch {
  BranchId id;
  std::chrono::system_clock::time_point prepared_at;  // epoch 0 when the store does not know
};

class Participant {
 public:
  virtual ~Participant() = default;

  // The configured name ("bank-pg"); stable for the life of the object.
  virtual const std::string& name() const = 0;
  // Is `action` declared, and does `payload` carry what it needs? No store access.
  // Lets the coordinator reject a bad request (400) before anything is logged.
  virtual Status Validate(std::string_view action, const Payload& payload) const = 0;

  // --- 2PC ---
  virtual Result<PrepareResult> Prepare(const BranchCall& call) = 0;
  virtual Status Commit(const BranchId& id) = 0;
  virtual Status Abort(const BranchId& id) = 0;

  // --- saga ---
  // Runs the action and commits it locally. Refused if already compensated (anti-hanging).
  virtual Result<ExecuteResult> Execute(const BranchCall& call) = 0;
  // Undoes Execute of the same id with `call.action` (the compensation action). If Execute
  // never ran, records that and succeeds without business effect (null compensation).
  virtual Status Compensate(const BranchCall& call) = 0;

  // --- recovery ---
  // Prepared, undecided branches of txcoord in this store. `coordinator_id` empty = all of them.
  virtual Result<std::vector<InDoubtBranch>> InDoubt(std::string_view coordinator_id) = 0;
};

}  // namespace txcoord::participant
