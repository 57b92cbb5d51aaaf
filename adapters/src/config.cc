#include "txcoord/adapters/config.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace txcoord::adapters {
namespace {

std::optional<std::string> GetEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

Status ExpandValue(Poco::Dynamic::Var& value, const EnvLookup& env);

Status ExpandObject(Poco::JSON::Object& obj, const EnvLookup& env) {
  for (auto& [key, value] : obj) {
    TXC_RETURN_IF_ERROR(ExpandValue(value, env).Annotate(key));
  }
  return Status::Ok();
}

Status ExpandValue(Poco::Dynamic::Var& value, const EnvLookup& env) {
  if (value.type() == typeid(Poco::JSON::Object::Ptr)) {
    Poco::JSON::Object::Ptr obj = value.extract<Poco::JSON::Object::Ptr>();
    return ExpandObject(*obj, env);
  }
  if (value.type() == typeid(Poco::JSON::Array::Ptr)) {
    Poco::JSON::Array::Ptr arr = value.extract<Poco::JSON::Array::Ptr>();
    for (std::size_t i = 0; i < arr->size(); ++i) {
      Poco::Dynamic::Var item = arr->get(i);
      TXC_RETURN_IF_ERROR(ExpandValue(item, env).Annotate("[" + std::to_string(i) + "]"));
      arr->set(i, item);
    }
    return Status::Ok();
  }
  if (value.isString()) {
    TXC_ASSIGN_OR_RETURN(std::string expanded, ExpandEnv(value.extract<std::string>(), env));
    value = expanded;
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> ExpandEnv(std::string_view text, const EnvLookup& env) {
  static constexpr std::string_view kOpen = "${env:";
  const EnvLookup& lookup = env ? env : EnvLookup(GetEnv);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '$' && text.substr(i + 1, kOpen.size()) == kOpen) {  // "$${env:" escape
      out += kOpen;
      i += 1 + kOpen.size();
    } else if (text.substr(i, kOpen.size()) == kOpen) {
      const auto close = text.find('}', i + kOpen.size());
      if (close == std::string_view::npos) {
        return InvalidArgument("unterminated ${env: in '" + std::string(text) + "'");
      }
      const std::string name(text.substr(i + kOpen.size(), close - i - kOpen.size()));
      auto v = lookup(name);
      if (!v) return InvalidArgument("environment variable " + name + " is not set");
      out += *v;
      i = close + 1;
    } else {
      out += text[i++];
    }
  }
  return out;
}

Result<Poco::JSON::Object::Ptr> ParseJsonConfig(std::string_view text, const EnvLookup& env) {
  Poco::Dynamic::Var root;
  try {
    Poco::JSON::Parser parser;
    root = parser.parse(std::string(text));
  } catch (const Poco::Exception& e) {
    return InvalidArgument("invalid JSON: " + e.displayText());
  }
  if (root.type() != typeid(Poco::JSON::Object::Ptr)) {
    return InvalidArgument("the configuration must be a JSON object");
  }
  auto obj = root.extract<Poco::JSON::Object::Ptr>();
  TXC_RETURN_IF_ERROR(ExpandObject(*obj, env));
  return obj;
}

Result<Poco::JSON::Object::Ptr> LoadJsonConfig(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = ParseJsonConfig(ss.str(), env);
  if (!parsed.ok()) return parsed.status().Annotate(path);
  return parsed;
}

}  // namespace txcoord::adapters
