#pragma once
// txctl wal dump|verify|repair DIR — offline: the coordinator must be down (verify and repair
// take the WAL's owner lock and fail with a clear error while txcoordd holds it; dump only reads).
#include <string>

#include "args.h"

namespace txcoord::txctl {

// Each returns a process exit code (json_out.h) and writes its report to stdout, errors to stderr.
// `gid` non-empty: only the records about that transaction (its timeline). Dump takes no lock,
// so it may run while txcoordd writes (a partly written last frame then shows as bad).
int WalDump(const std::string& dir, bool json, const std::string& gid);
int WalVerify(const std::string& dir, bool json);
int WalRepair(const std::string& dir, bool json);

}  // namespace txcoord::txctl
