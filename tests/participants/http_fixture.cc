#include "http_fixture.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <thread>

namespace txcoord::participant::testing {

RawAnswer Send(std::uint16_t port, const RawRequest& r) {
  RawAnswer a;
  try {
    Poco::Net::HTTPClientSession s("127.0.0.1", port);
    s.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req(r.method, r.path, Poco::Net::HTTPMessage::HTTP_1_1);
    if (!r.authorization.empty()) req.set("Authorization", r.authorization);
    if (!r.content_type.empty()) req.setContentType(r.content_type);
    if (r.chunked) {
      req.setChunkedTransferEncoding(true);
    } else if (r.method == "POST") {
      req.setContentLength64(static_cast<Poco::Int64>(r.body.size()));
    }
    std::ostream& os = s.sendRequest(req);
    os.write(r.body.data(), static_cast<std::streamsize>(r.body.size()));
    Poco::Net::HTTPResponse resp;
    std::istream& is = s.receiveResponse(resp);
    Poco::StreamCopier::copyToString(is, a.body);
    a.status = static_cast<int>(resp.getStatus());
    a.content_type = resp.getContentType();
  } catch (const std::exception& e) {
    a.error = e.what();
  }
  return a;
}

void ServerFixture::StartServer(ServiceOptions svc_opts, ServerOptions srv_opts) {
  if (server_) server_->Stop();
  svc_opts.token = kToken;
  fake_ = std::make_shared<FakeParticipant>(kName);
  auto svc = ParticipantService::Create(svc_opts);
  ASSERT_TRUE(svc.ok()) << svc.status();
  service_ = *svc;
  ASSERT_TRUE(service_->Add(fake_).ok());
  srv_opts.host = "127.0.0.1";
  srv_opts.port = 0;
  server_ = std::make_unique<ParticipantServer>(service_, srv_opts);
  Status s = server_->Start();
  ASSERT_TRUE(s.ok()) << s;
  port_ = server_->port();
  ASSERT_NE(port_, 0);
}

RemoteConfig ServerFixture::Config(wire::Encoding enc) const {
  RemoteConfig c;
  c.name = kName;
  c.base_url = "http://127.0.0.1:" + std::to_string(port_);
  c.token = kToken;
  c.connect_timeout = std::chrono::milliseconds(1000);
  c.call_timeout = std::chrono::milliseconds(5000);
  c.max_connections = 4;
  c.encoding = enc;
  return c;
}

std::unique_ptr<RemoteParticipant> ServerFixture::Remote(wire::Encoding enc) const {
  return Remote(Config(enc));
}

std::unique_ptr<RemoteParticipant> ServerFixture::Remote(const RemoteConfig& c) const {
  auto r = RemoteParticipant::Create(c);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(r).value() : nullptr;
}

}  // namespace txcoord::participant::testing
