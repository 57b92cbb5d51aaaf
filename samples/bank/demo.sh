#!/usr/bin/env bash
# The bank demo (`make demo`): money moves between PostgreSQL accounts and Redis wallets, both or
# neither — including across a coordinator crash between its decision and phase 2.
# Brings the stack up (stack.sh), runs the story, brings it down (always).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STACK="$HERE/stack.sh"
trap '"$STACK" down --purge >/dev/null 2>&1 || true' EXIT

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
note() { printf '   %s\n' "$*"; }
# field NAME < json: the string value of "NAME" (JSON escapes of quotes undone).
field() {
  grep -o '"'"$1"'":"\([^"\\]\|\\.\)*"' | head -n 1 |
    sed -e 's/^"'"$1"'":"//' -e 's/"$//' -e 's/\\"/"/g'
}
failures=0
expect() {  # expect WHAT ACTUAL EXPECTED
  if [ "$2" != "$3" ]; then
    echo "   DEMO CHECK FAILED: $1 is '$2', expected '$3'" >&2
    failures=$((failures + 1))
  fi
}

"$STACK" down --purge >/dev/null 2>&1 || true
say "Starting PostgreSQL, Redis, the wallet-redis participant (txparticipant) and txcoordd"
eval "$("$STACK" up | sed 's/^/export /')"
note "coordinator at $TXC_URL (bank-pg in-process, wallet-redis over HTTP at $TXC_WALLET_URL)"

psql() { command "$TXC_PG_BIN/psql" -X -q -tA "$TXC_PG_DSN" "$@"; }
rcli() { redis-cli -u "$TXC_REDIS_URL" "$@"; }

balances() {  # prints the four balances; sets BAL="pa pb ra rb"
  local pa pb ra rb
  pa=$(psql -c "SELECT balance FROM accounts WHERE id='alice'")
  pb=$(psql -c "SELECT balance FROM accounts WHERE id='bob'")
  ra=$(rcli GET 'wallet:{alice}')
  rb=$(rcli GET 'wallet:{bob}')
  note "PostgreSQL accounts: alice=$pa bob=$pb | Redis wallets: alice=$ra bob=$rb | total=$((pa + pb + ra + rb))"
  BAL="$pa $pb $ra $rb"
  expect "total money" "$((pa + pb + ra + rb))" 150
}

