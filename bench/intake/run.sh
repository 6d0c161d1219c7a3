#!/usr/bin/env bash
# Benchmarks the webhook intake against the database's own limit.
#
#   bench/intake/run.sh                      # ~2 minutes (ROUNDS=3 of a and b)
#   DURATION=30 CLIENTS=32 bench/intake/run.sh
#   PAYLOAD=mix bench/intake/run.sh          # intake phases with events that queue nothing too
#
# Without DATABASE_URL it runs inside scripts/pgtemp (a throw-away cluster).
# Phases, each on freshly truncated tables of the same migrated database:
#   a) the intake as fast as CLIENTS clients go (signed issues.labeled
#      deliveries, one issue_label job each), DURATION seconds;
#   b) pgbench at the same concurrency running the same transaction (the
#      deliveries row with the same body, River's river_job row);
#   c) the intake at a fixed RATE deliveries/s (open loop) for p99.
# Then a summary with the targets: intake >= 70% of pgbench, p99 < 20 ms at
# 200/s.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${DATABASE_URL:-}" ]; then
  exec scripts/pgtemp "$0" "$@"
fi

DURATION=${DURATION:-15}  # seconds per phase
CLIENTS=${CLIENTS:-16}
RATE=${RATE:-200}
PAYLOAD=${PAYLOAD:-labeled}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/intake" ./bench/intake
bench=("$tmp/intake" -db "$DATABASE_URL" -payload "$PAYLOAD")
# CPU seconds used by the PostgreSQL server (postmaster, live backends and
# reaped ones), when it runs on this machine; "" otherwise.
# The postmaster is the parent of a backend, read from /proc while that
# backend's session is still open (\! runs inside psql): a backend asked for
# its pid and then left exits with its psql, and reading it afterwards races.
postmaster=$(psql -XAtq "$DATABASE_URL" 2>/dev/null <<'SQL' || true
SELECT pg_backend_pid() AS backend_pid \gset
\setenv SPECLOOP_BACKEND_PID :backend_pid
\! awk '{print $4}' "/proc/$SPECLOOP_BACKEND_PID/stat" 2>/dev/null
SQL
)
# A server elsewhere may share a pid with something here: keep only a postgres.
case "$postmaster" in
  '' | *[!0-9]*) postmaster="" ;;
  *) [ "$(cat "/proc/$postmaster/comm" 2>/dev/null)" = postgres ] || postmaster="" ;;
esac
# PIN=1 gives PostgreSQL CPU 0 and the load (the intake with its clients,
# or pgbench) the rest, as when the database runs on its own machine; by
# default everything shares every core, which charges the intake's HTTP
# work against the database's limit.
run_load=()
if [ "${PIN:-0}" = 1 ] && [ -n "$postmaster" ] && [ "$(nproc)" -ge 2 ]; then
  # A backend may exit between pgrep and taskset: that one needs no pinning,
  # and its exit must not end the run (set -e).
  for pid in $postmaster $(pgrep -P "$postmaster" || true); do taskset -a -p 0x1 "$pid" >/dev/null 2>&1 || true; done
  run_load=(taskset -c "1-$(( $(nproc) - 1 ))")
  echo "== pinned: PostgreSQL on CPU 0, the load on CPUs 1-$(( $(nproc) - 1 ))" >&2
fi
# Every /proc read tolerates a process that is gone by then: a figure it
# cannot read is "" (printed as "?"), never the end of the run.
pg_cpu() {
  [ -n "$postmaster" ] || { echo ""; return; }
  python3 - "$postmaster" <<'PY' || echo ""
import os, sys
pm = sys.argv[1]; hz = os.sysconf("SC_CLK_TCK"); t = 0
def fields(pid):
    s = open(f"/proc/{pid}/stat").read(); return s[s.rindex(")") + 2:].split()
try:
    f = fields(pm)
except OSError:
    print(""); sys.exit(0)
t += sum(int(x) for x in f[11:15])  # utime stime cutime cstime
for pid in os.listdir("/proc"):
    if pid.isdigit() and pid != pm:
        try:
            f = fields(pid)
            if f[1] == pm: t += int(f[11]) + int(f[12])
        except OSError: pass
print(t / hz)
PY
}
sub() { [ -n "$1" ] && [ -n "$2" ] && python3 -c 'import sys; print(round((float(sys.argv[2])-float(sys.argv[1]))*1000/float(sys.argv[3]), 3))' "$1" "$2" "$3" || echo "?"; }
to_ms() { python3 -c 'import sys; print(round(float(sys.argv[1]), 2))' "$1"; }

