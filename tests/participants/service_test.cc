// The HTTP surface of ParticipantService, driven with raw requests.
#include <gtest/gtest.h>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>

#include <Poco/Net/StreamSocket.h>

#include "http_fixture.h"
#include "txcoord/core/fault.h"
#include "txcoord/participant/wire.h"

namespace txcoord::participant::testing {
namespace {

namespace pb = wire::pb;

const std::string kPrepare = "/v1/participant/wallet/prepare";
const std::string kGoodJson =
    R"({"id":{"coordinator":"c1","gid":"g-1","branch":"b0"},"action":"debit",)"
    R"("payload":{"amount":"5"}})";

RawRequest Post(const std::string& path, std::string body,
                std::string content_type = "application/json") {
  RawRequest r;
  r.path = path;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

Status ErrorOf(const RawAnswer& a) {
  pb::ErrorResponse e;
  auto enc = wire::EncodingOf(a.content_type);
  if (!enc.ok()) return enc.status();
  TXC_RETURN_IF_ERROR(wire::Decode(a.body, *enc, &e));
  return wire::FromProto(e);
}

using ServiceTest = ServerFixture;

TEST_F(ServiceTest, JsonPrepareAnswersJson) {
  RawAnswer a = Send(port_, Post(kPrepare, kGoodJson));
  ASSERT_EQ(a.status, 200) << a.error << a.body;
  EXPECT_EQ(a.content_type, "application/json");
  EXPECT_NE(a.body.find("VOTE_YES"), std::string::npos) << a.body;
  ASSERT_EQ(fake_->calls(), 1);
  EXPECT_EQ(fake_->recorded()[0].payload.at("amount"), "5");
}

TEST_F(ServiceTest, ProtobufPrepareAnswersProtobuf) {
  pb::PrepareRequest req;
  *req.mutable_id() = wire::ToProto(BranchId{"c1", "g-1", "b0"});
  req.set_action("debit");
  RawAnswer a = Send(port_, Post(kPrepare, req.SerializeAsString(), "application/x-protobuf"));
  ASSERT_EQ(a.status, 200) << a.error << a.body;
  EXPECT_EQ(a.content_type, "application/x-protobuf");
  pb::PrepareResponse resp;
  ASSERT_TRUE(resp.ParseFromString(a.body));
  EXPECT_EQ(resp.vote(), pb::PrepareResponse::VOTE_YES);
}

TEST_F(ServiceTest, VoteNoIsA200) {
  fake_->SetVoteNo("guard failed");
  RawAnswer a = Send(port_, Post(kPrepare, kGoodJson));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("VOTE_NO"), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("guard failed"), std::string::npos) << a.body;
  a = Send(port_, Post("/v1/participant/wallet/execute", kGoodJson));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("OUTCOME_REFUSED"), std::string::npos) << a.body;
}

TEST_F(ServiceTest, MissingOrWrongTokenIs401AndNothingApplied) {
  RawRequest r = Post(kPrepare, kGoodJson);
  r.authorization = "";
  RawAnswer a = Send(port_, r);
  EXPECT_EQ(a.status, 401) << a.body;
  EXPECT_EQ(ErrorOf(a).code(), Code::kUnauthenticated);
  r.authorization = "Bearer not-the-token";
  EXPECT_EQ(Send(port_, r).status, 401);
  r.authorization = std::string("Basic ") + kToken;
  EXPECT_EQ(Send(port_, r).status, 401);
  r.authorization = std::string("Bearer ") + kToken + "x";
  EXPECT_EQ(Send(port_, r).status, 401);
  RawRequest get;
  get.method = "GET";
  get.path = "/v1/participant/wallet/in_doubt";
  get.authorization = "";
  EXPECT_EQ(Send(port_, get).status, 401);
  EXPECT_EQ(fake_->calls(), 0);
}

TEST_F(ServiceTest, OversizedBodyIs413AndNothingApplied) {
  ServiceOptions opts;
  opts.max_body_bytes = 1024;
  StartServer(opts, {});
  const std::string big = R"({"action":"debit","payload":{"x":")" + std::string(4096, 'a') + "\"}}";
  RawAnswer a = Send(port_, Post(kPrepare, big));
  EXPECT_EQ(a.status, 413) << a.error << a.body;
  EXPECT_EQ(ErrorOf(a).code(), Code::kInvalidArgument);
  RawRequest chunked = Post(kPrepare, big);
  chunked.chunked = true;  // no Content-Length: the limit applies while streaming
  a = Send(port_, chunked);
  EXPECT_EQ(a.status, 413) << a.error << a.body;
  EXPECT_EQ(fake_->calls(), 0);
  EXPECT_EQ(Send(port_, Post(kPrepare, kGoodJson)).status, 200);
}

