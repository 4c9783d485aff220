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
    assert result.returncode == 1, show(result)
    assert "Expression too deeply nested" in output, show(result)
    # The 129th "%{ if }" (line 131) crosses the limit of 128 levels.
    assert re.search(r"t\.pkr\.hcl(:| line )131\b", output), show(result)
    assert "Traceback" not in output and "CRASH" not in output
    assert not (tmp_path / "crash.log").exists()


def test_template_file_over_the_size_limit_is_refused(bakehouse, tmp_path: Path) -> None:
    from bakehouse.hcl.limits import MAX_TEMPLATE_BYTES

    with open(tmp_path / "t.pkr.hcl", "w") as handle:
        handle.write("# " + "x" * (MAX_TEMPLATE_BYTES + 1) + "\n")
    result = bakehouse("validate", "t.pkr.hcl", timeout=60)
    assert result.returncode == 1, show(result)
    assert "is larger than 16 MiB" in result.stdout + result.stderr, show(result)
    assert len(result.stdout + result.stderr) < 2000


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('file("/dev/zero")', "/dev/zero is a character device: only regular files can be read"),
        ('filebase64("fifo")', "fifo is a named pipe: only regular files can be read"),
        ('file("big.txt")', "is larger than 16 MiB"),
        ('templatefile("/dev/zero", {})', "/dev/zero is a character device"),
    ],
)
def test_file_functions_refuse_devices_pipes_and_huge_files(
    bakehouse, tmp_path: Path, expression: str, message: str
) -> None:
    import os

    from bakehouse.hcl.limits import MAX_FILE_FUNCTION_BYTES

    os.mkfifo(tmp_path / "fifo")
    with open(tmp_path / "big.txt", "wb") as handle:
        handle.truncate(MAX_FILE_FUNCTION_BYTES + 1)
    result = bakehouse("console", input=expression + "\n", timeout=60)
    output = result.stdout + result.stderr
    assert message in output, show(result)
    assert "Traceback" not in output and len(output) < 2000


def test_errors_on_a_huge_line_show_a_short_snippet_around_the_caret(bakehouse, tmp_path: Path) -> None:
    # A 128 KB line: each error on it shows 120 characters around the caret, not the line.
    references = ", ".join(f"var.a{i}" for i in range(12000))
    (tmp_path / "t.pkr.hcl").write_text("locals {\n  x = [local.y, " + references + "]\n  y = var.late\n}\n")
    result = bakehouse("validate", "t.pkr.hcl", timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 1, show(result)
    assert re.search(r"t\.pkr\.hcl(:| line )2\b", output), output[:2000]
    assert "   2 |   x = [local.y, var.a0, var.a1" in output and "…" in output, output[:2000]
    assert len(output) < 2000, output[:4000]