# The machine's speed drifts by tens of percent from minute to minute, so
# phases a) and b) alternate ROUNDS times and the medians are compared.
ROUNDS=${ROUNDS:-3}
"${bench[@]}" -pgbench-script "$tmp/delivery.sql"  # migrates, so that is not counted below
for round in $(seq 1 "$ROUNDS"); do
  echo "== a) round $round: intake, as fast as $CLIENTS clients go, ${DURATION}s" >&2
  "${bench[@]}" -pgbench-script "$tmp/delivery.sql"  # truncates
  c0=$(pg_cpu)
  # No warm-up (pgbench has none either), so the server CPU counted is this phase's.
  "${run_load[@]}" "${bench[@]}" -clients "$CLIENTS" -duration "${DURATION}s" -warmup 0 -json >"$tmp/max.$round.json"
  c1=$(pg_cpu)
  jq -c . "$tmp/max.$round.json" >&2

  echo "== b) round $round: pgbench -c $CLIENTS -j 2 -T $DURATION, same transaction" >&2
  "${bench[@]}" -pgbench-script "$tmp/delivery.sql"
  c2=$(pg_cpu)
  "${run_load[@]}" pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$DURATION" -f "$tmp/delivery.sql" "$DATABASE_URL" >"$tmp/pgbench.$round.out" 2>&1 || {
    cat "$tmp/pgbench.$round.out" >&2; exit 1; }
  c3=$(pg_cpu)
  grep -E 'transactions actually processed|failed|latency average|^tps' "$tmp/pgbench.$round.out" >&2
  printf '   round %d: intake %s/s, pgbench %s tps\n' "$round" "$(jq .deliveries_per_s "$tmp/max.$round.json")" \
    "$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\)/\1/p' "$tmp/pgbench.$round.out")" >&2
done
# The median round (by intake rate) stands for the run; CPU figures are
# from the last round.
median_of() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
rates=(); tpss=()
for round in $(seq 1 "$ROUNDS"); do
  rates+=("$(jq .deliveries_per_s "$tmp/max.$round.json")")
  tpss+=("$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\)/\1/p' "$tmp/pgbench.$round.out")")
done
mid=$(python3 -c 'import sys; v=[float(x) for x in sys.argv[1:]]; print(sorted(range(len(v)), key=v.__getitem__)[len(v)//2] + 1)' "${rates[@]}")
cp "$tmp/max.$mid.json" "$tmp/max.json"
cp "$tmp/pgbench.$ROUNDS.out" "$tmp/pgbench.out"
pg_tps=$(median_of "${tpss[@]}")
pg_lat=$(sed -nE 's/^latency average = ([0-9.]+) ms/\1/p' "$tmp/pgbench.out")

echo "== c) intake at $RATE/s (open loop), ${DURATION}s" >&2
"${run_load[@]}" "${bench[@]}" -clients "$CLIENTS" -duration "${DURATION}s" -rate "$RATE" -json >"$tmp/rate.json"
jq -c . "$tmp/rate.json" >&2

max_rate=$(median_of "${rates[@]}")
p50=$(jq .p50_ms "$tmp/max.json")
p99=$(jq .p99_ms "$tmp/max.json")
errs_max=$(jq '[.errors[]] | add // 0' "$tmp/max.json")
p99_rate=$(jq .p99_ms "$tmp/rate.json")
got_rate=$(jq .deliveries_per_s "$tmp/rate.json")
errs_rate=$(jq '[.errors[]] | add // 0' "$tmp/rate.json")
ratio=$(python3 -c 'import sys; print(f"{float(sys.argv[1])/float(sys.argv[2]):.2f}")' "$max_rate" "$pg_tps")
pg_n=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$tmp/pgbench.out")
in_n=$(jq '.accepted + ([.errors[]] | add // 0)' "$tmp/max.json")
in_go=$(jq '.cpu_s * 1000 / .sent | . * 1000 | round / 1000' "$tmp/max.json")
verdict() { python3 -c 'import sys; print("PASS" if eval(sys.argv[1]) else "MISS")' "$1"; }

echo
printf 'intake benchmark: %d clients, %ss per phase, %d alternating rounds (medians), payload %s, %s cores%s\n' "$CLIENTS" "$DURATION" "$ROUNDS" "$PAYLOAD" "$(nproc)" "$([ ${#run_load[@]} -gt 0 ] && echo ', database pinned to its own core')"
printf '%-34s %12s  %-10s %s\n' measure value target verdict
printf '%-34s %12.1f  %-10s %s\n' "intake max deliveries/s" "$max_rate" "" "errors: $errs_max"
printf '%-34s %12.1f  %-10s %s\n' "pgbench tps (same transaction)" "$pg_tps" "" "avg latency ${pg_lat} ms"
printf '%-34s %12s  %-10s %s\n' "ratio intake/pgbench" "$ratio" ">= 0.70" "$(verdict "$ratio >= 0.70")"
printf '%-34s %12s  %-10s %s\n' "postgres CPU ms/delivery, intake" "$(sub "$c0" "$c1" "$in_n")" "" ""
printf '%-34s %12s  %-10s %s\n' "postgres CPU ms/tx, pgbench" "$(sub "$c2" "$c3" "$pg_n")" "" ""
printf '%-34s %12s  %-10s %s\n' "intake process CPU ms/delivery" "$in_go" "" "(server + in-process clients)"
printf '%-34s %12s  %-10s %s\n' "p50 at max (ms)" "$(to_ms "$p50")" "" ""
printf '%-34s %12s  %-10s %s\n' "p99 at max (ms)" "$(to_ms "$p99")" "" ""
printf '%-34s %12s  %-10s %s\n' "p99 at $RATE/s (ms)" "$(to_ms "$p99_rate")" "< 20" \
  "$(verdict "$p99_rate < 20 and $errs_rate == 0 and $got_rate >= 0.98 * $RATE")"
printf '%-34s %12.1f  %-10s %s\n' "achieved at $RATE/s" "$got_rate" "" "errors: $errs_rate"
