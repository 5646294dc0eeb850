#!/usr/bin/env bash
# Runs every test and linter of the project: clippy (05-lint), the Rust
# workspace, both SDKs (each with its linter: eslint, ruff), the
# compatibility suites against the published iii-sdk clients, the examples,
# the Node load scripts. Each part is one script in scripts/test.d/, run in
# name order; each installs what it needs (npm packages, a Python venv,
# redis-server) by itself.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# The engine binary every suite starts.
cargo build --bins
export STATEWELL_BIN="$root/target/debug/statewell"

failed=()
for part in scripts/test.d/*.sh; do
  echo "==> $part"
  if ! bash "$part"; then
    failed+=("$part")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test suites passed"
