// Sagas end to end in-process: the engine on a real WAL, the PostgreSQL and Redis adapters on
// the servers of scripts/services. An order saga (reserve stock in Redis, charge in PostgreSQL,
// create the order in PostgreSQL), failure at each step, null compensation with a late
// execute, and concurrent transfer sagas that must conserve money.
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "txcoord/coordinator/transaction_manager.h"
#include "txcoord/postgres/participant.h"
#include "txcoord/redis/participant.h"
#include "txcoord/testing/env.h"

namespace txcoord::testing {
namespace {

namespace co = ::txcoord::coordinator;
using namespace std::chrono_literals;

std::string Hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

// The real participant, except that the first Execute of a step whose branch id starts with
// `label` + "." is preceded by its own Compensate (with `comp_action`): a compensation that
// overtook its Execute, as after a lost request. The engine draws the branch ids, so the test
// cannot send that compensation itself beforehand.
class CompensateFirst final : public participant::Participant {
 public:
  CompensateFirst(std::shared_ptr<participant::Participant> inner, std::string label,
                  std::string comp_action)
      : inner_(std::move(inner)), prefix_(std::move(label) + "."), comp_(std::move(comp_action)) {}
  const std::string& name() const override { return inner_->name(); }
  Status Validate(std::string_view a, const participant::Payload& p) const override {
    return inner_->Validate(a, p);
  }
  Result<participant::PrepareResult> Prepare(const participant::BranchCall& c) override {
    return inner_->Prepare(c);
  }
  Status Commit(const participant::BranchId& id) override { return inner_->Commit(id); }
  Status Abort(const participant::BranchId& id) override { return inner_->Abort(id); }
  Result<participant::ExecuteResult> Execute(const participant::BranchCall& c) override {
    if (c.id.branch.rfind(prefix_, 0) == 0 && !done_.exchange(true)) {
      compensated = inner_->Compensate(participant::BranchCall{c.id, comp_, c.payload});
    }
    return inner_->Execute(c);
  }
  Status Compensate(const participant::BranchCall& c) override { return inner_->Compensate(c); }
  Result<std::vector<participant::InDoubtBranch>> InDoubt(std::string_view id) override {
    return inner_->InDoubt(id);
  }
  Status compensated = Internal("no compensation sent first");

