#!/usr/bin/env bash
# The published iii-sdk Node client (pinned in compat/node/package.json) run
# against the real engine binary ($STATEWELL_BIN), as a Motia/iii worker would.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export STATEWELL_BIN="${STATEWELL_BIN:-$root/target/debug/statewell}"
export OTEL_ENABLED=false
cd "$root/compat/node"
npm ci --no-audit --no-fund --loglevel=error
npm test
