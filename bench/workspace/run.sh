#!/usr/bin/env bash
# Benchmarks workspace preparation on a generated repository of 10,000 files
# and ~100 MB of history (generated once, cached under $TMPDIR).
#
#   bench/workspace/run.sh            # 10 iterations each
#   BENCHTIME=30x bench/workspace/run.sh
#
# Reports ns/op for: warm Checkout (commit checked out before), cold
# Checkout (mirror fetched, commit new), child Checkout (commit new, its
# parent checked out before: built as a layer), the no-overlay fallback, and the
# floor to beat: `git worktree add --detach` from a local clone.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec go test ./workspace/ -run '^$' \
	-bench 'BenchmarkCheckoutWarm|BenchmarkCheckoutCold|BenchmarkCheckoutChild|BenchmarkCheckoutFallback|BenchmarkWorktreeAddFloor' \
	-benchtime "${BENCHTIME:-10x}" -timeout 30m "$@"
