#!/usr/bin/env bash
# The Rust lints: clippy over every crate and target (tests, benches,
# examples), warnings as errors. The lints themselves are set once, in the
# root Cargo.toml's [workspace.lints] (plus clippy.toml, and the stricter
# ones on the byte-scanner modules). The SDKs' linters run in their own
# parts: ruff in 30-python.sh, eslint in 20-typescript.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cargo clippy --workspace --all-targets -- -D warnings
echo "lint (clippy): passed"
