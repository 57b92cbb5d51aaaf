#pragma once
// The one codec between the saga machine's records (txcoord/saga/machine.h) and the WAL format
// (coordinator.proto's Record), as twopc_codec.h is for 2PC. Bytes in, bytes out. The machine's
// step, decision and end records carry no gid (one machine per saga): the caller passes it in,
// and decoding hands it back. Timestamps: the machine has no clock, `at_unix_ms` is the
// caller's (0 = unknown). Records written by today's engine decode the same way, except what
// the machine does not model yet: an operator's heuristic END and DECISION fields (dropped on
// decode) and BEGIN's idempotency key and request hash (never written by EncodeSagaRecord).
#include <cstdint>
#include <string>
#include <string_view>

#include "txcoord/core/status.h"
#include "txcoord/saga/machine.h"

namespace txcoord::coordinator {

std::string EncodeSagaRecord(std::string_view gid, const saga::Record& record,
                             std::int64_t at_unix_ms = 0);

struct DecodedSagaRecord {
  std::string gid;
  saga::Record record;
};
// InvalidArgument for bytes that are not a Record, a 2PC record (BEGIN of mode "2pc", a
// REGISTER, a COMMIT decision), or a saga record with an unknown phase, event or final state.
Result<DecodedSagaRecord> DecodeSagaRecord(std::string_view bytes);

}  // namespace txcoord::coordinator
