#pragma once
// HTTP calls to txcoordd for the online txctl commands, and parsing of its answers.
// Never throws: Poco exceptions (connection refused, timeout, bad URL) become Reply::error.
#include <Poco/JSON/Object.h>

#include <map>
#include <string>

namespace txcoord::txctl {

struct Endpoint {
  std::string url;
  std::string token;  // empty = no Authorization header
  bool json = false;  // --json output
};

struct Reply {
  int status = -1;  // -1: no answer; see error
  std::string body;
  std::string error;
};

// One request with a `timeout_s` timeout; `body` empty = none, else sent as application/json.
Reply Call(const Endpoint& ep, const std::string& method, const std::string& path,
           const std::string& body = "", int timeout_s = 15);
// "CODE: message" of an API error body, "no answer: ..." or the raw body.
std::string ErrorText(const Reply& r);
// The body as a JSON object; nullptr when it is not one.
Poco::JSON::Object::Ptr ParseObject(const std::string& body);
// A field as a string ("" when absent or null).
std::string Str(const Poco::JSON::Object::Ptr& o, const std::string& key);
// Prometheus text -> sample (name with labels, as written) -> value.
std::map<std::string, double> ParseMetrics(const std::string& text);

}  // namespace txcoord::txctl
