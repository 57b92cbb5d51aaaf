// Wire helpers and remote-participant config parsing.
#include <gtest/gtest.h>

#include <Poco/JSON/Parser.h>

#include "txcoord/participant/remote.h"
#include "txcoord/participant/wire.h"

namespace txcoord::participant {
namespace {

Poco::JSON::Object::Ptr Json(const std::string& text) {
  return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
}

TEST(Wire, EveryCodeNameRoundTrips) {
  for (int i = 0; i <= static_cast<int>(Code::kInternal); ++i) {
    const Code c = static_cast<Code>(i);
    auto back = wire::CodeFromName(CodeName(c));
    ASSERT_TRUE(back.ok()) << CodeName(c);
    EXPECT_EQ(*back, c);
  }
  EXPECT_EQ(wire::CodeFromName("NOPE").status().code(), Code::kNotFound);
  EXPECT_EQ(wire::FromProto(wire::ToProto(Status::Ok())).code(), Code::kInternal);
}

TEST(Wire, EncodingOfContentType) {
  EXPECT_EQ(*wire::EncodingOf("application/json; charset=utf-8"), wire::Encoding::kJson);
  EXPECT_EQ(*wire::EncodingOf("Application/X-Protobuf"), wire::Encoding::kProtobuf);
  EXPECT_EQ(wire::EncodingOf("text/html").status().code(), Code::kInvalidArgument);
}

TEST(Wire, FallbackCodeWithoutBody) {
  EXPECT_EQ(wire::FallbackCode(502, true), Code::kUnknownOutcome);
  EXPECT_EQ(wire::FallbackCode(502, false), Code::kUnavailable);
  EXPECT_EQ(wire::FallbackCode(401, true), Code::kUnauthenticated);
  EXPECT_EQ(wire::FallbackCode(413, true), Code::kInvalidArgument);
}

TEST(RemoteConfigTest, ParsesTheDocumentedExample) {
  auto c = ParseRemoteConfig(
      *Json(R"({"name":"wallet-redis","kind":"remote","url":"http://127.0.0.1:7001","token":"s",)"
            R"("connect_timeout_ms":250,"call_timeout_ms":3000,"max_connections":8})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "wallet-redis");
  EXPECT_EQ(c->base_url, "http://127.0.0.1:7001");
  EXPECT_EQ(c->token, "s");
  EXPECT_EQ(c->connect_timeout.count(), 250);
  EXPECT_EQ(c->call_timeout.count(), 3000);
  EXPECT_EQ(c->max_connections, 8);
  EXPECT_EQ(c->encoding, wire::Encoding::kProtobuf);
}

TEST(RemoteConfigTest, DefaultsApply) {
  auto c = ParseRemoteConfig(*Json(R"({"name":"w","url":"http://h:1","token":"t",
                                       "encoding":"json"})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->connect_timeout.count(), 1000);
  EXPECT_EQ(c->call_timeout.count(), 5000);
  EXPECT_EQ(c->max_connections, 16);
  EXPECT_EQ(c->encoding, wire::Encoding::kJson);
}

TEST(RemoteConfigTest, BadConfigsAreInvalidArgument) {
  const char* bad[] = {
      R"({"url":"http://h:1","token":"t"})",
      R"({"name":"w","token":"t"})",
      R"({"name":"w","url":"http://h:1"})",
      R"({"name":"w","url":"http://h:1","token":""})",
      R"({"name":"w","kind":"local","url":"http://h:1","token":"t"})",
      R"({"name":"w","url":"https://h:1","token":"t"})",
      R"({"name":"w","url":"http://h:1/base","token":"t"})",
      R"({"name":"w","url":"not a url","token":"t"})",
      R"({"name":"w","url":"http://h:1","token":"t","call_timeout_ms":0})",
      R"({"name":"w","url":"http://h:1","token":"t","connect_timeout_ms":"100"})",
      R"({"name":"w","url":"http://h:1","token":"t","max_connections":0})",
      R"({"name":"w","url":"http://h:1","token":"t","max_connections":1.5})",
      R"({"name":"w","url":"http://h:1","token":"t","encoding":"xml"})",
      R"({"name":"w","url":"http://h:1","token":"t","tokne":"x"})",
      R"({"name":"a/b","url":"http://h:1","token":"t"})",
      R"({"name":7,"url":"http://h:1","token":"t"})",
  };
  for (const char* text : bad) {
    auto c = ParseRemoteConfig(*Json(text));
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument) << text;
    EXPECT_FALSE(c.status().message().empty());
  }
}

TEST(RemoteParticipantTest, LocalValidateChecksOnlyWhatItCan) {
  RemoteConfig c;
  c.name = "w";
  c.base_url = "http://127.0.0.1:1";
  c.token = "t";
  auto r = RemoteParticipant::Create(c);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)->Validate("debit", {{"amount", "1"}}).ok());
  EXPECT_EQ((*r)->Validate("", {}).code(), Code::kInvalidArgument);
  EXPECT_EQ((*r)->Validate("debit", {{"", "1"}}).code(), Code::kInvalidArgument);
  EXPECT_EQ((*r)->InDoubt("bad id!").status().code(), Code::kInvalidArgument);
  c.base_url = "ftp://x";
  EXPECT_EQ(RemoteParticipant::Create(c).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace txcoord::participant
