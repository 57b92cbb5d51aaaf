#include "json_out.h"

#include "txcoord/core/log.h"

namespace txcoord::txctl {

std::string JsonString(std::string_view s) {
  std::string out;
  log::AppendJsonString(out, s);
  return out;
}

}  // namespace txcoord::txctl
