"""Logging and sensitive-value redaction for the core process.

``BAKEHOUSE_LOG=1`` (any value but ``""``/``"0"``) sends a debug log to stderr,
``BAKEHOUSE_LOG_PATH`` to a file (truncated), with or without
``BAKEHOUSE_LOG``. Packer's ``PACKER_LOG`` and ``PACKER_LOG_PATH`` are honoured
as aliases (a ``BAKEHOUSE_*`` variable that is set wins); as in Packer, a log
file named by ``PACKER_LOG_PATH`` replaces stderr rather than adding to it. The supervisor additionally asks for a private capture
file so a crash report can quote the last lines even when the user did not
enable logging.

Every sink, and every UI path (see :mod:`bakehouse.ui`), passes text through
:func:`redact`: plain substring replacement of registered sensitive values by
``<sensitive>``, as Packer does.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterable

SENSITIVE_PLACEHOLDER = "<sensitive>"

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def add_sensitive(values: Iterable[str]) -> None:
    """Register values to hide in every output from now on.

    Multi-line values are registered whole (with CRLF normalised) and line by
    line, so a secret printed one line at a time is hidden too.
    """
    global _secrets
    found: set[str] = set(_secrets)
    for value in values:
        if not isinstance(value, str) or not value:
            continue
        found.add(value)
        if "\n" in value or "\r" in value:
            normalised = value.replace("\r\n", "\n")
            found.add(normalised)
            found.update(line for line in normalised.split("\n") if line.strip())
    with _lock:
        # Longest first: a secret containing another one is replaced whole.
        _secrets = tuple(sorted(found, key=len, reverse=True))


def sensitive_values() -> tuple[str, ...]:
    return _secrets


#: Secrets recognised by their shape, whoever printed them: PEM private keys
#: (also with escaped newlines, as in a logged response body), EC2 key material,
#: AWS secret keys and session tokens in key=value, JSON or header form.
_SECRET_SHAPES = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)"
    r"|(?<=<keyMaterial>)[^<]*"
    r"|(?i:(?<=aws_secret_access_key)|(?<=secretaccesskey)|(?<=x-amz-security-token)"
    r"|(?<=aws_session_token)|(?<=sessiontoken))[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{16,}",
    re.DOTALL,
)
_SHAPE_HINTS = ("PRIVATE KEY", "keyMaterial", "ecret", "oken", "ECRET", "OKEN")


def _redact_shapes(text: str) -> str:
    if not any(hint in text for hint in _SHAPE_HINTS):
        return text
    return _SECRET_SHAPES.sub(SENSITIVE_PLACEHOLDER, text)


def redact(text: str) -> str:
    """Replace every registered sensitive value, and anything shaped like a
    private key or an AWS secret, in ``text`` by ``<sensitive>``."""
    if not text:
        return text
    text = _redact_shapes(text)
    secrets = _secrets
    if not secrets:
        return text
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, SENSITIVE_PLACEHOLDER)
    return text


def register_secret_environment() -> None:
    """Hide the values of environment variables named like secrets
    (``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``*_PASSWORD``, ...).
    Values shorter than 8 characters are left alone: hiding ``true`` or
    ``testing`` everywhere would garble the output and protect nothing."""
    add_sensitive(
        value for name, value in os.environ.items()
        if len(value) >= 8 and any(word in name.upper() for word in ("SECRET", "TOKEN", "PASSWORD", "PASSWD"))
    )


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then hides sensitive values (tracebacks included)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class PrivateFileHandler(logging.FileHandler):
    """A log file only its owner can read (0600, also when it existed before)."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        super().__init__(path, mode="w", encoding="utf-8")


_FORMAT = "%(asctime)s [%(levelname)s] %(name)s: %(message)s"
_configured = False


def get(name: str) -> logging.Logger:
    return logging.getLogger(name)


def env_setting(name: str) -> str:
    """``BAKEHOUSE_<name>`` if set, else Packer's ``PACKER_<name>`` (``""`` if neither).

    So an environment prepared for Packer (``PACKER_LOG=1``,
    ``PACKER_LOG_PATH``) works unchanged.
    """
    ours = f"BAKEHOUSE_{name}"
    if ours in os.environ:
        return os.environ[ours]
    return os.environ.get(f"PACKER_{name}", "")


def log_enabled() -> bool:
    return env_setting("LOG") not in ("", "0")


def log_path_setting() -> tuple[str, str]:
    """``(variable name, path)`` of the requested log file, or ``("", "")``."""
    for name in ("BAKEHOUSE_LOG_PATH", "PACKER_LOG_PATH"):
        if os.environ.get(name):
            return name, os.environ[name]
    return "", ""


def setup(crash_capture_path: str | None = None) -> None:
    """Install the log sinks on the root logger (idempotent)."""
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger()
    register_secret_environment()
    formatter = RedactingFormatter(_FORMAT)
    handlers: list[logging.Handler] = []
    log_variable, log_path = log_path_setting()
    # Packer's PACKER_LOG_PATH takes the log off stderr; ours adds a file.
    if log_enabled() and not (log_path and log_variable == "PACKER_LOG_PATH"):
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_path:
        try:
            handlers.append(PrivateFileHandler(log_path))
        except OSError as exc:
            sys.stderr.write(f"bakehouse: cannot open {log_variable} {log_path!r}: {exc}\n")
    if crash_capture_path:
        handlers.append(PrivateFileHandler(crash_capture_path))
    if not handlers:
        root.setLevel(logging.WARNING)
        root.addHandler(logging.NullHandler())
        return
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    from bakehouse import __version__

    logging.getLogger("bakehouse").debug(
        "Bakehouse %s, Python %s, pid %d", __version__, sys.version.split()[0], os.getpid()
    )
