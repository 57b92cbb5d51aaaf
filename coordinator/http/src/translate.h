#pragma once
// API requests (txcoord/api/request.h) into the engine's requests. Internal; pure functions.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "txcoord/api/request.h"
#include "txcoord/coordinator/transaction_manager.h"

namespace txcoord::server {

// Moves the steps out of `r`.
coordinator::SagaRequest SagaRequestOf(api::TransactionRequest& r,
                                       std::optional<std::chrono::milliseconds> timeout,
                                       const std::string& key);

}  // namespace txcoord::server
