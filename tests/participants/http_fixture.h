#pragma once
// Test support: a ParticipantServer on 127.0.0.1:<ephemeral> serving one FakeParticipant, and a
// raw HTTP client for requests RemoteParticipant would never send.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "fake_participant.h"
#include "txcoord/participant/remote.h"
#include "txcoord/participant/server.h"
#include "txcoord/participant/service.h"

namespace txcoord::participant::testing {

inline constexpr const char* kToken = "test-token";
inline constexpr const char* kName = "wallet";

struct RawAnswer {
  int status = 0;
  std::string content_type;
  std::string body;
  std::string error;  // transport failure
};

struct RawRequest {
  std::string method = "POST";
  std::string path;
  std::string content_type = "application/json";
  std::string body;
  std::string authorization = std::string("Bearer ") + kToken;  // empty = no header
  bool chunked = false;
};

RawAnswer Send(std::uint16_t port, const RawRequest& req);

class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}, {}); }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  // Restarts with the given options (token and a fake named kName are always set up).
  void StartServer(ServiceOptions svc_opts, ServerOptions srv_opts);

  RemoteConfig Config(wire::Encoding enc = wire::Encoding::kProtobuf) const;
  std::unique_ptr<RemoteParticipant> Remote(wire::Encoding enc = wire::Encoding::kProtobuf) const;
  std::unique_ptr<RemoteParticipant> Remote(const RemoteConfig& c) const;

  std::shared_ptr<FakeParticipant> fake_;
  std::shared_ptr<ParticipantService> service_;
  std::unique_ptr<ParticipantServer> server_;
  std::uint16_t port_ = 0;
};

}  // namespace txcoord::participant::testing