 private:
  std::shared_ptr<participant::Participant> inner_;
  std::string prefix_, comp_;
  std::atomic<bool> done_{false};
};

class SagaStoresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = RequiredEnv("TXC_PG_DSN");
    url_ = RequiredEnv("TXC_REDIS_URL");
    ASSERT_FALSE(dsn_.empty() || url_.empty()) << "run scripts/services start and eval its env";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name;
    for (char c : std::string(info->name())) {
      name += std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_';
    }
    const std::string run = Hex(
        static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()));
    tag_ = name.substr(0, 30) + "_" + run;
    coordinator_id_ = "sit-" + run;
    accounts_ = "sg_acc_" + tag_;
    orders_ = "sg_ord_" + tag_;
    pg_ = PQconnectdb(dsn_.c_str());
    ASSERT_EQ(PQstatus(pg_), CONNECTION_OK) << PQerrorMessage(pg_);
    PQsetNoticeProcessor(
        pg_, [](void*, const char*) {}, nullptr);
    Sql("CREATE TABLE " + accounts_ +
        " (id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))");
    Sql("CREATE TABLE " + orders_ + " (id text PRIMARY KEY, sku text NOT NULL, qty int NOT NULL)");
    Sql("INSERT INTO " + accounts_ + " VALUES ('alice', 100)");
    const auto colon = url_.rfind(':');
    redis_ = redisConnect("127.0.0.1", std::stoi(url_.substr(colon + 1)));
    ASSERT_TRUE(redis_ != nullptr && redis_->err == 0);
    Redis("SET stock:{" + tag_ + "} 10");
    Redis("SET wallet:{" + tag_ + "} 100");
    wal_dir_ = std::filesystem::temp_directory_path() / ("txc-saga-" + tag_);
    std::filesystem::remove_all(wal_dir_);
    StartEngine();
  }

  void TearDown() override {
    tm_.reset();
    log_.reset();
    std::filesystem::remove_all(wal_dir_);
    if (pg_ != nullptr) {
      Sql("DROP TABLE IF EXISTS " + accounts_ + ", " + orders_);
      PQfinish(pg_);
    }
    if (redis_ != nullptr) {
      Redis("DEL stock:{" + tag_ + "} wallet:{" + tag_ + "}");
      redisFree(redis_);
    }
  }

  void StartEngine() {
    const std::string pg_json =
        R"J({"name":"shop-pg","kind":"postgres","dsn":")J" + dsn_ +
        R"J(","pool_size":4,"actions":{
      "charge":{"sql":["UPDATE )J" +
        accounts_ +
        R"J( SET balance = balance - :amount WHERE id = :account AND balance >= :amount"],"expect_rows":[1]},
      "refund":{"sql":["UPDATE )J" +
        accounts_ +
        R"J( SET balance = balance + :amount WHERE id = :account"],"expect_rows":[1]},
      "create_order":{"sql":["INSERT INTO )J" +
        orders_ +
        R"J( (id, sku, qty) VALUES (:order, :sku, :qty)"],"expect_rows":[1]},
      "cancel_order":{"sql":["DELETE FROM )J" +
        orders_ + R"J( WHERE id = :order"]}}})J";
    auto pgc = postgres::ParseConfigText(pg_json);
    ASSERT_TRUE(pgc.ok()) << pgc.status();
    auto pgp = postgres::PostgresParticipant::Create(std::move(*pgc));
    ASSERT_TRUE(pgp.ok()) << pgp.status();
    pg_part_ = std::move(*pgp);
    if (compensate_first_armed_) {
      compensate_first_ = std::make_shared<CompensateFirst>(pg_part_, "s1", "refund");
      pg_part_ = compensate_first_;
    }
    const std::string redis_json = R"({"name":"shop-redis","kind":"redis","url":")" + url_ +
                                   R"(","pool_size":4,"actions":{
      "reserve":{"guards":[{"key":"stock:{${sku}}","op":">=","value":"${qty}"}],
                 "writes":[["DECRBY","stock:{${sku}}","${qty}"]]},
      "release":{"writes":[["INCRBY","stock:{${sku}}","${qty}"]]},
      "debit":{"guards":[{"key":"wallet:{${w}}","op":">=","value":"${amount}"}],
               "writes":[["DECRBY","wallet:{${w}}","${amount}"]]},
      "credit":{"writes":[["INCRBY","wallet:{${w}}","${amount}"]]}}})";
    auto rc = redis::ParseConfigText(redis_json);
    ASSERT_TRUE(rc.ok()) << rc.status();
    auto rp = redis::RedisParticipant::Create(std::move(*rc));
    ASSERT_TRUE(rp.ok()) << rp.status();
    redis_part_ = std::move(*rp);

    co::RecoveredState state;
    wal::Options opts;
    opts.dir = wal_dir_.string();
    opts.segment_bytes = 1 << 20;
    auto log = wal::Log::Open(opts, state.Visitor());
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
    co::Config cfg;
    cfg.coordinator_id = coordinator_id_;
    cfg.orphan_scan_interval = 0ms;
    cfg.prepare_backoff = BackoffPolicy{5ms, 50ms};
    cfg.phase2_backoff = BackoffPolicy{5ms, 50ms};
    auto tm = co::TransactionManager::Start(cfg, {pg_part_, redis_part_}, log_, std::move(state),
                                            Clock::Real(), random_);
    ASSERT_TRUE(tm.ok()) << tm.status();
    tm_ = std::move(*tm);
  }

  void Sql(const std::string& sql) {
    PGresult* r = PQexec(pg_, sql.c_str());
    const auto st = PQresultStatus(r);
    EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        << sql << ": " << PQerrorMessage(pg_);
    PQclear(r);
  }
  std::string Scalar(const std::string& sql) {
    PGresult* r = PQexec(pg_, sql.c_str());
    std::string out = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "<none>";
    PQclear(r);
    return out;
  }
  std::string Redis(const std::string& cmd) {
    auto* r = static_cast<redisReply*>(redisCommand(redis_, cmd.c_str()));
    std::string out = r == nullptr        ? "<error>"
                      : r->str != nullptr ? r->str
                                          : std::to_string(r->integer);
    if (r != nullptr) freeReplyObject(r);
    return out;
  }

  std::string Balance() { return Scalar("SELECT balance FROM " + accounts_ + " WHERE id='alice'"); }
  std::string Orders() { return Scalar("SELECT count(*) FROM " + orders_); }
  std::string Stock() { return Redis("GET stock:{" + tag_ + "}"); }
  std::string Wallet() { return Redis("GET wallet:{" + tag_ + "}"); }

  co::SagaRequest Order(const std::string& gid, int qty, int amount, const std::string& order) {
    co::SagaRequest r;
    r.gid = gid;
    const participant::Payload item{{"sku", tag_}, {"qty", std::to_string(qty)}};
    const participant::Payload pay{{"account", "alice"}, {"amount", std::to_string(amount)}};
    const participant::Payload ord{{"order", order}, {"sku", tag_}, {"qty", std::to_string(qty)}};
    r.steps.push_back({"shop-redis", "reserve", item, "release", item, 0, ""});
    r.steps.push_back({"shop-pg", "charge", pay, "refund", pay, 1, ""});
    r.steps.push_back({"shop-pg", "create_order", ord, "cancel_order", ord, 2, ""});
    return r;
  }

  co::TxnView Run(const co::SagaRequest& r) {
    auto s = tm_->SubmitSaga(r);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return {};
    auto v = tm_->Wait(s->txn.gid, 20s);
    EXPECT_TRUE(v.ok() && co::IsFinal(v->state)) << r.gid;
    return v.ok() ? *v : co::TxnView{};
  }

  std::string dsn_, url_, tag_, coordinator_id_, accounts_, orders_;
  std::filesystem::path wal_dir_;
  PGconn* pg_ = nullptr;
  redisContext* redis_ = nullptr;
  SeededRandom random_{7};
  // Set before StartEngine: shop-pg's first Execute of step s1 is overtaken by its Compensate.
  bool compensate_first_armed_ = false;
  std::shared_ptr<CompensateFirst> compensate_first_;
  std::shared_ptr<participant::Participant> pg_part_, redis_part_;
  std::shared_ptr<wal::Log> log_;
  std::unique_ptr<co::TransactionManager> tm_;
};

