#!/usr/bin/env bash
# Ensures a `redis-server` binary for the Redis comparison (statewell-bench
# --compare-redis, bench/*.mjs) and prints its path on stdout.
# Uses the one on PATH; otherwise installs Debian's package when root.
# Idempotent, asks nothing.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  command -v redis-server
  exit 0
fi

if [ "$(id -u)" != "0" ]; then
  echo "redis-server is not installed and this script is not root: install it (e.g. apt-get install redis-server)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends redis-server >&2
# The package starts a system service on 6379; the benchmark starts its own
# servers on free ports and does not need it.
command -v redis-server