TEST_F(ServiceTest, HugeDeclaredLengthIs413WithoutWaitingForTheBody) {
  Poco::Net::StreamSocket sock(Poco::Net::SocketAddress("127.0.0.1", port_));
  sock.setReceiveTimeout(Poco::Timespan(10, 0));
  const std::string head = "POST " + kPrepare + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                           kToken +
                           "\r\nContent-Type: application/json\r\n"
                           "Content-Length: 1073741824\r\n\r\n{";
  sock.sendBytes(head.data(), static_cast<int>(head.size()));
  std::string answer;
  char buf[4096];
  for (int n; (n = sock.receiveBytes(buf, sizeof buf)) > 0;) answer.append(buf, n);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
  EXPECT_NE(answer.find("exceeds the limit"), std::string::npos) << answer;
  EXPECT_EQ(fake_->calls(), 0);
}

TEST_F(ServiceTest, ServerFaultBeforeApplyAnswersTheCodeAndAppliesNothing) {
  fault::ScopedFault f("participant.server.before_apply", fault::Spec::Error(Code::kUnavailable));
  RawAnswer a = Send(port_, Post(kPrepare, kGoodJson));
  EXPECT_EQ(a.status, 503) << a.body;
  EXPECT_EQ(ErrorOf(a).code(), Code::kUnavailable);
  EXPECT_EQ(fake_->calls(), 0);
}

TEST_F(ServiceTest, MalformedBodiesAre400WithReasonAndNothingApplied) {
  struct Case {
    std::string body, content_type, reason;
  };
  const std::vector<Case> cases = {
      {"{not json", "application/json", "malformed JSON"},
      {R"({"id":{"coordinator":"c1","gid":"g","branch":"b"},"action":"a","bogus":1})",
       "application/json", "malformed JSON"},
      {"\xff\xff\xff\xff", "application/x-protobuf", "malformed protobuf"},
      {R"({"action":"debit"})", "application/json", "missing field 'id'"},
      {R"({"id":{"coordinator":"c1","gid":"g-1","branch":"b0"}})", "application/json",
       "missing field 'action'"},
      {R"({"id":{"coordinator":"c1","gid":"bad gid","branch":"b0"},"action":"a"})",
       "application/json", "gid"},
      {R"({"id":{"coordinator":"","gid":"g","branch":"b0"},"action":"a"})", "application/json",
       "coordinator id"},
      {R"({"id":{"coordinator":"c1","gid":"g","branch":"b0"},"action":"a","payload":{"n":1}})",
       "application/json", "malformed JSON"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    RawAnswer a = Send(port_, Post(kPrepare, c.body, c.content_type));
    EXPECT_EQ(a.status, 400) << a.error << a.body;
    Status s = ErrorOf(a);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s;
    EXPECT_NE(s.message().find(c.reason), std::string::npos) << s;
  }
  RawAnswer a = Send(port_, Post("/v1/participant/wallet/commit", R"({"id":{}})"));
  EXPECT_EQ(a.status, 400) << a.body;
  RawRequest q;
  q.method = "GET";
  q.path = "/v1/participant/wallet/in_doubt?coordinator=bad%20id";
  EXPECT_EQ(Send(port_, q).status, 400);
  EXPECT_EQ(fake_->calls(), 0);
}

TEST_F(ServiceTest, UnknownParticipantOrActionIs404) {
  RawAnswer a = Send(port_, Post("/v1/participant/nobody/prepare", kGoodJson));
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(ErrorOf(a).code(), Code::kNotFound);
  EXPECT_NE(ErrorOf(a).message().find("nobody"), std::string::npos);
  EXPECT_EQ(Send(port_, Post("/v1/participant/wallet/explode", kGoodJson)).status, 404);
  EXPECT_EQ(Send(port_, Post("/v1/participant/wallet/prepare/x", kGoodJson)).status, 404);
  EXPECT_EQ(Send(port_, Post("/v2/other", kGoodJson)).status, 404);
  EXPECT_EQ(fake_->calls(), 0);
}

TEST_F(ServiceTest, WrongMethodOrContentTypeIsRejected) {
  RawRequest get;
  get.method = "GET";
  get.path = kPrepare;
  EXPECT_EQ(Send(port_, get).status, 405);
  EXPECT_EQ(Send(port_, Post("/v1/participant/wallet/in_doubt", "")).status, 405);
  RawAnswer a = Send(port_, Post(kPrepare, kGoodJson, "text/plain"));
  EXPECT_EQ(a.status, 415);
  EXPECT_EQ(ErrorOf(a).code(), Code::kInvalidArgument);
  EXPECT_EQ(fake_->calls(), 0);
}

TEST_F(ServiceTest, DescribeListsRoutes) {
  RawRequest get;
  get.method = "GET";
  get.path = "/v1/participant/wallet";
  RawAnswer a = Send(port_, get);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("/v1/participant/wallet/prepare"), std::string::npos) << a.body;
}

