// Config parsing and call validation: no server needed.
#include <Poco/JSON/Object.h>

#include <gtest/gtest.h>

#include "txcoord/redis/participant.h"

namespace txcoord::redis {
namespace {

std::string WithActions(const std::string& actions, const std::string& extra = "") {
  return R"({"name":"r","kind":"redis","url":"redis://127.0.0.1:1/0")" + extra + R"(,"actions":)" +
         actions + "}";
}

TEST(RedisConfigTest, ParsesTheDocumentedExample) {
  auto c = ParseConfigText(
      R"({"name":"wallet-redis","kind":"redis","url":"redis://127.0.0.1:6379/0","pool_size":8,
      "timeout_ms":2000,"lock_wait_ms":0,"barrier_ttl_s":604800,"actions":{"debit":{"guards":[
      {"key":"wallet:{${account}}","op":">=","value":"${amount}"}],"writes":[["DECRBY",
      "wallet:{${account}}","${amount}"]]},"credit":{"writes":[["INCRBY","wallet:{${account}}",
      "${amount}"]]}}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "wallet-redis");
  EXPECT_EQ(c->endpoint.host, "127.0.0.1");
  EXPECT_EQ(c->endpoint.port, 6379);
  EXPECT_EQ(c->pool_size, 8);
  EXPECT_EQ(c->barrier_ttl, std::chrono::seconds(604800));
  EXPECT_EQ(c->index_in_script, IndexInScript::kAuto);
  ASSERT_EQ(c->actions.size(), 2u);
  const ActionPlan& debit = c->actions.at("debit");
  ASSERT_EQ(debit.guards.size(), 1u);
  EXPECT_EQ(debit.guards[0].op, GuardOp::kGe);
  EXPECT_EQ(debit.writes[0].args,
            (std::vector<std::string>{"DECRBY", "wallet:{${account}}", "${amount}"}));
}

TEST(RedisConfigTest, BadConfigsNameTheProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "not valid JSON"},
      {"[]", "not a JSON object"},
      {R"({"url":"redis://h","actions":{}})", "missing \"name\""},
      {R"({"name":"r","actions":{}})", "missing \"url\""},
      {R"({"name":"r","url":"redis://h"})", "missing \"actions\""},
      {R"({"name":"r","url":"http://h","actions":{}})", "bad url"},
      {R"({"name":"r","url":"redis://h:99999","actions":{}})", "port"},
      {R"({"name":"r","url":"redis://:5","actions":{}})", "missing host"},
      {R"({"name":"r","url":"redis://h/x","actions":{}})", "database"},
      {R"({"name":"r","kind":"pg","url":"redis://h","actions":{}})", "kind"},
      {WithActions("{}", R"(,"pool_size":0)"), "pool_size"},
      {WithActions("{}", R"(,"timeout_ms":"fast")"), "timeout_ms"},
      {WithActions("{}", R"(,"lock_wait_ms":-1)"), "lock_wait_ms"},
      {WithActions("{}", R"(,"index_in_script":"yes")"),
       "index_in_script must be \"auto\", \"on\" or \"off\", got \"yes\""},
      {WithActions("{}", R"(,"index_in_script":true)"), "index_in_script must be a string"},
      {WithActions(R"({"a":{"writes":[["FLUSHALL"]]}})"), "unknown command \"FLUSHALL\""},
      {WithActions(R"({"a":{"writes":[["SET","k"]]}})"), "wrong number of arguments"},
      {WithActions(R"({"a":{"writes":[["HSET","k","f"]]}})"), "wrong number of arguments"},
      {WithActions(R"({"a":{"writes":[["INCRBY","k","x"]]}})"), "needs an integer"},
      {WithActions(R"({"a":{"writes":[["SET","k","${v"]]}})"), "unterminated placeholder"},
      {WithActions(R"({"a":{"writes":[["SET","k","${}"]]}})"), "malformed placeholder"},
      {WithActions(R"({"a":{"writes":"SET"}})"), "writes"},
      {WithActions(R"({"a":{"guards":[]}})"), "missing \"writes\""},
      {WithActions(R"({"a":{"guards":[{"key":"k","op":"<"}],"writes":[]}})"), "guard op \"<\""},
      {WithActions(R"({"a":{"guards":[{"op":"exists"}],"writes":[]}})"), "missing \"key\""},
      {WithActions(R"({"a":{"guards":[{"key":"k","op":">="}],"writes":[]}})"), "missing \"value\""},
      {WithActions(R"({"a":{"writes":[],"typo":1}})"), "unknown key \"typo\""},
  };
  for (const auto& [json, says] : cases) {
    auto c = ParseConfigText(json);
    ASSERT_FALSE(c.ok()) << json;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument) << json;
    EXPECT_NE(c.status().message().find(says), std::string::npos)
        << json << " -> " << c.status().message();
  }
}

TEST(RedisConfigTest, IndexInScriptModes) {
  for (const auto mode : {IndexInScript::kAuto, IndexInScript::kOn, IndexInScript::kOff}) {
    const std::string name(IndexInScriptName(mode));
    auto c = ParseConfigText(WithActions("{}", R"(,"index_in_script":")" + name + "\""));
    ASSERT_TRUE(c.ok()) << name << ": " << c.status();
    EXPECT_EQ(c->index_in_script, mode) << name;
  }
}

TEST(RedisConfigTest, UrlForms) {
  auto e = ParseUrl("redis://:secret@example.org:7000/3");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->host, "example.org");
  EXPECT_EQ(e->port, 7000);
  EXPECT_EQ(e->db, 3);
  EXPECT_EQ(e->password, "secret");
  e = ParseUrl("redis://localhost");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->port, 6379);
  EXPECT_EQ(e->db, 0);
}

TEST(RedisConfigTest, UnreachableServerGivesAWarningAndValidateStillWorks) {
  auto c = ParseConfigText(WithActions(R"({"credit":{"writes":[["INCRBY","w:{${a}}","${n}"]]}})",
                                       R"(,"timeout_ms":200)"));
  ASSERT_TRUE(c.ok()) << c.status();
  auto p = RedisParticipant::Create(*c);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ((*p)->warnings().size(), 2u);
  EXPECT_NE((*p)->warnings()[0].find("not verified"), std::string::npos);
  EXPECT_NE((*p)->warnings()[1].find("cannot ask whether the server runs in cluster mode"),
            std::string::npos)
      << (*p)->warnings()[1];
  EXPECT_FALSE((*p)->binds_in_script());  // the two-round-trip path until the server answers
  EXPECT_TRUE((*p)->Validate("credit", {{"a", "x"}, {"n", "5"}}).ok());
  EXPECT_EQ((*p)->Validate("credit", {{"a", "x"}}).code(), Code::kInvalidArgument);
  EXPECT_EQ((*p)->Validate("credit", {{"a", "x"}, {"n", "five"}}).code(), Code::kInvalidArgument);
  EXPECT_EQ((*p)->Validate("debit", {}).code(), Code::kNotFound);
  // Calls that need the server: nothing happened, retry.
  EXPECT_EQ((*p)->Commit({"c", "g", "b"}).code(), Code::kUnavailable);
  EXPECT_EQ((*p)->InDoubt("").status().code(), Code::kUnavailable);
}

// The cluster rule, checked at call time from the filled keys.
TEST(RedisConfigTest, KeysOfOneActionMustShareOneHashTag) {
  auto c = ParseConfigText(WithActions(R"({"w":{"writes":[["SET","${a}","1"],["SET","${b}","2"]]},
      "g":{"guards":[{"key":"${a}","op":"exists"}],"writes":[]}})",
                                       R"(,"timeout_ms":100)"));
  ASSERT_TRUE(c.ok()) << c.status();
  auto p = RedisParticipant::Create(*c);
  ASSERT_TRUE(p.ok()) << p.status();
  auto check = [&](const std::string& a, const std::string& b) {
    return (*p)->Validate("w", {{"a", a}, {"b", b}});
  };
  EXPECT_TRUE(check("x:{u1}:a", "y:{u1}").ok());
  EXPECT_TRUE(check("{u1}", "{u1}:z").ok());
  EXPECT_TRUE(check("plain", "plain").ok());  // no tag: the whole key
  EXPECT_TRUE(check("a{{u}b", "{{u}").ok());  // tag "{u"
  EXPECT_EQ(check("x:{u1}", "x:{u2}").code(), Code::kInvalidArgument);
  EXPECT_EQ(check("plain", "other").code(), Code::kInvalidArgument);
  EXPECT_EQ(check("a{}b", "a{}b").code(), Code::kInvalidArgument);            // braces, no tag
  EXPECT_EQ(check("txc:{u}:b", "txc:{u}:b").code(), Code::kInvalidArgument);  // reserved
  EXPECT_EQ(check("", "").code(), Code::kInvalidArgument);
  EXPECT_TRUE((*p)->Validate("g", {{"a", "k"}}).ok());  // guards only: still one key
}

TEST(RedisConfigTest, CreateRejectsAHandBuiltBadConfig) {
  Config c;
  c.name = "r";
  c.url = "http://nope";
  EXPECT_EQ(RedisParticipant::Create(c).status().code(), Code::kInvalidArgument);
  c.url = "redis://127.0.0.1:1";
  c.pool_size = 0;
  EXPECT_EQ(RedisParticipant::Create(c).status().code(), Code::kInvalidArgument);
  c.pool_size = 1;
  c.actions["x"].writes.push_back(Write{{"GETDEL", "k"}});
  EXPECT_EQ(RedisParticipant::Create(c).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace txcoord::redis
