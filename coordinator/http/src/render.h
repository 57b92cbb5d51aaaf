#pragma once
// Turning engine views and errors into API bodies (JSON or api.proto). Internal.
#include <string>

#include "txcoord/api/api.pb.h"
#include "txcoord/coordinator/types.h"
#include "txcoord/core/status.h"

namespace txcoord::server {

enum class Encoding { kJson, kProtobuf };

// The API's decision-level state: active, preparing, committed (decided commit, phase 2 done or
// not), aborted (decided abort).
std::string_view ApiState(coordinator::TxnState s);

api::v1::TransactionResponse ToProto(const coordinator::TxnView& v);
std::string RenderTxn(const coordinator::TxnView& v, Encoding e);
std::string RenderTxnList(const std::vector<coordinator::TxnView>& views);  // JSON only
std::string RenderError(const Status& s, Encoding e);

// HTTP status for an engine/API error.
int HttpStatusFor(const Status& s);

}  // namespace txcoord::server
