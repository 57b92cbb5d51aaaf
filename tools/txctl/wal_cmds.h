#pragma once
// txctl wal dump|verify|repair DIR — offline: the coordinator must be down (verify and repair
// take the WAL's owner lock and fail with a clear error while txcoordd holds it; dump only reads).
#include <string>

#include "args.h"

namespace txcoord::txctl {

// Each returns a process exit code (json_out.h) and writes its report to stdout, errors to stderr.
int WalDump(const std::string& dir, bool json);
int WalVerify(const std::string& dir, bool json);
int WalRepair(const std::string& dir, bool json);

}  // namespace txcoord::txctl
