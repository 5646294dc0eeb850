#!/usr/bin/env bash
# Creates (once) and refreshes the ONE Python virtualenv every Python suite
# shares, at <repo>/.tools/venv, then installs whatever is passed as pip
# arguments into it. Idempotent: an existing venv of the right Python is kept,
# and pip skips what is already satisfied.
#
#   scripts/python-env.sh -e 'sdk/python[test]' 'iii-sdk==0.25.0'
#   .tools/venv/bin/python -m pytest ...
#
# Prints nothing but pip's own output; the venv's path is fixed so that
# callers don't need to capture anything.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/venv"

# Python 3.11 is the version the SDK promises to support (>= 3.11); prefer an
# exact 3.11 interpreter, fall back to any python3 that is at least 3.11.
pick_python() {
  for cand in "${STATEWELL_PYTHON:-}" python3.11 python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 &&
      "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$cand"
      return 0
    fi
  done
  echo "python-env: no Python >= 3.11 found (set STATEWELL_PYTHON)" >&2
  return 1
}

if [ ! -x "$venv/bin/python" ] ||
  ! "$venv/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  py="$(pick_python)"
  rm -rf "$venv"
  mkdir -p "$root/.tools"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
fi

if [ "$#" -gt 0 ]; then
  # Relative paths (e.g. -e sdk/python) are resolved from the repo root.
  cd "$root"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
    "$venv/bin/python" -m pip install --quiet "$@"
fi
