#!/usr/bin/env bash
# Compatibility: the published Rust iii-sdk client, the one the iii engine's
# state `bridge` adapter is built on, making the bridge's calls against the
# engine binary ($STATEWELL_BIN). Two SDK versions, pinned in
# compat/rust/Cargo.toml; a project of its own with a committed Cargo.lock,
# built into compat/rust/target so the workspace never compiles iii-sdk.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export STATEWELL_BIN="${STATEWELL_BIN:-$root/target/debug/statewell}"
cd "$root/compat/rust"
cargo test --locked
