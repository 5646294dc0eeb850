#!/usr/bin/env bash
# Compatibility: the published Python client of the iii worker protocol
# (iii-sdk, pinned in compat/python/requirements.txt) against the engine.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export STATEWELL_BIN="${STATEWELL_BIN:-$root/target/debug/statewell}"

scripts/python-env.sh -r compat/python/requirements.txt
cd compat/python
OTEL_ENABLED=false ../../.tools/venv/bin/python -m pytest -q -p no:cacheprovider .
