#pragma once
// Loopback helpers for tests that start servers.
#include <cstdint>

namespace txcoord::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bound, released), 0 on error. Picked at
// random below the kernel's ephemeral range when it can be (client sockets cannot take it as a
// local port meanwhile). Still racy: another server may bind it before the caller does.
std::uint16_t FreeLoopbackPort();

}  // namespace txcoord::testing
