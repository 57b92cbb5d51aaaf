#pragma once
// The one codec between the 2PC machine's records (txcoord/twopc/types.h) and the WAL format
// (coordinator.proto's Record). Used for every record written and replayed; bytes in, bytes out,
// so callers need no Protobuf. Timestamps: the machine has no clock, `at_unix_ms` is the
// caller's (0 = unknown).
#include <string>
#include <string_view>

#include "txcoord/core/status.h"
#include "txcoord/twopc/types.h"

namespace txcoord::coordinator {

std::string EncodeTwopcRecord(const twopc::Record& record, std::int64_t at_unix_ms = 0);
// InvalidArgument for bytes that are not a Record, DataLoss... never; a saga record or an empty
// one is InvalidArgument too (not a 2PC record).
Result<twopc::Record> DecodeTwopcRecord(std::string_view bytes);

}  // namespace txcoord::coordinator
