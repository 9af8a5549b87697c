#!/usr/bin/env bash
# Runs scimgate's end-to-end benchmarks (see BENCHMARKS.md). The first run
# generates the 100k-user dataset into $TMPDIR/scimgate-bench-v1 (~20 s).
#
#   ./scripts/bench.sh                 all benchmarks, 3 s each
#   BENCHTIME=10s ./scripts/bench.sh   longer runs
#   ./scripts/bench.sh Filter          only benchmarks matching a pattern
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
go test ./bench -run '^$' -bench "${1:-.}" -benchtime "${BENCHTIME:-3s}" -timeout 60m
