#!/usr/bin/env bash
# pg_floor: what PostgreSQL itself charges for the statements of a 2PC branch, with no
# coordinator, barrier bookkeeping in C++ or Redis — the floor under txbench's 2pc_ratio.
# pgbench (closed loop, simple protocol: PREPARE TRANSACTION takes no parameters) runs each
# shape for S seconds at C clients on its own throwaway server and reports tps and the machine's
# CPU (all processes, /proc/stat) per transaction:
#   commit   BEGIN; UPDATE; COMMIT                               (txbench's baseline, PG half)
#   2pc      BEGIN; UPDATE; PREPARE TRANSACTION; COMMIT PREPARED
#   barrier  2pc plus the barrier insert our Prepare makes (docs/adapters-postgres.md)
#   view     barrier plus the pg_prepared_xacts look-up Prepare made before 2026-11-24
# Usage: bench/pg_floor.sh [seconds=5] [clients=8]. Last line:
#   pg_floor: clients=C commit_tps=.. 2pc_tps=.. barrier_tps=.. view_tps=.. commit_cpu_ms=.. 2pc_cpu_ms=.. barrier_cpu_ms=.. view_cpu_ms=..
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_EACH=${1:-5}
CLIENTS=${2:-8}
PGBENCH=${TXC_PG_BIN:-/usr/lib/postgresql/15/bin}/pgbench
export TXC_SERVICES_DIR=${TMPDIR:-/tmp}/pg-floor-$$
WORK=$TXC_SERVICES_DIR/scripts
trap '"$ROOT/scripts/services" stop --purge >/dev/null 2>&1 || true' EXIT
"$ROOT/scripts/services" start >/dev/null
eval "$("$ROOT/scripts/services" env --export)"
mkdir -p "$WORK"
psql -q "$TXC_PG_DSN" <<'SQL'
CREATE TABLE acc (id int PRIMARY KEY, balance bigint NOT NULL);
INSERT INTO acc SELECT g, 1000000000 FROM generate_series(1, 1000) g;
CREATE TABLE bar (coordinator text NOT NULL, gid text NOT NULL, branch text NOT NULL,
  op text NOT NULL, state text NOT NULL, reason text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (coordinator, gid, branch, op));
SQL
G="g:client_id:r"  # pgbench substitutes :client_id and :r (simple protocol)
UPDATE="UPDATE acc SET balance = balance - 1 WHERE id = :client_id + 1;"
INSERT="INSERT INTO bar (coordinator, gid, branch, op, state) VALUES ('c', '$G', 'b', 'prepare', 'prepared') ON CONFLICT DO NOTHING;"
VIEW="WITH listed AS (SELECT 1 FROM pg_prepared_xacts WHERE gid = 'txc:c:$G:b' AND database = current_database()), ins AS (INSERT INTO bar (coordinator, gid, branch, op, state) SELECT 'c', '$G', 'b', 'prepare', 'prepared' WHERE NOT EXISTS (SELECT 1 FROM listed) ON CONFLICT DO NOTHING RETURNING 1) SELECT 1 / (SELECT count(*)::int FROM ins);"
TWOPC="PREPARE TRANSACTION 'txc:c:$G:b'; COMMIT PREPARED 'txc:c:$G:b';"
R='\set r random(1, 2000000000)'
printf '%s\n' "BEGIN;" "$UPDATE" "COMMIT;" >"$WORK/commit.sql"
printf '%s\n' "$R" "BEGIN;" "$UPDATE" "$TWOPC" >"$WORK/2pc.sql"
printf '%s\n' "$R" "BEGIN;" "$INSERT" "$UPDATE" "$TWOPC" >"$WORK/barrier.sql"
printf '%s\n' "$R" "BEGIN;" "$VIEW" "$UPDATE" "$TWOPC" >"$WORK/view.sql"

busy() { local _ u n s i w q sq st; read -r _ u n s i w q sq st _ </proc/stat; echo $((u + n + s + q + sq + st)); }
HZ=$(getconf CLK_TCK)
summary="pg_floor: clients=$CLIENTS"
cpus=""
for shape in commit 2pc barrier view; do
  b0=$(busy)
  out=$("$PGBENCH" -n -M simple -c "$CLIENTS" -j 2 -T "$SECONDS_EACH" -f "$WORK/$shape.sql" "$TXC_PG_DSN" 2>&1)
  b1=$(busy)
  tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
  [ -n "$tps" ] || { echo "pg_floor: pgbench failed for $shape:"; echo "$out"; exit 1; }
  cpu=$(awk -v b="$((b1 - b0))" -v hz="$HZ" -v t="$tps" -v s="$SECONDS_EACH" \
    'BEGIN { printf "%.3f", b * 1000 / hz / (t * s) }')
  printf '%-8s clients=%-3s tps=%-9.1f cpu_ms_per_txn=%s failed=%s\n' "$shape" "$CLIENTS" "$tps" "$cpu" "${failed:-0}"
  summary+=" ${shape}_tps=${tps%.*}"
  cpus+=" ${shape}_cpu_ms=$cpu"
done
echo "$summary$cpus"
