// The saga machine's records through the WAL codec (saga_codec.h): each kind round-trips,
// records as today's engine writes them decode to the machine's, and what is not a saga record
// is refused with the reason.
#include <gtest/gtest.h>

#include "txcoord/coordinator/coordinator.pb.h"
#include "txcoord/coordinator/saga_codec.h"

namespace txcoord::coordinator {
namespace {

saga::Record RoundTrip(const saga::Record& r, const std::string& gid = "g1") {
  auto d = DecodeSagaRecord(EncodeSagaRecord(gid, r, 1234));
  EXPECT_TRUE(d.ok()) << d.status();
  if (!d.ok()) return {};
  EXPECT_EQ(d->gid, gid);
  return d->record;
}

TEST(SagaCodec, BeginRoundTripsEveryStepField) {
  saga::BeginRecord b;
  b.gid = "g1";
  b.timeout = std::chrono::milliseconds(2500);
  b.steps.push_back({"pg", "debit", {{"amount", "5"}}, "credit", {{"amount", "5"}}, 0, "s0.1a"});
  b.steps.push_back({"redis", "credit", {{"w", "x"}}, "", {}, 1, "s1.1a"});
  const auto got = std::get<saga::BeginRecord>(RoundTrip(b));
  EXPECT_EQ(got.gid, "g1");
  EXPECT_EQ(got.timeout.count(), 2500);
  ASSERT_EQ(got.steps.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got.steps[i].participant, b.steps[i].participant);
    EXPECT_EQ(got.steps[i].action, b.steps[i].action);
    EXPECT_EQ(got.steps[i].payload, b.steps[i].payload);
    EXPECT_EQ(got.steps[i].compensation_action, b.steps[i].compensation_action);
    EXPECT_EQ(got.steps[i].compensation_payload, b.steps[i].compensation_payload);
    EXPECT_EQ(got.steps[i].group, b.steps[i].group);
    EXPECT_EQ(got.steps[i].step_id, b.steps[i].step_id);
  }
}

TEST(SagaCodec, StepDecisionAndEndRoundTrip) {
  for (auto phase : {saga::StepPhase::kForward, saga::StepPhase::kCompensate}) {
    for (auto event : {saga::StepEvent::kStarted, saga::StepEvent::kDone, saga::StepEvent::kRefused,
                       saga::StepEvent::kFailed}) {
      const auto got =
          std::get<saga::StepRecord>(RoundTrip(saga::StepRecord{3, phase, event, "e"}));
      EXPECT_EQ(got.step, 3u);
      EXPECT_EQ(got.phase, phase);
      EXPECT_EQ(got.event, event);
      EXPECT_EQ(got.error, "e");
    }
  }
  EXPECT_EQ(
      std::get<saga::DecisionRecord>(RoundTrip(saga::DecisionRecord{"step 1 refused"})).reason,
      "step 1 refused");
  for (auto f : {saga::FinalState::kCommitted, saga::FinalState::kCompensated}) {
    EXPECT_EQ(std::get<saga::EndRecord>(RoundTrip(saga::EndRecord{f})).final_state, f);
  }
}

TEST(SagaCodec, TodaysEngineRecordsDecode) {
  v1::Record r;
  v1::SagaStep* s = r.mutable_saga_step();
  s->set_gid("old");
  s->set_step(1);
  s->set_phase(v1::SagaStep::COMPENSATE);
  s->set_event(v1::SagaStep::DONE);
  auto d = DecodeSagaRecord(r.SerializeAsString());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->gid, "old");
  EXPECT_EQ(std::get<saga::StepRecord>(d->record).phase, saga::StepPhase::kCompensate);
}

TEST(SagaCodec, WhatIsNotASagaRecordIsRefused) {
  EXPECT_EQ(DecodeSagaRecord("\xff\xff garbage").status().code(), Code::kInvalidArgument);
  v1::Record begin;
  begin.mutable_begin()->set_gid("t");
  begin.mutable_begin()->set_mode("2pc");
  EXPECT_EQ(DecodeSagaRecord(begin.SerializeAsString()).status().code(), Code::kInvalidArgument);
  v1::Record commit;
  commit.mutable_decision()->set_gid("t");
  commit.mutable_decision()->set_outcome(v1::Decision::COMMIT);
  auto c = DecodeSagaRecord(commit.SerializeAsString());
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find("turn back"), std::string::npos) << c.status();
  v1::Record end;
  end.mutable_end()->set_gid("t");  // a 2PC END: no final state
  EXPECT_EQ(DecodeSagaRecord(end.SerializeAsString()).status().code(), Code::kInvalidArgument);
  v1::Record step;
  step.mutable_saga_step()->set_gid("t");  // phase and event unspecified
  EXPECT_EQ(DecodeSagaRecord(step.SerializeAsString()).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace txcoord::coordinator
