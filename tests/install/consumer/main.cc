// A service embedding txcoord through its installed CMake package.
#include <cstdio>

#include "txcoord/core/status.h"

int main() {
  txcoord::Status s = txcoord::Unavailable("probe");
  std::printf("consumer linked txcoord: %s\n", s.ToString().c_str());
  return s.retryable() ? 0 : 1;
}
