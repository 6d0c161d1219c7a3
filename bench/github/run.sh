#!/usr/bin/env bash
# GitHub requests (not a test): an hour of a cycle waiting behind
# limits.concurrent and of a repo's minutely schedule tick, and the
# requests of one cycle by kind (reads, writes, content-creating) for the
# testdrive's first cycle and a warm /loop next. All are counted by the
# emulator, so the figures are what GitHub would see.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec scripts/pgtemp go test -run '^$' -bench 'GitHubRequests' -benchtime 1x -v ./cmd/specloop/
