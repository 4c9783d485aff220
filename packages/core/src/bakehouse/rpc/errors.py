"""Exceptions crossing the pipe as structured errors.

:class:`ConfigError` keeps its problems (with their paths, so the core can
point at the template's file:line), :class:`Cancelled` stays
:class:`Cancelled`; anything else arrives as :class:`RemoteError` carrying the
original type name and message.
"""

from __future__ import annotations

import traceback
from typing import Any

from bakehouse.sdk.context import Cancelled
from bakehouse.sdk.problems import ConfigError, ConfigProblem, is_permanent


class RemoteError(Exception):
    """An exception raised on the other side of the pipe.

    ``str()`` is the original message so users see what the component said;
    ``type_name`` is the original exception type, ``remote_traceback`` its
    traceback text (for the debug log).
    """

    def __init__(
        self, type_name: str, message: str, remote_traceback: str = "", permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.remote_traceback = remote_traceback
        #: the remote exception was a PermanentError (see bakehouse.sdk.is_permanent)
        self.permanent = permanent


class ConnectionLost(Exception):
    """The peer went away while a call was pending (or before it was sent)."""


def error_to_wire(exc: BaseException) -> dict[str, Any]:
    """Describe an exception as plain data."""
    if isinstance(exc, ConfigError):
        return {
            "type": "ConfigError",
            "message": str(exc),
            "problems": [[list(problem.path), problem.message] for problem in exc.problems],
        }
    if isinstance(exc, Cancelled):
        return {"type": "Cancelled", "message": str(exc), "reason": exc.reason}
    if isinstance(exc, RemoteError):
        # Relayed: keep the innermost type so the user sees the real cause.
        return {"type": exc.type_name, "message": exc.message, "traceback": exc.remote_traceback,
                "permanent": exc.permanent}
    type_name = type(exc).__name__
    return {
        "type": type_name,
        "message": str(exc) or type_name,
        "traceback": "".join(traceback.format_exception(exc)),
        "permanent": is_permanent(exc),
    }


def error_from_wire(data: Any) -> Exception:
    """The local exception for a wire error description."""
    if not isinstance(data, dict):
        return RemoteError("ProtocolError", f"malformed error: {data!r}")
    type_name = str(data.get("type", "Exception"))
    message = str(data.get("message", ""))
    if type_name == "ConfigError":
        problems = [
            ConfigProblem(tuple(path), str(text)) for path, text in data.get("problems", [])
        ]
        return ConfigError(problems)
    if type_name == "Cancelled":
        return Cancelled(str(data.get("reason") or message or "context canceled"))
    return RemoteError(type_name, message, str(data.get("traceback", "")), bool(data.get("permanent")))
