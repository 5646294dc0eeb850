#!/usr/bin/env bash
# The console (/ui/) in real headless Chromium, driven by Playwright (pinned
# in tests/browser/package.json), against the engine binary ($STATEWELL_BIN).
# Chromium is Debian's package, installed here when missing; Playwright never
# downloads a browser of its own. Set CONSOLE_SCREENSHOT=1 to also refresh
# docs/console.png.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export STATEWELL_BIN="${STATEWELL_BIN:-$root/target/debug/statewell}"
export CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
unset STATEWELL_URL STATEWELL_TOKEN

if [ ! -x "$CHROMIUM_BIN" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "55-console: $CHROMIUM_BIN is missing; install Debian's chromium package (apt-get install chromium) or set CHROMIUM_BIN" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

cd "$root/tests/browser"
npm ci --no-audit --no-fund --loglevel=error
npx playwright test
