#include "txcoord/testing/env.h"

#include <cstdlib>

namespace txcoord::testing {

std::string RequiredEnv(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace txcoord::testing
