"""Hostile or absurd template text through the real CLI: every command ends in a
positioned diagnostic (never a traceback or a crash report), within bounds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fixtures.docker import show

DEEP_DIRECTIVES = (
    'locals {\n  x = <<EOT\n' + "%{ if true }\n" * 5000 + "x" + "%{ endif }\n" * 5000 + "EOT\n}\n"
)


@pytest.mark.parametrize("command", [["validate"], ["inspect"], ["build"], ["console"]])
def test_deeply_nested_directives_are_an_error_at_their_line(bakehouse, tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "t.pkr.hcl").write_text(DEEP_DIRECTIVES)
    result = bakehouse(*command, "t.pkr.hcl", input="")
    output = result.stdout + result.stderr
    if command != ["inspect"] and command != ["console"]:
        assert result.returncode == 1, show(result)
    assert "Expression too deeply nested" in output, show(result)
    # The 129th "%{ if }" (line 131) crosses the limit of 128 levels.
    assert re.search(r"t\.pkr\.hcl(:| line )131\b", output), show(result)
    assert "Traceback" not in output and "CRASH" not in output
    assert not (tmp_path / "crash.log").exists()
