"""Where to connect by default: the environment, then the engine's default port."""

from __future__ import annotations

import os

DEFAULT_URL = "ws://127.0.0.1:49134"
#: Seconds a call may take, waiting for a reconnection included.
DEFAULT_TIMEOUT = 30.0


def resolve_url(url: str | None) -> str:
    return url or os.environ.get("STATEWELL_URL") or DEFAULT_URL


def resolve_token(token: str | None) -> str | None:
    return token if token is not None else (os.environ.get("STATEWELL_TOKEN") or None)