TEST_F(SagaStoresTest, OrderSagaCommitsAcrossBothStores) {
  co::TxnView v = Run(Order("order-ok", 2, 30, "o-1"));
  EXPECT_EQ(v.state, co::TxnState::kCommitted) << v.reason;
  EXPECT_EQ(Stock(), "8");
  EXPECT_EQ(Balance(), "70");
  EXPECT_EQ(Orders(), "1");
}

TEST_F(SagaStoresTest, FailureAtEachStepRestoresBothStores) {
  Sql("INSERT INTO " + orders_ + " VALUES ('taken', 'x', 1)");
  struct Case {
    int qty, amount;
    const char* order;
    std::size_t refused_step;
  };
  const Case cases[] = {{11, 30, "o-a", 0},    // out of stock
                        {2, 500, "o-b", 1},    // payment declined
                        {2, 30, "taken", 2}};  // the order exists already
  for (const Case& c : cases) {
    const std::string gid = "fail-" + std::to_string(c.refused_step);
    co::TxnView v = Run(Order(gid, c.qty, c.amount, c.order));
    EXPECT_EQ(v.state, co::TxnState::kCompensated) << gid;
    ASSERT_EQ(v.branches.size(), 3u);
    EXPECT_EQ(v.branches[c.refused_step].state, co::BranchState::kRefused) << gid;
    EXPECT_EQ(Stock(), "10") << gid;
    EXPECT_EQ(Balance(), "100") << gid;
    EXPECT_EQ(Orders(), "1") << gid;  // only the pre-existing row
  }
}

TEST_F(SagaStoresTest, CompensationBeforeExecuteIsNullAndTheLateExecuteIsRefused) {
  // The charge of this gid is compensated before it ran (as after a lost request).
  const std::string gid = "null-comp";
  tm_.reset();
  log_.reset();
  compensate_first_armed_ = true;
  StartEngine();
  co::TxnView v = Run(Order(gid, 2, 30, "o-n"));
  EXPECT_TRUE(compensate_first_->compensated.ok()) << compensate_first_->compensated;
  EXPECT_EQ(v.state, co::TxnState::kCompensated);
  EXPECT_EQ(v.branches[1].state, co::BranchState::kRefused);
  EXPECT_NE(v.branches[1].last_error.find("compensated"), std::string::npos)
      << v.branches[1].last_error;
  EXPECT_EQ(Stock(), "10");
  EXPECT_EQ(Balance(), "100");
  EXPECT_EQ(Orders(), "0");
}

