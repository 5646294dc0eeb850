"""Errors raised by the client. Every one is a ``StateError`` with a stable ``code``.

``except statewell.StateError`` catches everything the SDK raises; the
subclasses let callers tell apart what the engine refused (``code`` is the
engine's own, e.g. ``invalid_argument``, ``value_too_large``,
``deserialization_error``) from transport trouble (``connection_lost``,
``timeout``, ``unauthorized``, ``connect_failed``, ``closed``).
"""

from __future__ import annotations


class StateError(Exception):
    """An operation failed. ``code`` is stable and machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ConnectionLostError(StateError, ConnectionError):
    """The connection dropped while the call was in flight (or could not be
    re-established within the call's timeout). The call may or may not have
    been applied by the engine."""

    def __init__(self, message: str) -> None:
        super().__init__("connection_lost", message)


class RequestTimeoutError(StateError, TimeoutError):
    """No answer from the engine within the request timeout."""

    def __init__(self, message: str) -> None:
        super().__init__("timeout", message)


class ConnectError(StateError, ConnectionError):
    """The first connection could not be opened (engine down, wrong URL)."""

    def __init__(self, message: str, code: str = "connect_failed") -> None:
        super().__init__(code, message)


class AuthenticationError(ConnectError):
    """The engine refused the token (HTTP 401/403 on the WebSocket upgrade)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="unauthorized")


class ClientClosedError(StateError):
    """The client was closed; no more calls can be made on it."""

    def __init__(self) -> None:
        super().__init__("closed", "the client is closed")
