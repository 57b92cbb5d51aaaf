#pragma once
// Small server-side HTTP helpers shared by the participant server and the coordinator's API
// server: bearer-token checks and bounded body reading. Thread-safety: free functions.
#include <cstddef>
#include <istream>
#include <optional>
#include <string>
#include <string_view>

#include <Poco/Net/HTTPServerRequest.h>

#include "txcoord/core/status.h"

namespace txcoord::participant::http {

// Compares in time independent of where the strings differ (token checks).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Ok when the request carries "Authorization: Bearer <token>"; Unauthenticated saying whether
// the token was missing ("missing bearer token") or wrong ("wrong bearer token") otherwise.
Status CheckBearer(const Poco::Net::HTTPServerRequest& req, std::string_view token);
// The same from the Authorization header's value ("" when the header is absent).
Status CheckBearerHeader(std::string_view authorization, std::string_view token);

// The whole body, or nullopt when it exceeds `limit` (decided from Content-Length before reading
// anything, else while streaming: at most limit + one buffer is held).
std::optional<std::string> ReadBody(Poco::Net::HTTPServerRequest& req, std::size_t limit);

// Reads and drops up to `cap` bytes of a body; true when the body ended within the cap (the
// connection can then be kept alive).
bool Drain(std::istream& in, std::size_t cap);

}  // namespace txcoord::participant::http
