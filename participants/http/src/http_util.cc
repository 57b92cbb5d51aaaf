#include "txcoord/participant/http_util.h"

#include <array>

namespace txcoord::participant::http {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

Status CheckBearer(const Poco::Net::HTTPServerRequest& req, std::string_view token) {
  return CheckBearerHeader(req.get("Authorization", std::string()), token);
}

Status CheckBearerHeader(std::string_view auth, std::string_view token) {
  if (auth.empty()) return Unauthenticated("missing bearer token");
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.compare(0, kBearer.size(), kBearer) != 0 ||
      !ConstantTimeEquals(auth.substr(kBearer.size()), token)) {
    return Unauthenticated("wrong bearer token");
  }
  return Status::Ok();
}

bool Drain(std::istream& in, std::size_t cap) {
  std::array<char, 16384> buf;
  std::size_t total = 0;
  while (in && total <= cap) {
    in.read(buf.data(), buf.size());
    total += static_cast<std::size_t>(in.gcount());
  }
  return in.eof() && total <= cap;
}

std::optional<std::string> ReadBody(Poco::Net::HTTPServerRequest& req, std::size_t limit) {
  if (req.hasContentLength() && req.getContentLength64() > static_cast<Poco::Int64>(limit)) {
    return std::nullopt;
  }
  std::string body;
  std::array<char, 16384> buf;
  std::istream& in = req.stream();
  while (in) {
    in.read(buf.data(), buf.size());
    body.append(buf.data(), static_cast<std::size_t>(in.gcount()));
    if (body.size() > limit) return std::nullopt;
  }
  return body;
}

}  // namespace txcoord::participant::http
