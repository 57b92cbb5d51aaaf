#include "checks.h"

#include <iostream>
#include <map>
#include <string>

namespace txcoord::chaos {
namespace {

long long ToLL(const std::optional<std::string>& v) {
  if (!v || v->empty()) return 0;
  try {
    return std::stoll(*v);
  } catch (const std::exception&) {
    return -999999999;
  }
}

int Violation(const std::string& what) {
  std::cerr << "chaos: VIOLATION " << what << "\n";
  return 1;
}

int CheckBalances(Bank& bank) {
  int v = 0;
  e2e::Pg& pg = bank.pg();
  e2e::Redis& redis = bank.redis();
  const std::string like = "'" + bank.cid() + "-%'";
  const long long pg_sum =
      ToLL(pg.Scalar("SELECT COALESCE(SUM(balance),0) FROM chaos_accounts "
                     "WHERE id LIKE " +
                     like));
  long long redis_sum = 0;
  for (const auto& w : bank.wallets()) {
    const long long bal = ToLL(redis.Cmd({"GET", "wallet:{" + w + "}"}));
    redis_sum += bal;
    long long ledger = 0;
    auto fields = redis.Cmd({"EVAL",
                             "local s=0 for _,x in ipairs(redis.call('HVALS',KEYS[1])) do "
                             "s=s+tonumber(x) end return s",
                             "1", "chaos:ledger:{" + w + "}"});
    ledger = ToLL(fields);
    if (bal != bank.initial_balance() + ledger) {
      v += Violation("wallet " + w + " is " + std::to_string(bal) +
                     ", initial + ledger = " + std::to_string(bank.initial_balance() + ledger));
    }
  }
  for (const auto& a : bank.accounts()) {
    const long long bal =
        ToLL(pg.Scalar("SELECT balance FROM chaos_accounts WHERE id = '" + a + "'"));
    const long long ledger = ToLL(
        pg.Scalar("SELECT COALESCE(SUM(delta),0) FROM chaos_ledger WHERE account = '" + a + "'"));
    if (bal != bank.initial_balance() + ledger) {
      v += Violation("account " + a + " is " + std::to_string(bal) +
                     ", initial + ledger = " + std::to_string(bank.initial_balance() + ledger));
    }
  }
  const long long expected =
      2 * static_cast<long long>(bank.accounts().size()) * bank.initial_balance();
  if (pg_sum + redis_sum != expected) {
    v += Violation("money not conserved: PostgreSQL " + std::to_string(pg_sum) + " + Redis " +
                   std::to_string(redis_sum) + " != " + std::to_string(expected));
  }
  return v;
}

int CheckTransfer(Bank& bank, const TransferRecord& t) {
  const long long pg_net = ToLL(bank.pg().Scalar(
      "SELECT COALESCE(SUM(delta),0) FROM chaos_ledger WHERE tid = '" + t.tid + "'"));
  const long long pg_debits = ToLL(bank.pg().Scalar(
      "SELECT count(*) FROM chaos_ledger WHERE tid = '" + t.tid + "' AND delta < 0"));
  const long long pg_credits = ToLL(bank.pg().Scalar(
      "SELECT count(*) FROM chaos_ledger WHERE tid = '" + t.tid + "' AND delta > 0"));
  const long long redis_net =
      ToLL(bank.redis().Cmd({"HGET", "chaos:ledger:{" + t.wallet + "}", t.tid}));
  const long long want_pg = t.pg_to_redis ? -t.amount : t.amount;
  const bool applied = pg_net == want_pg && redis_net == -want_pg;
  const bool not_applied = pg_net == 0 && redis_net == 0;
  const std::string desc = t.tid + " (" + (t.saga ? "saga" : "2pc") + ", " +
                           (t.pg_to_redis ? "pg->redis" : "redis->pg") + ", amount " +
                           std::to_string(t.amount) + "): PostgreSQL net " +
                           std::to_string(pg_net) + ", Redis net " + std::to_string(redis_net) +
                           "; last answer " + t.note.substr(0, 300);
  int v = 0;
  if (pg_debits > 1 || pg_credits > 1) v += Violation("applied twice: " + desc);
  // The coordinator was just restarted on its WAL: it still answers every transfer it began
  // (a round's are far fewer than max_finished_kept), final, the way the stores have it.
  const e2e::HttpReply r = e2e::Http(bank.port(), "GET", "/v1/transactions/" + t.tid);
  const std::string state = e2e::JsonField(r.body, "state");
  const bool committed = state == "committed";
  const bool final = committed || state == "aborted" || state == "compensated";
  if (r.status == 404 && t.outcome == Outcome::kUnknown && not_applied) {
    // never reached the coordinator: every attempt went unanswered before a BEGIN
  } else if (r.status != 200) {
    v += Violation("after the restart GET answered " + std::to_string(r.status) + " " +
                   r.body.substr(0, 200) + ": " + desc);
  } else if (!final || (committed ? !applied : !not_applied)) {
    v += Violation("after the restart GET says " + state + ": " + desc);
  } else if (t.outcome != Outcome::kUnknown && committed != (t.outcome == Outcome::kCommitted)) {
    v += Violation("after the restart GET says " + state + ", the API said otherwise: " + desc);
  }
  switch (t.outcome) {
    case Outcome::kCommitted:
      if (!applied) v += Violation("reported committed but not fully applied: " + desc);
      break;
    case Outcome::kAborted:
      if (!not_applied) v += Violation("reported aborted but applied: " + desc);
      break;
    case Outcome::kUnknown:
      if (!applied && !not_applied) v += Violation("half-applied: " + desc);
      break;
  }
  return v;
}

int CheckLeftovers(Bank& bank) {
  int v = 0;
  const long long prepared = ToLL(bank.pg().Scalar(
      "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'txc:" + bank.cid() + ":%'"));
  if (prepared != 0) v += Violation(std::to_string(prepared) + " prepared transactions left");
  const std::string tags = "txc:{" + bank.cid() + "-*}";
  for (const auto& k : bank.redis().Keys(tags + ":l:*")) v += Violation("Redis lock left: " + k);
  for (const auto& set : bank.redis().Keys(tags + ":prepared")) {
    if (bank.redis().Cmd({"ZCARD", set}).value_or("?") != "0") {
      v += Violation("Redis prepared set not empty: " + set);
    }
  }
  for (const auto& b : bank.redis().Keys(tags + ":b:*")) {
    if (bank.redis().Cmd({"HGET", b, "writes"})) v += Violation("staged writes left: " + b);
  }
  return v;
}

}  // namespace

int CheckInvariants(Bank& bank, const std::vector<TransferRecord>& transfers) {
  int v = CheckBalances(bank);
  for (const auto& t : transfers) v += CheckTransfer(bank, t);
  return v + CheckLeftovers(bank);
}

}  // namespace txcoord::chaos
