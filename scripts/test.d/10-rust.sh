#!/usr/bin/env bash
# The Rust workspace: unit tests, property tests, end-to-end tests through the real binary.
set -euo pipefail
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  # nextest does not run doctests.
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast
fi
