#!/usr/bin/env bash
# Sandboxes on the local single-node cluster side by side with bwrap, on
# the same machine (needs root; builds and starts the cluster, tears it
# down after):
#   - sandbox start to the command's first byte of output (image present)
#   - a Run that changes one file of a 10,000-file git working copy: the
#     copy in, the command (git status) and the change out
#   - cycles per minute with 4 cycles at once on the emulator
#
#   bench/kube/run.sh
#   KEEP_CLUSTER=1 bench/kube/run.sh   # leave the cluster up
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/kube/up.sh
[ "${KEEP_CLUSTER:-}" = 1 ] || trap 'scripts/kube/down.sh' EXIT
export KUBECONFIG=/var/lib/specloop-kube/admin.kubeconfig KUBE_NAMESPACE=specloop-sandbox
go test ./sandbox/ -run '^$' -bench 'BenchmarkSandboxFirstByte' -benchtime "${BENCHTIME:-10x}"
go test ./sandbox/ -run '^$' -bench 'BenchmarkSandboxWorkingCopy10k' -benchtime "${BENCHTIME_10K:-3x}" -timeout 30m
for sb in bwrap kubernetes; do
  echo "SANDBOX=$sb"
  SPECLOOP_TEST_SANDBOX=$sb scripts/pgtemp go test ./cmd/specloop/ -run '^$' -bench 'BenchmarkCyclesConcurrent' -benchtime "${BENCHTIME_CYCLES:-4x}" -timeout 30m
done
