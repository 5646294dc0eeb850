"""Where to connect: the argument, the environment, then the engine's default
port; the same rules as the TypeScript SDK (``sdk/README.md``)."""

from __future__ import annotations

import os
import re

from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from .errors import StateError

DEFAULT_URL = "ws://127.0.0.1:49134"
#: Seconds a call may take, waiting for a reconnection included.
DEFAULT_TIMEOUT = 30.0

_SCHEMES = {"ws": "ws", "http": "ws", "wss": "wss", "https": "wss"}
_URL = re.compile(r"([A-Za-z]+)://(.*)", re.DOTALL)


def resolve_url(url: str | None) -> str:
    """The engine's WebSocket address: ``url``, else ``$STATEWELL_URL`` (when
    set and not empty), else ``DEFAULT_URL``. ``ws://`` and ``wss://`` are
    kept; ``http://`` and ``https://`` become ``ws://`` and ``wss://`` (the
    engine serves HTTP and WebSocket on one port). Anything else is refused
    with ``StateError("invalid_argument")``."""
    given = url if url is not None else (os.environ.get("STATEWELL_URL") or DEFAULT_URL)

    def invalid(reason: str) -> StateError:
        return StateError("invalid_argument", f"connect: invalid url {given!r}: {reason}")

    match = _URL.fullmatch(given)
    if match is None:
        raise invalid("expected ws://HOST:PORT (or wss://, http://, https://)")
    scheme = _SCHEMES.get(match.group(1).lower())
    if scheme is None:
        raise invalid("the scheme must be ws, wss, http or https")
    rest = match.group(2)
    if not rest or rest.startswith("/"):
        raise invalid("no host")
    mapped = f"{scheme}://{rest}"
    try:
        parse_uri(mapped)  # a bad port, a space in the host...
    except (InvalidURI, ValueError) as exc:
        raise invalid(f"not a URL ({exc})") from None
    return mapped


def resolve_token(token: str | None) -> str | None:
    return token if token is not None else (os.environ.get("STATEWELL_TOKEN") or None)
