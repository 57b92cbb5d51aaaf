#include "txcoord/testing/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>

namespace txcoord::testing {
namespace {

// Binds 127.0.0.1:`port` (0 = any) and releases it; the bound port, 0 on failure.
std::uint16_t TryBind(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  socklen_t len = sizeof addr;
  std::uint16_t bound = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    bound = ntohs(addr.sin_port);
  }
  ::close(fd);
  return bound;
}

}  // namespace

std::uint16_t FreeLoopbackPort() {
  // Below the ephemeral range (as scripts/lib/ports.sh): a port in it can become some client
  // connection's local port before the server binds it.
  unsigned low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low;
  if (low > 21024) {
    std::mt19937 gen(std::random_device{}());
    std::uniform_int_distribution<unsigned> pick(20000, low - 1);
    for (int i = 0; i < 100; ++i) {
      if (std::uint16_t p = TryBind(static_cast<std::uint16_t>(pick(gen)))) return p;
    }
  }
  return TryBind(0);
}

}  // namespace txcoord::testing
