"""Errors raised by the client. Every one is a ``StateError`` with a stable ``code``.

``except statewell.StateError`` catches everything the SDK raises; the class
follows the code, exactly as in the TypeScript SDK (the table is
``sdk/README.md``):

- ``ConflictError``: ``conflict``;
- ``AuthenticationError``: ``unauthorized`` (the engine refused the token);
- ``ConnectionError``: ``connect_failed``, ``connection_lost``,
  ``unavailable``, ``closed`` (also a builtin ``ConnectionError``);
- ``TimeoutError``: ``timeout`` (also a builtin ``TimeoutError``);
- ``StateError`` itself: every other code, e.g. the engine's
  ``invalid_argument``, ``value_too_large``, ``deserialization_error``.

``ConnectionError`` and ``TimeoutError`` share the builtins' names on
purpose (the TypeScript SDK's names): write ``statewell.ConnectionError``.
"""

from __future__ import annotations

import builtins


class StateError(Exception):
    """An operation failed. ``code`` is stable and machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ConflictError(StateError):
    """A condition (``if_version``, ``if_absent``, a transaction's ``check``)
    did not hold: nothing was changed. ``current_version`` is the item's
    version now (``None`` when it is missing); ``op_index`` names the failing
    op of a transaction."""

    def __init__(self, message: str, current_version: int | None = None, op_index: int | None = None) -> None:
        super().__init__("conflict", message)
        self.current_version = current_version
        self.op_index = op_index


class AuthenticationError(StateError):
    """The engine refused the token (HTTP 401/403 on the WebSocket upgrade).
    Never retried: a connect retry budget does not apply to it."""

    def __init__(self, message: str) -> None:
        super().__init__("unauthorized", message)


class ConnectionError(StateError, builtins.ConnectionError):
    """The connection could not be made or was lost.

    ``connect_failed``: no engine answered at the address (within the
    connect retry budget). ``connection_lost``: the connection dropped with
    the call in flight, which may or may not have been applied.
    ``unavailable``: not reconnected within the call's timeout; the call was
    never sent. ``closed``: the client was closed.
    """


class TimeoutError(StateError, builtins.TimeoutError):
    """No answer from the engine within the request timeout."""

    def __init__(self, message: str) -> None:
        super().__init__("timeout", message)


def error_for_code(code: str, message: str, fields: dict[str, object] | None = None) -> StateError:
    """The error for a code the engine (or the worker serving a function)
    answered with: the class follows the code, as for the client's own."""
    if code == "conflict":
        fields = fields or {}
        version = fields.get("current_version")
        index = fields.get("op_index")
        return ConflictError(
            message,
            version if isinstance(version, int) else None,
            index if isinstance(index, int) else None,
        )
    if code == "unauthorized":
        return AuthenticationError(message)
    if code == "timeout":
        return TimeoutError(message)
    return StateError(code, message)
