#!/usr/bin/env bash
# The runnable examples: examples/orders runs end to end against a freshly
# started engine and prints exactly the expected workflow output.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export STATEWELL_BIN="${STATEWELL_BIN:-$root/target/debug/statewell}"
unset STATEWELL_URL STATEWELL_TOKEN

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
examples/orders/run.sh >"$out"
if diff -u examples/orders/expected-output.txt "$out"; then
  echo "examples: 1 passed, 0 failed"
else
  echo "examples/orders: output differs from examples/orders/expected-output.txt"
  echo "examples: 0 passed, 1 failed"
  exit 1
fi
