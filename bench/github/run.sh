#!/usr/bin/env bash
# GitHub requests an hour (not a test): a cycle waiting behind
# limits.concurrent, and a repo's minutely schedule tick. Both are counted
# by the emulator, so the figure is what GitHub would see.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec scripts/pgtemp go test -run '^$' -bench 'GitHubRequests' -benchtime 1x -v ./cmd/specloop/
