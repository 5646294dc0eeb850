#!/usr/bin/env bash
# The Python SDK (sdk/python): lint (ruff, pinned in the [test] extra and set
# up in pyproject.toml), type check (mypy --strict) and its pytest suite
# against the real engine binary ($STATEWELL_BIN), including the conformance
# vectors, the Python+TypeScript concurrency test and the packaging test
# (python -m build with the pinned build and hatchling of the [test] extra:
# sdist + wheel, their metadata, the wheel installed into a fresh venv).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export STATEWELL_BIN="${STATEWELL_BIN:-$root/target/debug/statewell}"

scripts/python-env.sh -e 'sdk/python[test]'

# The cross-language test drives the TypeScript SDK: build it (from its
# committed lock file) unless an earlier suite already installed it.
if [ -f sdk/typescript/package-lock.json ]; then
  (
    cd sdk/typescript
    [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
    npm run build --silent >/dev/null
  )
fi

# The sources and the tests; the config is sdk/python/pyproject.toml's.
.tools/venv/bin/ruff check --no-cache sdk/python
.tools/venv/bin/python -m mypy --strict sdk/python/src/statewell
cd sdk/python
../../.tools/venv/bin/python -m pytest -q -p no:cacheprovider tests
