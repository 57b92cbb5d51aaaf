#include "txcoord/adapters/config.h"

#include <gtest/gtest.h>

#include <map>

namespace txcoord::adapters {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& n) -> std::optional<std::string> {
    auto it = vars.find(n);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ExpandEnv, ReplacesAndEscapes) {
  auto env = FakeEnv({{"A", "x"}, {"DSN", "postgresql://h:1/db"}});
  EXPECT_EQ(*ExpandEnv("pre-${env:A}-${env:DSN}", env), "pre-x-postgresql://h:1/db");
  EXPECT_EQ(*ExpandEnv("wallet:{${account}}", env), "wallet:{${account}}");  // not env
  EXPECT_EQ(*ExpandEnv("lit $${env:A}", env), "lit ${env:A}");
  EXPECT_EQ(*ExpandEnv("plain {braces} $dollar", env), "plain {braces} $dollar");
}

TEST(ExpandEnv, UnsetOrUnterminatedIsAnError) {
  auto env = FakeEnv({});
  auto r = ExpandEnv("${env:MISSING}", env);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("MISSING"), std::string::npos);
  EXPECT_FALSE(ExpandEnv("${env:OPEN", env).ok());
}

TEST(ParseJsonConfig, ExpandsNestedStringsOnly) {
  auto env = FakeEnv({{"URL", "redis://127.0.0.1:1/0"}, {"Q", "\"},{"}});
  auto cfg = ParseJsonConfig(
      R"({"url":"${env:URL}","n":3,"list":["${env:Q}",{"deep":"${env:URL}"}],"keep":"${x}"})", env);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ((*cfg)->getValue<std::string>("url"), "redis://127.0.0.1:1/0");
  EXPECT_EQ((*cfg)->getValue<int>("n"), 3);
  auto list = (*cfg)->getArray("list");
  EXPECT_EQ(list->getElement<std::string>(0), "\"},{");  // a value cannot inject structure
  EXPECT_EQ(list->getObject(1)->getValue<std::string>("deep"), "redis://127.0.0.1:1/0");
  EXPECT_EQ((*cfg)->getValue<std::string>("keep"), "${x}");
}

TEST(ParseJsonConfig, RejectsBadInput) {
  auto env = FakeEnv({});
  EXPECT_EQ(ParseJsonConfig("{not json", env).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseJsonConfig("[1,2]", env).status().code(), Code::kInvalidArgument);
  auto unset = ParseJsonConfig(R"({"a":{"b":"${env:NOPE}"}})", env);
  ASSERT_FALSE(unset.ok());
  EXPECT_NE(unset.status().message().find("a: b: environment variable NOPE"), std::string::npos)
      << unset.status();
  EXPECT_EQ(LoadJsonConfig("/nonexistent/x.json", env).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace txcoord::adapters
