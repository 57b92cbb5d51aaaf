#pragma once
// Shared fixture of the Redis participant tests: a participant on $TXC_REDIS_URL with the test
// actions below, a raw hiredis connection to look at the store, and names unique to the test
// (so binaries running in parallel, and earlier runs, never collide).
//
// TXC_REDIS_INDEX_IN_SCRIPT (auto | on | off, default auto) sets the participants' index_in_script:
// ctest runs redis_participant_test twice, as is (the test server is standalone: the index is
// bound inside the scripts) and with "off" (bound before them, as on a cluster).
#include <hiredis/hiredis.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "txcoord/redis/participant.h"
#include "txcoord/testing/env.h"

namespace txcoord::redis::testing {

// index_in_script from TXC_REDIS_INDEX_IN_SCRIPT, else "auto".
inline std::string IndexModeFromEnv() {
  const char* mode = std::getenv("TXC_REDIS_INDEX_IN_SCRIPT");
  return mode != nullptr && *mode != '\0' ? mode : "auto";
}

// Test actions. Keys carry the hash tag {<account>} / {<t>}.
inline std::string ConfigJson(const std::string& url, int lock_wait_ms = 0, int timeout_ms = 2000,
                              const std::string& index_in_script = IndexModeFromEnv()) {
  return R"({"name":"wallet-redis","kind":"redis","url":")" + url +
         R"(","pool_size":4,"timeout_ms":)" + std::to_string(timeout_ms) + R"(,"lock_wait_ms":)" +
         std::to_string(lock_wait_ms) + R"(,"index_in_script":")" + index_in_script +
         R"(","barrier_ttl_s":3600,
  "actions":{
    "debit":{"guards":[{"key":"wallet:{${account}}","op":">=","value":"${amount}"}],
             "writes":[["DECRBY","wallet:{${account}}","${amount}"]]},
    "credit":{"writes":[["INCRBY","wallet:{${account}}","${amount}"]]},
    "open":{"guards":[{"key":"wallet:{${account}}","op":"not_exists"}],
            "writes":[["SET","wallet:{${account}}","${initial}"]]},
    "close":{"guards":[{"key":"wallet:{${account}}","op":"exists"},
                       {"key":"wallet:{${account}}","op":"==","value":"0"}],
             "writes":[["DEL","wallet:{${account}}"]]},
    "bump":{"guards":[{"key":"wallet:{${account}}","op":"<=","value":"${max}"}],
            "writes":[["INCRBY","wallet:{${account}}","1"]]},
    "spend_points":{"guards":[{"key":"h:{${t}}","field":"points","op":">=","value":"${n}"}],
                    "writes":[["HINCRBY","h:{${t}}","points","${neg}"]]},
    "all":{"writes":[["SET","s:{${t}}","${v}"],["DEL","d:{${t}}"],["INCRBY","n:{${t}}","5"],
                     ["DECRBY","m:{${t}}","3"],["HSET","h:{${t}}","f1","${v}","f2","x"],
                     ["HDEL","h:{${t}}","gone"],["HINCRBY","h:{${t}}","cnt","7"],
                     ["SADD","set:{${t}}","a","${v}"],["SREM","set:{${t}}","old"],
                     ["EXPIRE","s:{${t}}","1000"]]},
    "two_tags":{"writes":[["SET","a:{${x}}","1"],["SET","b:{${y}}","1"]]}
  }})";
}

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RawReply = std::unique_ptr<redisReply, ReplyFree>;

// One command on a raw hiredis connection (binary-safe arguments).
inline RawReply Command(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> p;
  std::vector<size_t> l;
  for (const auto& a : argv) {
    p.push_back(a.data());
    l.push_back(a.size());
  }
  return RawReply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), p.data(), l.data())));
}

inline std::string Wallet(const std::string& account) {
  return "wallet:{" + account + "}";
}

class RedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = ::txcoord::testing::RequiredEnv("TXC_REDIS_URL");
    ASSERT_FALSE(url_.empty()) << "TXC_REDIS_URL is not set: run scripts/services start";
    p_ = Make(0);
    ASSERT_NE(p_, nullptr);
    Result<Endpoint> e = ParseUrl(url_);
    ASSERT_TRUE(e.ok()) << e.status();
    raw_.reset(redisConnect(e->host.c_str(), e->port));
    ASSERT_TRUE(raw_ && !raw_->err);
  }

  std::unique_ptr<RedisParticipant> Make(int lock_wait_ms, Clock& clock = Clock::Real(),
                                         int timeout_ms = 2000,
                                         const std::string& index_in_script = IndexModeFromEnv()) {
    Result<Config> c = ParseConfigText(ConfigJson(url_, lock_wait_ms, timeout_ms, index_in_script));
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    Result<std::unique_ptr<RedisParticipant>> p = RedisParticipant::Create(*c, clock);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return nullptr;
    return std::move(p).value();
  }

  // A name unique to this test and this run: safe as coordinator id, gid part, and tag.
  std::string Unique(const std::string& what = "") {
    static std::atomic<int> n{0};
    const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    std::string s = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    s = s.substr(0, 40) + "-" + std::to_string(t % 100000000000) + "-" + std::to_string(++n);
    return what.empty() ? s : what + "-" + s;
  }

  participant::BranchId Branch(const std::string& gid, const std::string& branch = "b1") {
    return {"coord-t", gid, branch};
  }

  participant::BranchCall Call(const participant::BranchId& id, std::string action,
                               participant::Payload payload) {
    return {id, std::move(action), std::move(payload)};
  }

  RawReply Cmd(const std::vector<std::string>& argv) { return Command(raw_.get(), argv); }
  // The string value of a key, or "<nil>".
  std::string Get(const std::string& key) {
    RawReply r = Cmd({"GET", key});
    if (!r || r->type != REDIS_REPLY_STRING) return "<nil>";
    return std::string(r->str, r->len);
  }
  void Set(const std::string& key, const std::string& value) {
    RawReply r = Cmd({"SET", key, value});
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STATUS);
  }
  long long Int(const std::vector<std::string>& argv) {
    RawReply r = Cmd(argv);
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
  }

  // Two prepares on one fresh wallet of 100: `a` (debit 60) prepared by p_, then `b` (debit 30)
  // by `waiting`, a participant with `lock_wait_ms`, on `thread`: it waits for a's lock. Join
  // `thread` before reading `vote`.
  struct LockWait {
    std::unique_ptr<RedisParticipant> waiting;
    std::string acct;
    participant::BranchId a, b;
    Result<participant::PrepareResult> vote = Internal("not run");
    std::thread thread;
    ~LockWait() {
      if (thread.joinable()) thread.join();  // a failed assertion returned early
    }
  };
  std::unique_ptr<LockWait> StartLockWait(int lock_wait_ms) {
    auto w = std::make_unique<LockWait>();
    w->waiting = Make(lock_wait_ms);
    EXPECT_NE(w->waiting, nullptr);
    if (w->waiting == nullptr) return nullptr;
    w->acct = Unique();
    Set(Wallet(w->acct), "100");
    w->a = Branch(Unique("ga"));
    w->b = Branch(Unique("gb"));
    auto va = p_->Prepare(Call(w->a, "debit", {{"account", w->acct}, {"amount", "60"}}));
    EXPECT_TRUE(va.ok() && va->vote == participant::Vote::kYes);
    if (!va.ok() || va->vote != participant::Vote::kYes) return nullptr;
    w->thread = std::thread([this, w = w.get()] {
      w->vote = w->waiting->Prepare(Call(w->b, "debit", {{"account", w->acct}, {"amount", "30"}}));
    });
    return w;
  }

  std::string url_;
  std::unique_ptr<RedisParticipant> p_;
  std::unique_ptr<redisContext, decltype(&redisFree)> raw_{nullptr, &redisFree};
};

}  // namespace txcoord::redis::testing