TEST_F(SagaStoresTest, ConcurrentTransferSagasConserveMoney) {
  // alice (PostgreSQL, 100) and the wallet (Redis, 100) send each other money; some transfers
  // overdraw and compensate. The total never changes. Half the threads are waiting callers:
  // their sagas' steps run on their own threads (SagaRequest::caller_waits).
  constexpr int kThreads = 4, kPerThread = 6;
  std::atomic<int> committed{0}, compensated{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int amount = 15 + 10 * ((t + i) % 4);
        const participant::Payload acc{{"account", "alice"}, {"amount", std::to_string(amount)}};
        const participant::Payload w{{"w", tag_}, {"amount", std::to_string(amount)}};
        co::SagaRequest r;
        r.gid = "tr-" + std::to_string(t) + "-" + std::to_string(i);
        if (t % 2 == 1) r.caller_waits = 20s;
        if ((t + i) % 2 == 0) {
          r.steps.push_back({"shop-pg", "charge", acc, "refund", acc, 0, ""});
          r.steps.push_back({"shop-redis", "credit", w, "debit", w, 1, ""});
        } else {
          r.steps.push_back({"shop-redis", "debit", w, "credit", w, 0, ""});
          r.steps.push_back({"shop-pg", "refund", acc, "charge", acc, 1, ""});
        }
        co::TxnView v = Run(r);
        (v.state == co::TxnState::kCommitted ? committed : compensated)++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(committed + compensated, kThreads * kPerThread);
  EXPECT_GT(committed.load(), 0);
  EXPECT_EQ(std::stoll(Balance()) + std::stoll(Wallet()), 200);
  EXPECT_GE(std::stoll(Balance()), 0);
  EXPECT_GE(std::stoll(Wallet()), 0);
}

// Keyed sagas, run on the caller's thread, then a checkpoint of the real WAL (the idempotency
// records serialized in slices before the gate, the live part after them) and a restart: every
// key answers its first saga again, and nothing is applied twice.
TEST_F(SagaStoresTest, KeyedSagasReplayAfterACheckpointAndRestart) {
  std::vector<std::string> gids;
  for (int i = 0; i < 5; ++i) {
    co::SagaRequest r = Order("keyed-" + std::to_string(i), 1, 10, "o-k" + std::to_string(i));
    r.idempotency_key = tag_ + "-key-" + std::to_string(i);
    r.caller_waits = 20s;
    co::TxnView v = Run(r);
    EXPECT_EQ(v.state, co::TxnState::kCommitted) << v.reason;
    gids.push_back(v.gid);
  }
  ASSERT_TRUE(tm_->CheckpointNow().ok());
  tm_.reset();
  log_.reset();
  StartEngine();
  for (int i = 0; i < 5; ++i) {
    co::SagaRequest r = Order("keyed-" + std::to_string(i), 1, 10, "o-k" + std::to_string(i));
    r.idempotency_key = tag_ + "-key-" + std::to_string(i);
    auto again = tm_->SubmitSaga(r);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->match, co::IdempotencyMatch::kReplayed) << i;
    EXPECT_EQ(again->txn.gid, gids[static_cast<std::size_t>(i)]);
    EXPECT_EQ(again->txn.state, co::TxnState::kCommitted);
  }
  EXPECT_EQ(Stock(), "5");
  EXPECT_EQ(Balance(), "50");
  EXPECT_EQ(Orders(), "5");
}

TEST_F(SagaStoresTest, RestartResumesFromTheWal) {
  co::TxnView v = Run(Order("before-restart", 1, 10, "o-r"));
  EXPECT_EQ(v.state, co::TxnState::kCommitted);
  tm_.reset();
  log_.reset();
  StartEngine();
  auto again = tm_->Get("before-restart");  // finished: kept across the restart, not resumed
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->state, co::TxnState::kCommitted);
  ASSERT_EQ(again->branches.size(), v.branches.size());
  for (std::size_t i = 0; i < v.branches.size(); ++i) {
    EXPECT_EQ(again->branches[i].state, v.branches[i].state) << i;
  }
  EXPECT_EQ(Run(Order("after-restart", 1, 10, "o-r2")).state, co::TxnState::kCommitted);
  EXPECT_EQ(Stock(), "8");
  EXPECT_EQ(Balance(), "80");
}

}  // namespace
}  // namespace txcoord::testing
