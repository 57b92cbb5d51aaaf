// RemoteParticipant against a real ParticipantServer on loopback, in both encodings.
#include <gtest/gtest.h>

#include <thread>

#include "http_fixture.h"
#include "txcoord/core/fault.h"
#include "txcoord/testing/poll.h"

namespace txcoord::participant::testing {
namespace {

using namespace std::chrono_literals;

const BranchId kId{"coord-1", "order:42.a", "b0"};

BranchCall MakeCall(std::string action) {
  return {kId, std::move(action), {{"amount", "12.50"}, {"user", "ann"}, {"flag", "true"}}};
}

class RemoteTest : public ServerFixture, public ::testing::WithParamInterface<wire::Encoding> {};

INSTANTIATE_TEST_SUITE_P(Encodings, RemoteTest,
                         ::testing::Values(wire::Encoding::kJson, wire::Encoding::kProtobuf),
                         [](const auto& param_info) {
                           return param_info.param == wire::Encoding::kJson ? "Json" : "Protobuf";
                         });

TEST_P(RemoteTest, EveryCallRoundTrips) {
  auto remote = Remote(GetParam());
  ASSERT_NE(remote, nullptr);
  auto prep = remote->Prepare(MakeCall("debit"));
  ASSERT_TRUE(prep.ok()) << prep.status();
  EXPECT_EQ(prep->vote, Vote::kYes);
  ASSERT_TRUE(remote->Commit(kId).ok());
  ASSERT_TRUE(remote->Abort(kId).ok());
  auto exec = remote->Execute(MakeCall("reserve"));
  ASSERT_TRUE(exec.ok()) << exec.status();
  EXPECT_EQ(exec->outcome, Outcome::kDone);
  ASSERT_TRUE(remote->Compensate(MakeCall("release")).ok());
  const auto at = std::chrono::system_clock::time_point(1700000000123ms);
  fake_->SetInDoubt({{kId, at}});
  auto doubt = remote->InDoubt("coord-1");
  ASSERT_TRUE(doubt.ok()) << doubt.status();
  ASSERT_EQ(doubt->size(), 1u);
  EXPECT_EQ((*doubt)[0].id, kId);
  EXPECT_EQ((*doubt)[0].prepared_at, at);

  auto rec = fake_->recorded();
  ASSERT_EQ(rec.size(), 6u);
  const char* ops[] = {"prepare", "commit", "abort", "execute", "compensate", "in_doubt"};
  for (std::size_t i = 0; i < rec.size(); ++i) EXPECT_EQ(rec[i].op, ops[i]);
  EXPECT_EQ(rec[0].id, kId);
  EXPECT_EQ(rec[0].action, "debit");
  EXPECT_EQ(rec[0].payload, MakeCall("x").payload);
  EXPECT_EQ(rec[1].id, kId);
  EXPECT_EQ(rec[3].action, "reserve");
  EXPECT_EQ(rec[4].action, "release");
  EXPECT_EQ(rec[4].payload, MakeCall("x").payload);
  EXPECT_EQ(rec[5].coordinator, "coord-1");
}

TEST_P(RemoteTest, InDoubtWithoutCoordinatorAsksForAll) {
  auto remote = Remote(GetParam());
  auto doubt = remote->InDoubt("");
  ASSERT_TRUE(doubt.ok()) << doubt.status();
  EXPECT_TRUE(doubt->empty());
  EXPECT_EQ(fake_->recorded().at(0).coordinator, "");
}

TEST_P(RemoteTest, VoteNoAndRefusedTravelAsAnswers) {
  fake_->SetVoteNo("balance too low");
  auto remote = Remote(GetParam());
  auto prep = remote->Prepare(MakeCall("debit"));
  ASSERT_TRUE(prep.ok()) << prep.status();
  EXPECT_EQ(prep->vote, Vote::kNo);
  EXPECT_EQ(prep->reason, "balance too low");
  auto exec = remote->Execute(MakeCall("reserve"));
  ASSERT_TRUE(exec.ok()) << exec.status();
  EXPECT_EQ(exec->outcome, Outcome::kRefused);
  EXPECT_EQ(exec->reason, "balance too low");
}

TEST_P(RemoteTest, EveryCodeSurvivesTheTrip) {
  auto remote = Remote(GetParam());
  for (Code c :
       {Code::kInvalidArgument, Code::kNotFound, Code::kConflict, Code::kFailedPrecondition,
        Code::kUnauthenticated, Code::kResourceExhausted, Code::kUnavailable, Code::kTimeout,
        Code::kAborted, Code::kUnknownOutcome, Code::kDataLoss, Code::kInternal}) {
    SCOPED_TRACE(std::string(CodeName(c)));
    fake_->SetFailure(Status(c, "boom " + std::string(CodeName(c))));
    auto prep = remote->Prepare(MakeCall("debit"));
    EXPECT_EQ(prep.status().code(), c);
    EXPECT_NE(prep.status().message().find("boom " + std::string(CodeName(c))), std::string::npos)
        << prep.status();
    EXPECT_EQ(remote->Commit(kId).code(), c);
    EXPECT_EQ(remote->Abort(kId).code(), c);
    EXPECT_EQ(remote->Execute(MakeCall("a")).status().code(), c);
    EXPECT_EQ(remote->Compensate(MakeCall("a")).code(), c);
    EXPECT_EQ(remote->InDoubt("coord-1").status().code(), c);
  }
}

TEST_P(RemoteTest, SlowParticipantPastCallTimeoutIsUnknownOutcome) {
  fake_->SetDelay(1500ms);
  RemoteConfig c = Config(GetParam());
  c.call_timeout = 200ms;
  auto remote = Remote(c);
  auto prep = remote->Prepare(MakeCall("debit"));
  EXPECT_EQ(prep.status().code(), Code::kUnknownOutcome) << prep.status();
  EXPECT_EQ(remote->Commit(kId).code(), Code::kUnknownOutcome);
  // InDoubt has no effect: a lost answer just means "ask again".
  EXPECT_EQ(remote->InDoubt("").status().code(), Code::kUnavailable);
}

TEST_P(RemoteTest, StoppedServerIsUnavailable) {
  auto remote = Remote(GetParam());
  ASSERT_TRUE(remote->Commit(kId).ok());  // leaves a pooled keep-alive connection
  server_->Stop();
  EXPECT_EQ(remote->Commit(kId).code(), Code::kUnavailable);
  EXPECT_EQ(remote->Prepare(MakeCall("debit")).status().code(), Code::kUnavailable);
  EXPECT_EQ(remote->InDoubt("").status().code(), Code::kUnavailable);
  EXPECT_EQ(fake_->calls(), 1);
}

TEST_P(RemoteTest, KeepAliveReusesConnections) {
  auto remote = Remote(GetParam());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(remote->Commit(kId).ok()) << i;
  EXPECT_EQ(fake_->calls(), 50);
  EXPECT_LE(server_->total_connections(), 2);
  EXPECT_LE(remote->connections_opened(), 2);
}

TEST_P(RemoteTest, ConnectionClosedByServerWhileIdleIsReplacedTransparently) {
  ServerOptions opts;
  opts.keep_alive_timeout = 100ms;
  StartServer({}, opts);
  auto remote = Remote(GetParam());
  ASSERT_TRUE(remote->Commit(kId).ok());
  ASSERT_TRUE(txcoord::testing::Eventually([&] { return server_->current_connections() == 0; }));
  ASSERT_TRUE(remote->Commit(kId).ok());
  EXPECT_EQ(fake_->calls(), 2);  // applied once per call, never twice
  EXPECT_EQ(remote->connections_opened(), 2);
}

TEST_P(RemoteTest, SendFailureOnReusedConnectionIsRetriedOnce) {
  auto remote = Remote(GetParam());
  ASSERT_TRUE(remote->Commit(kId).ok());
  {
    fault::ScopedFault f("participant.remote.send",
                         fault::Spec::Error(Code::kUnavailable).Times(1));
    ASSERT_TRUE(remote->Commit(kId).ok());  // reused connection failed to send → one retry
  }
  EXPECT_EQ(fake_->calls(), 2);
  EXPECT_EQ(remote->connections_opened(), 2);
}

TEST_P(RemoteTest, SendFailureOnFreshConnectionIsUnavailableWithoutRetry) {
  auto remote = Remote(GetParam());
  fault::ScopedFault f("participant.remote.send", fault::Spec::Error(Code::kUnavailable));
  EXPECT_EQ(remote->Commit(kId).code(), Code::kUnavailable);
  EXPECT_EQ(fault::Registry::Global().HitCount("participant.remote.send"), 1u);
  EXPECT_EQ(fake_->calls(), 0);
}

TEST_P(RemoteTest, AnswerLostAfterSendIsUnknownOutcomeAndNotRetried) {
  auto remote = Remote(GetParam());
  ASSERT_TRUE(remote->Commit(kId).ok());
  fault::ScopedFault f("participant.remote.receive", fault::Spec::Error(Code::kUnavailable));
  EXPECT_EQ(remote->Commit(kId).code(), Code::kUnknownOutcome);
  EXPECT_EQ(remote->Prepare(MakeCall("debit")).status().code(), Code::kUnknownOutcome);
  EXPECT_EQ(remote->InDoubt("").status().code(), Code::kUnavailable);
  EXPECT_EQ(fault::Registry::Global().HitCount("participant.remote.receive"), 3u);
}

TEST_P(RemoteTest, WrongTokenIsUnauthenticatedAndNothingApplied) {
  RemoteConfig c = Config(GetParam());
  c.token = "wrong";
  auto remote = Remote(c);
  EXPECT_EQ(remote->Commit(kId).code(), Code::kUnauthenticated);
  EXPECT_EQ(remote->Prepare(MakeCall("debit")).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(fake_->calls(), 0);
}

TEST_P(RemoteTest, UnknownParticipantIsNotFound) {
  RemoteConfig c = Config(GetParam());
  c.name = "nobody";
  auto remote = Remote(c);
  EXPECT_EQ(remote->Commit(kId).code(), Code::kNotFound);
  EXPECT_EQ(fake_->calls(), 0);
}

TEST_P(RemoteTest, InvalidIdIsRejectedByTheServer) {
  auto remote = Remote(GetParam());
  Status s = remote->Commit(BranchId{"coord-1", "bad gid!", "b0"});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("gid"), std::string::npos) << s;
  EXPECT_EQ(fake_->calls(), 0);
}

TEST_P(RemoteTest, OversizedCallIsRejectedWithoutApplying) {
  ServiceOptions opts;
  opts.max_body_bytes = 4096;
  StartServer(opts, {});
  auto remote = Remote(GetParam());
  BranchCall call = MakeCall("debit");
  call.payload["blob"] = std::string(64 * 1024, 'x');
  auto prep = remote->Prepare(call);
  EXPECT_EQ(prep.status().code(), Code::kInvalidArgument) << prep.status();
  EXPECT_NE(prep.status().message().find("limit"), std::string::npos) << prep.status();
  EXPECT_EQ(fake_->calls(), 0);
  ASSERT_TRUE(remote->Commit(kId).ok());  // the client recovers on a new connection
}

TEST_P(RemoteTest, ConcurrentCallsShareTheBoundedPool) {
  auto remote = Remote(GetParam());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (!remote->Commit(kId).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(fake_->calls(), 80);
  EXPECT_LE(remote->connections_opened(), 4);  // max_connections
}

TEST(RemoteNoServer, ConnectionRefusedIsUnavailable) {
  // Bind-and-release an ephemeral port, so nothing listens there.
  std::uint16_t port = 0;
  {
    auto svc = ParticipantService::Create({.token = "t"});
    ASSERT_TRUE(svc.ok());
    ParticipantServer s(*svc, {});
    ASSERT_TRUE(s.Start().ok());
    port = s.port();
  }
  RemoteConfig c;
  c.name = "x";
  c.base_url = "http://127.0.0.1:" + std::to_string(port);
  c.token = "t";
  auto remote = RemoteParticipant::Create(c);
  ASSERT_TRUE(remote.ok()) << remote.status();
  EXPECT_EQ((*remote)->Commit(kId).code(), Code::kUnavailable);
  EXPECT_EQ((*remote)->Prepare(MakeCall("a")).status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace txcoord::participant::testing
