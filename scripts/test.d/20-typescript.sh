#!/usr/bin/env bash
# The TypeScript/JavaScript SDK (sdk/typescript): typecheck, lint (eslint with
# typescript-eslint, eslint.config.js), build (ESM + CJS + types), then its
# vitest suite against the real engine binary ($STATEWELL_BIN), which includes
# the package test (npm pack: the --dry-run file list and the metadata, the
# tarball installed and used from require and import).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export STATEWELL_BIN="${STATEWELL_BIN:-$root/target/debug/statewell}"
cd "$root/sdk/typescript"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent typecheck
npm run --silent lint
npm run --silent build
npm test
