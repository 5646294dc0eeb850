#!/usr/bin/env bash
# The Node load scripts in bench/ (iii-sdk and the statewell SDK against the
# engine, ioredis against redis-server), run very briefly: they must complete
# every request without error. Figures are printed, never asserted.
# (`statewell-bench` itself is tested by crates/statewell-bench/tests/bench.rs.)
# Then the soak's documented command, shortened to ~25 s.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export STATEWELL_BIN="${STATEWELL_BIN:-$root/target/debug/statewell}"

bash "$root/scripts/install-redis.sh" >/dev/null
cd "$root/bench"
npm ci --no-audit --no-fund --loglevel=error
BENCH_SECONDS=0.5 BENCH_WARMUP_SECONDS=0 BENCH_KEYS=200 node run-all.mjs

# The soak: 20 s in two intervals with one restart (SIGTERM) between them,
# then a SIGKILL before every tracked key is read back. What must hold is
# that no acknowledged write is missing and no request failed while the
# engine was up. Memory and latency are not judged (their tolerances opened
# wide): two 10 s intervals of a debug build on a shared machine say nothing
# about drift, and no test asserts a timing.
(cd "$root" && cargo build -q -p statewell-bench --bin statewell-soak)
"$root/target/debug/statewell-soak" --duration 20s --interval 10s --restart-every 10s \
  --warmup 2s --p99-tolerance 100000 --rss-tolerance 100000
echo "bench scripts and soak: 2 passed, 0 failed"
