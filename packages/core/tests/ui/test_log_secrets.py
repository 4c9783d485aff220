"""Log sinks hide secrets a plugin registers and secret-named environment
variables; log files are private."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from bakehouse.log import (
    PrivateFileHandler,
    RedactingFormatter,
    redact,
    register_secret_environment,
)


def test_secret_named_environment_variables_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "tok-0123456789abcdef")
    monkeypatch.setenv("MY_DB_PASSWORD", "hunter2-but-longer")
    monkeypatch.setenv("FEATURE_TOKEN_ENABLED", "true")  # too short to be a secret: left alone
    register_secret_environment()
    assert redact("x tok-0123456789abcdef y hunter2-but-longer") == "x <sensitive> y <sensitive>"
    assert redact("enabled: true") == "enabled: true"


def test_log_file_is_0600_even_when_it_existed(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("old")
    path.chmod(0o644)
    handler = PrivateFileHandler(str(path))
    handler.setFormatter(RedactingFormatter("%(message)s"))
    logger = logging.getLogger("test.log.secrets")
    logger.addHandler(handler)
    try:
        logger.warning("key -----BEGIN RSA PRIVATE KEY-----\\nMIIabc\\n-----END RSA PRIVATE KEY-----")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "key <sensitive>\n"