TEST_F(ServiceTest, ErrorStatusMapping) {
  const std::vector<std::pair<Code, int>> cases = {
      {Code::kInvalidArgument, 400}, {Code::kUnauthenticated, 401},   {Code::kNotFound, 404},
      {Code::kConflict, 409},        {Code::kResourceExhausted, 429}, {Code::kUnavailable, 503},
      {Code::kTimeout, 504},         {Code::kUnknownOutcome, 500},    {Code::kInternal, 500}};
  for (auto [code, http] : cases) {
    fake_->SetFailure(Status(code, "x"));
    RawAnswer a = Send(port_, Post("/v1/participant/wallet/commit",
                                   R"({"id":{"coordinator":"c1","gid":"g","branch":"b"}})"));
    EXPECT_EQ(a.status, http) << CodeName(code);
    EXPECT_EQ(ErrorOf(a).code(), code);
  }
}

TEST(ServiceOptionsTest, BadOptionsAreInvalidArgument) {
  EXPECT_EQ(ParticipantService::Create({}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParticipantService::Create({.token = "t", .max_body_bytes = 0}).status().code(),
            Code::kInvalidArgument);
  auto svc = ParticipantService::Create({.token = "t"});
  ASSERT_TRUE(svc.ok());
  EXPECT_EQ((*svc)->Add(nullptr).code(), Code::kInvalidArgument);
  EXPECT_EQ((*svc)->Add(std::make_shared<FakeParticipant>("a/b")).code(), Code::kInvalidArgument);
  ASSERT_TRUE((*svc)->Add(std::make_shared<FakeParticipant>("a")).ok());
  EXPECT_EQ((*svc)->Add(std::make_shared<FakeParticipant>("a")).code(), Code::kInvalidArgument);
  ParticipantServer server(*svc, {.max_threads = 0});
  EXPECT_EQ(server.Start().code(), Code::kInvalidArgument);
}

// A port in use is an error, never a silently shared port (no SO_REUSEPORT).
TEST(ServiceOptionsTest, SecondServerOnTheSamePortFails) {
  auto svc = ParticipantService::Create({.token = "t"});
  ASSERT_TRUE(svc.ok());
  ParticipantServer first(*svc, {.host = "127.0.0.1", .port = 0});
  ASSERT_TRUE(first.Start().ok());
  ParticipantServer second(*svc, {.host = "127.0.0.1", .port = first.port()});
  Status s = second.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(std::to_string(first.port())), std::string::npos) << s;
}

// A service's own routes, next to the mounted participant routes.
class HealthHandler : public Poco::Net::HTTPRequestHandler {
 public:
  void handleRequest(Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse& resp) override {
    resp.setContentType("text/plain");
    resp.send() << "healthy";
  }
};
class OwnFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new HealthHandler;
  }
};

TEST(MountedTest, ServesNextToTheServicesOwnRoutes) {
  auto svc = ParticipantService::Create({.token = kToken});
  ASSERT_TRUE(svc.ok());
  auto fake = std::make_shared<FakeParticipant>(kName);
  ASSERT_TRUE((*svc)->Add(fake).ok());
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
  Poco::Net::HTTPServer http(new MountedHandlerFactory(*svc, new OwnFactory), socket,
                             new Poco::Net::HTTPServerParams);
  http.start();
  const std::uint16_t port = socket.address().port();

  RawRequest health;
  health.method = "GET";
  health.path = "/health";
  health.authorization = "";
  RawAnswer a = Send(port, health);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "healthy");

  RemoteConfig c;
  c.name = kName;
  c.base_url = "http://127.0.0.1:" + std::to_string(port);
  c.token = kToken;
  auto remote = RemoteParticipant::Create(c);
  ASSERT_TRUE(remote.ok());
  auto prep = (*remote)->Prepare({{"c1", "g1", "b0"}, "debit", {}});
  ASSERT_TRUE(prep.ok()) << prep.status();
  EXPECT_EQ(prep->vote, Vote::kYes);
  EXPECT_EQ(fake->calls(), 1);
  RawRequest unauth = Post(kPrepare, kGoodJson);
  unauth.authorization = "";
  EXPECT_EQ(Send(port, unauth).status, 401);
  EXPECT_EQ(fake->calls(), 1);
  http.stopAll(true);
}

}  // namespace
}  // namespace txcoord::participant::testing
