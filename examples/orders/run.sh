#!/usr/bin/env bash
# Runs the order workflow end to end with one command:
#   examples/orders/run.sh
# It installs what the steps need, starts a fresh engine on a free port with a
# temporary data directory (unless STATEWELL_URL points at a running one), then
# runs the workflow: the Python payment worker subscribes to new orders (a
# state trigger), the TypeScript API step creates orders, the payment worker
# charges each as it is created, then the JavaScript cron step prints a summary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
log() { echo "$*" >&2; }

# --- dependencies (quiet; progress goes to stderr) ---------------------------
bin="${STATEWELL_BIN:-$root/target/debug/statewell}"
if [ -z "${STATEWELL_URL:-}" ] && [ ! -x "$bin" ]; then
  log "building the engine..."
  (cd "$root" && cargo build --quiet --bin statewell)
fi
(
  cd "$root/sdk/typescript"
  [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error >&2
  [ -f dist/index.js ] || npm run build --silent >&2
)
(
  cd "$here"
  [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error >&2
  npm run build --silent >&2
)
"$root/scripts/python-env.sh" -e "$root/sdk/python" >&2
python="$root/.tools/venv/bin/python"

payment_worker=""
cleanup_worker() { [ -z "$payment_worker" ] || kill "$payment_worker" 2>/dev/null || true; }
trap cleanup_worker EXIT

# --- a fresh engine ----------------------------------------------------------
if [ -z "${STATEWELL_URL:-}" ]; then
  work="$(mktemp -d)"
  "$bin" serve --listen 127.0.0.1:0 --data "$work/data" >"$work/stdout" 2>"$work/engine.log" &
  engine=$!
  trap 'kill "$engine" 2>/dev/null; wait "$engine" 2>/dev/null; rm -rf "$work"; cleanup_worker' EXIT
  for _ in $(seq 1 300); do
    addr="$(sed -n 's/^listening on \([0-9.:]*\).*/\1/p' "$work/stdout" | head -n1)"
    [ -n "$addr" ] && break
    kill -0 "$engine" 2>/dev/null || { log "the engine exited:"; cat "$work/engine.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$addr" ] || { log "the engine did not start"; exit 1; }
  export STATEWELL_URL="ws://$addr"
  log "engine listening on $addr"
fi

# --- the workflow ------------------------------------------------------------
cd "$here"
orders="$(node -e 'console.log(require("./steps/orders.json").length)')"
payments="$(mktemp)"
"$python" steps/process_payment.py --exit-after "$orders" >"$payments" &
payment_worker=$!
node build/api-receives-order.js
wait "$payment_worker"
payment_worker=""
# The trigger delivers orders in commit order; sorting by order id keeps the
# printed output independent of that detail.
sort "$payments"
rm -f "$payments"
node steps/cron-summary.cjs
