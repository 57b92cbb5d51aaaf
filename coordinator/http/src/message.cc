#include "message.h"

#include <strings.h>

#include "handler.h"

namespace txcoord::server {

const std::string* FindHeader(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return &v;
  }
  return nullptr;
}

bool IsInlineRoute(const HttpRequest& request) {
  const std::string_view t = request.target;
  const std::string_view path = t.substr(0, t.find('?'));
  return path == "/healthz" || path == "/readyz" || path == "/metrics";
}

}  // namespace txcoord::server