# transfer GID FROM_PARTICIPANT TO_PARTICIPANT ACCOUNT_FROM ACCOUNT_TO AMOUNT → prints the answer
transfer() {
  curl -s -X POST "$TXC_URL/v1/transactions" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: demo-$1" \
    -d "{\"gid\":\"$1\",\"branches\":[
          {\"participant\":\"$2\",\"action\":\"debit\",\"payload\":{\"account\":\"$4\",\"amount\":$6}},
          {\"participant\":\"$3\",\"action\":\"credit\",\"payload\":{\"account\":\"$5\",\"amount\":$6}}]}"
}

say "Seeding: alice has 100 in PostgreSQL and 50 in Redis; bob has nothing"
psql -c "INSERT INTO accounts VALUES ('alice', 100), ('bob', 0)" >/dev/null
rcli SET 'wallet:{alice}' 50 >/dev/null
rcli SET 'wallet:{bob}' 0 >/dev/null
balances

say "1. Transfer 30 from alice's PostgreSQL account to bob's Redis wallet (2PC)"
answer=$(transfer t1 bank-pg wallet-redis alice bob 30)
note "coordinator: gid=$(field gid <<<"$answer") state=$(field state <<<"$answer")"
expect "transfer 1" "$(field state <<<"$answer")" committed
balances
expect "balances after 1" "$BAL" "70 0 50 30"

say "2. Transfer 20 from alice's Redis wallet to bob's PostgreSQL account"
answer=$(transfer t2 wallet-redis bank-pg alice bob 20)
note "coordinator: gid=$(field gid <<<"$answer") state=$(field state <<<"$answer")"
expect "transfer 2" "$(field state <<<"$answer")" committed
balances
expect "balances after 2" "$BAL" "70 20 30 30"

say "3. Transfer 1000 from alice's account: she does not have it, so bank-pg votes no"
answer=$(transfer t3 bank-pg wallet-redis alice bob 1000)
note "coordinator: state=$(field state <<<"$answer") reason: $(field reason <<<"$answer")"
expect "transfer 3" "$(field state <<<"$answer")" aborted
note "nothing moved on either side:"
balances
expect "balances after 3" "$BAL" "70 20 30 30"

say "4. The same request as #1 again, same Idempotency-Key: answered from the log, not re-applied"
answer=$(transfer t1 bank-pg wallet-redis alice bob 30)
note "coordinator: gid=$(field gid <<<"$answer") state=$(field state <<<"$answer")"
expect "replay of 1" "$(field gid <<<"$answer")" t1
balances
expect "balances after the replay" "$BAL" "70 20 30 30"

say "5. A crash: txcoordd dies (kill -9 equivalent) right after its COMMIT decision is durable"
note "restarting the coordinator with TXC_FAILPOINTS=coordinator.after_decision_durable=crash"
"$STACK" stop coordinator
TXC_FAILPOINTS=coordinator.after_decision_durable=crash "$STACK" start coordinator
answer=$(transfer t5 bank-pg wallet-redis alice bob 25 || true)
note "client got: ${answer:-no answer (connection dropped)}"
for _ in $(seq 1 100); do "$STACK" status coordinator >/dev/null 2>&1 || break; sleep 0.1; done
note "the coordinator is down; the branches are prepared but not committed:"
note "  PostgreSQL pg_prepared_xacts: $(psql -c "SELECT string_agg(gid, ', ') FROM pg_prepared_xacts WHERE gid LIKE 'txc:bank-1:t5:%'")"
note "  Redis prepared branches: $(rcli --scan --pattern 'txc:*prepared*' | tr '\n' ' ')"
balances
say "   Restarting txcoordd: it replays its WAL, finds COMMIT without END, and finishes phase 2"
"$STACK" start coordinator
for _ in $(seq 1 100); do
  answer=$(curl -s "$TXC_URL/v1/transactions/t5")
  grep -q '"phase2_complete":true' <<<"$answer" && break
  sleep 0.1
done
note "coordinator: gid=t5 state=$(field state <<<"$answer") (phase 2 complete)"
left=$(psql -c "SELECT count(*) FROM pg_prepared_xacts")
note "  PostgreSQL pg_prepared_xacts left: $left"
expect "transfer 5 after recovery" "$(field state <<<"$answer")" committed
expect "prepared transactions left" "$left" 0
balances
expect "balances after recovery" "$BAL" "45 20 30 55"
# saga GID STEP1_PARTICIPANT STEP1_ACCOUNT STEP2_PARTICIPANT STEP2_ACCOUNT AMOUNT: a transfer as
# a saga — each step commits on its own; a refused step compensates the earlier ones.
saga() {
  curl -s -X POST "$TXC_URL/v1/transactions" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: demo-$1" \
    -d "{\"gid\":\"$1\",\"mode\":\"saga\",\"branches\":[
          {\"participant\":\"$2\",\"action\":\"debit\",\"payload\":{\"account\":\"$3\",\"amount\":$6},
           \"compensation\":{\"action\":\"credit\",\"payload\":{\"account\":\"$3\",\"amount\":$6}}},
          {\"participant\":\"$4\",\"action\":\"credit\",\"payload\":{\"account\":\"$5\",\"amount\":$6},
           \"compensation\":{\"action\":\"debit\",\"payload\":{\"account\":\"$5\",\"amount\":$6}}}]}"
}

say "6. The same kind of transfer as a saga: debit, then credit, each committed on its own"
answer=$(saga s6 bank-pg alice wallet-redis bob 5)
note "coordinator: gid=s6 mode=saga state=$(field state <<<"$answer")"
expect "saga 6" "$(field state <<<"$answer")" committed
balances
expect "balances after saga 6" "$BAL" "40 20 30 60"

say "7. A saga whose second step is refused (carol has no account): the debit is compensated"
answer=$(saga s7 wallet-redis alice bank-pg carol 10)
note "coordinator: gid=s7 mode=saga state=$(field state <<<"$answer")"
note "steps: $(grep -o '"action":"[a-z]*","branch":"[^"]*","state":"[a-z_]*"' <<<"$answer" |
  sed 's/"action":"\([a-z]*\)".*"state":"\([a-z_]*\)"/\1=\2/' | tr '\n' ' ')"
expect "saga 7" "$(field state <<<"$answer")" compensated
note "alice's Redis wallet was debited 10 by step 1 and credited back by its compensation:"
balances
expect "balances after saga 7" "$BAL" "40 20 30 60"

if [ "$failures" -ne 0 ]; then
  say "$failures check(s) failed. Stopping the stack."
  exit 1
fi
say "Money is conserved (total 150 throughout): every 2PC transfer is all-or-nothing, every saga completes or is compensated. Stopping the stack."
