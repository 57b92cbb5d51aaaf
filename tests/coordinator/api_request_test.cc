#include "txcoord/api/request.h"

#include "txcoord/api/api.pb.h"

#include <gtest/gtest.h>

namespace txcoord::api {
namespace {

Result<TransactionRequest> Parse(std::string_view body) {
  return ParseTransactionRequest(body, {});
}

void ExpectBad(std::string_view body, std::string_view reason_part) {
  auto r = Parse(body);
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << body;
  EXPECT_NE(r.status().message().find(reason_part), std::string::npos)
      << body << " -> " << r.status();
}

TEST(ParseTransactionRequest, FullTwoPhaseRequest) {
  auto r = Parse(R"({"mode":"2pc","gid":"t-1","timeout_ms":5000,"branches":[
      {"participant":"bank-pg","action":"debit","payload":{"account":"alice","amount":30}},
      {"participant":"wallet-redis","action":"credit","payload":{"account":"bob","amount":30,
       "vip":true,"rate":0.5}}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mode, "2pc");
  EXPECT_EQ(*r->gid, "t-1");
  EXPECT_EQ(*r->timeout_ms, 5000);
  ASSERT_EQ(r->branches.size(), 2u);
  EXPECT_EQ(r->branches[0].participant, "bank-pg");
  EXPECT_EQ(r->branches[0].payload.at("amount"), "30");
  EXPECT_EQ(r->branches[1].payload.at("vip"), "true");
  EXPECT_EQ(r->branches[1].payload.at("rate"), "0.5");
  EXPECT_TRUE(r->body_hash.empty());  // the caller hashes when it needs to
  EXPECT_EQ(CanonicalHash(*r).size(), 64u);
}

TEST(ParseTransactionRequest, DefaultsToTwoPhase) {
  auto r = Parse(R"({"branches":[{"participant":"p","action":"a"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mode, "2pc");
  EXPECT_FALSE(r->gid.has_value());
  EXPECT_TRUE(r->branches[0].payload.empty());
}

TEST(ParseTransactionRequest, HashIgnoresKeyOrderAndSpacing) {
  auto a = Parse(
      R"({"mode":"2pc","branches":[{"participant":"p","action":"a","payload":{"x":1,"y":"z"}}]})");
  auto b = Parse(R"({ "branches" : [ {"payload":{"y":"z","x":1},"action":"a","participant":"p"} ],
                      "mode":"2pc" })");
  auto c = Parse(
      R"({"mode":"2pc","branches":[{"participant":"p","action":"a","payload":{"x":2,"y":"z"}}]})");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(CanonicalHash(*a), CanonicalHash(*b));
  EXPECT_NE(CanonicalHash(*a), CanonicalHash(*c));
}

TEST(ParseTransactionRequest, SagaWithCompensationAndGroups) {
  auto r = Parse(R"({"mode":"saga","branches":[
      {"participant":"p","action":"reserve","payload":{"n":1},"group":0,
       "compensation":{"action":"release","payload":{"n":1}}},
      {"participant":"q","action":"charge","group":1}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->branches[0].compensation.has_value());
  EXPECT_EQ(r->branches[0].compensation->action, "release");
  EXPECT_EQ(r->branches[1].group, 1u);
}

TEST(ParseTransactionRequest, OpenTransaction) {
  auto r = Parse(R"({"mode":"2pc","open":true,"timeout_ms":1000})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->open);
  ExpectBad(R"({"open":true,"branches":[{"participant":"p","action":"a"}]})", "open transaction");
  ExpectBad(R"({"mode":"saga","open":true})", "2pc only");
}

TEST(ParseTransactionRequest, RejectsBadBodies) {
  ExpectBad("not json", "not valid JSON");
  ExpectBad("[1]", "must be a JSON object");
  ExpectBad(R"({"mode":"3pc","branches":[{"participant":"p","action":"a"}]})", "mode");
  ExpectBad(R"({"branches":[]})", "must not be empty");
  ExpectBad(R"({})", "must not be empty");
  ExpectBad(R"({"gid":"bad gid","branches":[{"participant":"p","action":"a"}]})", "gid");
  ExpectBad(R"({"gid":7,"branches":[{"participant":"p","action":"a"}]})", "gid");
  ExpectBad(R"({"timeout_ms":0,"branches":[{"participant":"p","action":"a"}]})", "timeout_ms");
  ExpectBad(R"({"timeout_ms":"5","branches":[{"participant":"p","action":"a"}]})", "timeout_ms");
  ExpectBad(R"({"branches":[{"action":"a"}]})", "needs \"participant\"");
  ExpectBad(R"({"branches":[{"participant":"","action":"a"}]})", "non-empty");
  ExpectBad(R"({"branches":[{"participant":"p","action":"a","payload":{"x":{"y":1}}}]})",
            "payload field 'x'");
  ExpectBad(R"({"branches":[{"participant":"p","action":"a","payload":{"x":null}}]})",
            "payload field 'x'");
  ExpectBad(R"({"branches":[{"participant":"p","action":"a","payload":[1]}]})", "payload");
  ExpectBad(R"({"branches":[{"participant":"p","action":"a","extra":1}]})",
            "unknown field 'extra'");
  ExpectBad(R"({"brnaches":[]})", "unknown field 'brnaches'");
  ExpectBad(R"({"branches":[{"participant":"p","action":"a","compensation":{"action":"c"}}]})",
            "for mode saga");
  ExpectBad(R"({"branches":[3]})", "must be an object");
}

TEST(ParseTransactionRequest, EnforcesLimits) {
  std::string body = R"({"branches":[)";
  for (int i = 0; i < 3; ++i)
    body += std::string(i ? "," : "") + R"({"participant":"p","action":"a"})";
  body += "]}";
  auto r = ParseTransactionRequest(body, Limits{.max_branches = 2});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("too many branches"), std::string::npos);
}

TEST(ParseRegisterBranchRequest, ValidatesFields) {
  auto ok = ParseRegisterBranchRequest(R"({"participant":"svc","branch":"b1"})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->branch, "b1");
  EXPECT_FALSE(ParseRegisterBranchRequest(R"({"participant":"svc"})").ok());
  EXPECT_FALSE(ParseRegisterBranchRequest(R"({"participant":"svc","branch":"a:b"})").ok());
}

TEST(ParseResolveRequest, ValidatesFields) {
  auto ok = ParseResolveRequest(
      R"({"outcome":"commit","force":true,"reason":"pg-2 gone","operator":"alice"})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->outcome, "commit");
  EXPECT_TRUE(ok->force);
  EXPECT_EQ(ok->reason, "pg-2 gone");
  EXPECT_EQ(ok->operator_id, "alice");
  auto minimal = ParseResolveRequest(R"({"outcome":"abort","reason":"r"})");
  ASSERT_TRUE(minimal.ok()) << minimal.status();
  EXPECT_FALSE(minimal->force);
  EXPECT_EQ(minimal->operator_id, "");
  EXPECT_FALSE(ParseResolveRequest(R"({"outcome":"abort"})").ok());               // no reason
  EXPECT_FALSE(ParseResolveRequest(R"({"outcome":"abort","reason":""})").ok());   // empty
  EXPECT_FALSE(ParseResolveRequest(R"({"outcome":"maybe","reason":"r"})").ok());  // outcome
  EXPECT_FALSE(ParseResolveRequest(R"({"reason":"r"})").ok());                    // no outcome
  EXPECT_FALSE(ParseResolveRequest(R"({"outcome":"abort","reason":"r","force":"yes"})").ok());
  EXPECT_FALSE(ParseResolveRequest(R"({"outcome":"abort","reason":"r","operator":1})").ok());
  EXPECT_FALSE(ParseResolveRequest(R"({"outcome":"abort","reason":"r","forse":true})").ok());
  EXPECT_FALSE(ParseResolveRequest("not json").ok());
}

TEST(ValidateIdempotencyKey, Bounds) {
  EXPECT_TRUE(ValidateIdempotencyKey("order-42").ok());
  EXPECT_TRUE(ValidateIdempotencyKey(std::string(255, 'k')).ok());
  EXPECT_FALSE(ValidateIdempotencyKey("").ok());
  EXPECT_FALSE(ValidateIdempotencyKey(std::string(256, 'k')).ok());
  EXPECT_FALSE(ValidateIdempotencyKey("has space").ok());
}

}  // namespace
}  // namespace txcoord::api

namespace txcoord::api {
namespace {

TEST(ParseTransactionRequestProto, SameRequestSameHashAsJson) {
  v1::TransactionRequest msg;
  msg.set_mode("2pc");
  auto* b = msg.add_branches();
  b->set_participant("p");
  b->set_action("a");
  (*b->mutable_payload())["x"] = "1";
  (*b->mutable_payload())["y"] = "z";
  auto from_proto = ParseTransactionRequestProto(msg.SerializeAsString(), {});
  ASSERT_TRUE(from_proto.ok()) << from_proto.status();
  auto from_json = ParseTransactionRequest(
      R"({"branches":[{"participant":"p","action":"a","payload":{"y":"z","x":1}}]})", {});
  ASSERT_TRUE(from_json.ok());
  EXPECT_EQ(CanonicalHash(*from_proto), CanonicalHash(*from_json));
}

TEST(ParseTransactionRequestProto, RejectsGarbageAndInvalidFields) {
  EXPECT_EQ(ParseTransactionRequestProto("\xff\xff\xff", {}).status().code(),
            Code::kInvalidArgument);
  v1::TransactionRequest msg;  // no branches
  EXPECT_EQ(ParseTransactionRequestProto(msg.SerializeAsString(), {}).status().code(),
            Code::kInvalidArgument);
  msg.set_gid("bad gid");
  msg.add_branches()->set_participant("p");
  auto r = ParseTransactionRequestProto(msg.SerializeAsString(), {});
  EXPECT_NE(r.status().message().find("gid"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace txcoord::api
