#include "http_call.h"

#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <sstream>

namespace txcoord::txctl {

using Poco::JSON::Object;

Reply Call(const Endpoint& ep, const std::string& method, const std::string& path,
           const std::string& body, int timeout_s) {
  Reply r;
  try {
    Poco::URI uri(ep.url);
    Poco::Net::HTTPClientSession session(uri.getHost(), uri.getPort());
    session.setTimeout(Poco::Timespan(timeout_s, 0));
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    if (!ep.token.empty()) req.set("Authorization", "Bearer " + ep.token);
    req.setContentLength(static_cast<std::streamsize>(body.size()));
    if (!body.empty()) req.setContentType("application/json");
    session.sendRequest(req) << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    Poco::StreamCopier::copyToString(in, r.body);
    r.status = static_cast<int>(resp.getStatus());
  } catch (const std::exception& e) {  // Poco edge: connection refused, timeout, bad URL
    r.error = e.what();
  }
  return r;
}

// The error message of an API error body, or the raw body.
std::string ErrorText(const Reply& r) {
  if (r.status < 0) return "no answer: " + r.error;
  try {
    auto obj = Poco::JSON::Parser().parse(r.body).extract<Object::Ptr>();
    auto err = obj->getObject("error");
    if (err)
      return err->getValue<std::string>("code") + ": " + err->getValue<std::string>("message");
  } catch (const std::exception&) {
  }
  return "HTTP " + std::to_string(r.status) + ": " + r.body;
}

Object::Ptr ParseObject(const std::string& body) {
  try {
    return Poco::JSON::Parser().parse(body).extract<Object::Ptr>();
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::string Str(const Object::Ptr& o, const std::string& key) {
  return o && o->has(key) && !o->isNull(key) ? o->getValue<std::string>(key) : "";
}

// Prometheus text -> sample name (with labels) -> value.
std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    try {
      m[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    } catch (const std::exception&) {
    }
  }
  return m;
}

}  // namespace txcoord::txctl
