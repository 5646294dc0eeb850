#!/usr/bin/env bash
# Instructions the engine executes for a fixed load, counted by valgrind's
# callgrind: a figure this machine's noise does not move (unlike ops/s or CPU
# time, which swing 3-5x between minutes here), for an A/B of two binaries.
#
#   scripts/count-instructions.sh BINARY OP [OPS] [-- BENCH_ARGS...]
#   scripts/count-instructions.sh old/statewell update 20000 -- --no-preload --keys 1000
#
# Starts BINARY's `serve` under callgrind on a temporary directory, drives it
# with `statewell-bench --url ... --op OP --ops OPS --shape a` (the generator
# runs natively: $STATEWELL_BENCH_BIN, default target/release/statewell-bench
# of this checkout, the same for both binaries of an A/B; build it with
# `cargo build --release -p statewell-bench`), stops the engine with SIGINT
# and prints the total and per-op count, and
# where the profile is (read it with `callgrind_annotate --inclusive=yes`).
# The total includes start-up and the preload, which are the same for two
# binaries given the same arguments: compare totals, or the difference per op.
# Counts do not include time in the kernel (syscalls, waits): a change that
# adds syscalls needs a timed A/B as well. Needs valgrind (Debian: valgrind).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,19p' "$0" >&2
  exit 2
fi
binary=$1
op=$2
ops=${3:-20000}
shift $(($# < 3 ? $# : 3))
[[ ${1:-} == "--" ]] && shift

root="$(cd "$(dirname "$0")/.." && pwd)"
bench=${STATEWELL_BENCH_BIN:-$root/target/release/statewell-bench}

command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
[[ -x $binary ]] || { echo "$binary is not an executable" >&2; exit 1; }
[[ -x $bench ]] || {
  echo "$bench is not an executable: cargo build --release -p statewell-bench, or set STATEWELL_BENCH_BIN" >&2
  exit 1
}

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
  "$binary" serve --data "$dir/data" --listen "127.0.0.1:$port" >"$dir/serve.log" 2>&1 &
server=$!
trap 'kill -INT $server 2>/dev/null || true' EXIT

# Under valgrind the engine takes seconds to start.
for _ in $(seq 1 240); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 $server 2>/dev/null || { cat "$dir/serve.log" >&2; exit 1; }
  sleep 0.5
done

"$bench" --url "ws://127.0.0.1:$port/" --op "$op" --ops "$ops" --warmup 0s \
  --shape a --json "$dir/bench.json" "$@" >"$dir/bench.log" 2>&1 \
  || { cat "$dir/bench.log" >&2; exit 1; }
kill -INT $server
wait $server || true
trap - EXIT

total=$(grep -o 'Collected : [0-9]*' "$dir/serve.log" | grep -o '[0-9]*$')
echo "$binary $op: $total instructions for $ops ops ($((total / ops)) per op, start-up and preload included)"
echo "profile: $dir/callgrind.out"
