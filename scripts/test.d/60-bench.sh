#!/usr/bin/env bash
# The Node load scripts in bench/ (iii-sdk and the statewell SDK against the
# engine, ioredis against redis-server), run very briefly: they must complete
# every request without error. Figures are printed, never asserted.
# (`statewell-bench` itself is tested by crates/statewell-bench/tests/bench.rs.)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bash "$root/scripts/install-redis.sh" >/dev/null
cd "$root/bench"
npm ci --no-audit --no-fund --loglevel=error
export STATEWELL_BIN="${STATEWELL_BIN:-$root/target/debug/statewell}"
BENCH_SECONDS=0.5 BENCH_WARMUP_SECONDS=0 BENCH_KEYS=200 node run-all.mjs
echo "bench scripts: 1 passed, 0 failed"
