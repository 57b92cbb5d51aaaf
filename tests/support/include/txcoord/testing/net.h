#pragma once
// Loopback helpers for tests that start servers.
#include <cstdint>

namespace txcoord::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bound, read, released), 0 on error.
// Racy by nature: another process may take it before the caller binds it.
std::uint16_t FreeLoopbackPort();

}  // namespace txcoord::testing
