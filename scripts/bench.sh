#!/usr/bin/env bash
# Runs scimgate's end-to-end benchmarks (see BENCHMARKS.md). The first run
# generates the 100k-user dataset into $TMPDIR/scimgate-bench-v1 (~20 s).
#
#   ./scripts/bench.sh                 all benchmarks, 3 s each
#   BENCHTIME=10s ./scripts/bench.sh   longer runs
#   ./scripts/bench.sh Filter          only benchmarks matching a pattern
#   ./scripts/bench.sh Gate            the gate: proxy vs bare proxy, forward-auth (wrk)
#
# The gate benchmarks drive the servers with wrk, installed here from
# Debian when missing (run as root); GATE_ROUNDS, GATE_DURATION,
# GATE_CONNS, GATE_THREADS, GATE_LAYOUTS and GATE_QUIET_WAIT tune them (see
# bench/gate_test.go).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v haproxy >/dev/null || need+=(haproxy)
command -v taskset >/dev/null || need+=(util-linux)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "==> installing ${need[*]}" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; then
      apt-get update >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
    fi
  else
    echo "note: ${need[*]} missing and not root: the gate benchmarks will be skipped" >&2
  fi
fi

go test ./bench -run '^$' -bench "${1:-.}" -benchtime "${BENCHTIME:-3s}" -timeout 90m
