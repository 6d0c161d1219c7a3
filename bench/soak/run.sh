#!/usr/bin/env bash
# Soak under failure: CYCLES cycles (default 300) across two `specloop
# worker` processes and `specloop web` on one PostgreSQL and the GitHub
# emulator, with SIGKILL and SIGTERM sent at random points of a third of
# the cycles (the worker restarted each time) and a tenth stopped by
# unlabelling. Prints the report (bench/soak/main.go says what each figure
# means); exits 1 when a correctness target (nothing lost, nothing run twice
# at once, no check run left open, no duplicate PR) is missed.
#
#   bench/soak/run.sh                 # 300 cycles, ~15 minutes on 2 cores
#   CYCLES=30 bench/soak/run.sh       # a quick run
#   bench/soak/run.sh -seed 42 -json  # flags go to the driver
#
# Without DATABASE_URL it runs inside scripts/pgtemp (a throw-away cluster).
# The driver bounds itself (-timeout, default 40 minutes; a cycle not
# concluded 3 minutes after its label is counted lost), so the script
# cannot hang; nothing here races with a process that may have exited.
set -uo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${DATABASE_URL:-}" ]; then
  exec scripts/pgtemp "$0" "$@"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! go build -o "$tmp/soak" ./bench/soak; then
  echo "soak: build failed" >&2
  exit 2
fi
"$tmp/soak" -db "$DATABASE_URL" "$@"
