#pragma once
// The API's transport-neutral HTTP messages (internal). The front (session.cc, Beast) parses a
// request into HttpRequest and writes whatever HttpResponse the handler produced; the handler
// (handler.cc) knows nothing of sockets. Plain values: no thread-safety of their own.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace txcoord::server {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// The value of the first header named `name` (case-insensitive), or nullptr.
const std::string* FindHeader(const HttpHeaders& headers, std::string_view name);

struct HttpRequest {
  std::string method;  // as received, e.g. "GET"; unknown methods are kept as they came
  std::string target;  // origin-form, e.g. "/v1/transactions?wait=false"
  HttpHeaders headers;
  std::string body;
  // The body exceeded max_body_bytes: `body` is empty and the rest of it was not read. A route
  // that reads the body answers 413; the connection is then closed.
  bool body_too_large = false;

  const std::string* Header(std::string_view name) const { return FindHeader(headers, name); }
  std::string HeaderOr(std::string_view name, std::string fallback) const {
    const std::string* v = Header(name);
    return v ? *v : std::move(fallback);
  }
};

struct HttpResponse {
  int status = 500;
  HttpHeaders headers;  // Content-Type and the like; the front adds Content-Length and Connection
  std::string body;
  bool close = false;  // the connection must not be reused after this response
};

}  // namespace txcoord::server
