"""The template commands as a user runs them: validate, inspect, fmt and console
(including every conformance expression piped through one console process)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

CONFORMANCE = (Path(__file__).resolve().parents[2] / "packages" / "core" / "tests" / "hcl" / "data"
               / "hcl_expressions.json")

TEMPLATE = """\
variable "image" {
  default = "ubuntu"
}
variable "password" {
  default   = "do-not-show-me"
  sensitive = true
}
locals {
  tags = { team = "bakers", count = 2 }
  name = "${var.image}-${local.tags.team}"
}
source "null" "base" {
  communicator = "none"
}
build {
  name    = "demo"
  sources = ["null.base"]
  source "null.base" {
    name = "second"
  }
  provisioner "shell-local" {
    name   = "hello"
    inline = ["echo ${local.name}"]
  }
  post-processor "manifest" {}
  post-processors {
    post-processor "checksum" {
      checksum_types = ["sha256"]
    }
    post-processor "manifest" {}
  }
}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def output_of(result: Any) -> str:
    return f"exit={result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


# ------------------------------------------------------------------------ validate


def test_validate_syntax_only_and_full(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", TEMPLATE)
    result = bakehouse("validate", "-syntax-only", "t.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    assert "Syntax-only check passed. Everything looks okay." in result.stdout

    result = bakehouse("validate", "t.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    assert "The configuration is valid." in result.stdout


def test_validate_syntax_only_does_not_need_variable_values(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", 'variable "unset" {\n  type = string\n}\n')
    result = bakehouse("validate", "-syntax-only", "t.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    result = bakehouse("validate", "t.pkr.hcl")
    assert result.returncode == 1, output_of(result)
    assert 'Unset variable "unset"' in result.stdout + result.stderr
    result = bakehouse("validate", "-var", "unset=x", "t.pkr.hcl")
    assert result.returncode == 0, output_of(result)


def test_validate_warns_about_undeclared_var_file_names(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", TEMPLATE)
    write(tmp_path, "v.pkrvars.hcl", 'image = "debian"\nundeclared = 1\n')
    result = bakehouse("validate", "-var-file", "v.pkrvars.hcl", "t.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    assert "Undefined variable" in result.stdout and "v.pkrvars.hcl line 2" in result.stdout
    result = bakehouse("validate", "-no-warn-undeclared-var", "-var-file", "v.pkrvars.hcl", "t.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    assert "Undefined variable" not in result.stdout
    result = bakehouse("validate", "-var", "undeclared=1", "t.pkr.hcl")
    assert result.returncode == 1, output_of(result)
    assert "Undefined -var variable" in result.stdout + result.stderr


def test_validate_reports_syntax_errors_with_file_and_line(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", 'source "null" "a" {\n  communicator = \n}\n')
    result = bakehouse("validate", "-syntax-only", "t.pkr.hcl")
    combined = result.stdout + result.stderr
    assert result.returncode == 1, output_of(result)
    assert "t.pkr.hcl line 2" in combined or "t.pkr.hcl line 3" in combined
    assert "Traceback" not in combined


def test_validate_reports_unknown_component_types(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """\
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["null.a"]
  provisioner "no-such-provisioner" {
    x = 1
  }
}
""")
    result = bakehouse("validate", "t.pkr.hcl")
    combined = result.stdout + result.stderr
    assert result.returncode == 1, output_of(result)
    assert "no-such-provisioner" in combined
    assert "t.pkr.hcl line 6" in combined
    assert "The configuration is valid." not in combined


def test_validate_reports_plugin_config_errors_at_the_attribute(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """\
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["null.a"]
  provisioner "shell-local" {
    inline = ["echo"]
    valid_exit_codes = "not a list"
  }
}
""")
    result = bakehouse("validate", "t.pkr.hcl")
    combined = result.stdout + result.stderr
    assert result.returncode == 1, output_of(result)
    assert "t.pkr.hcl line 8" in combined


# ------------------------------------------------------------------------- inspect


def test_inspect_lists_variables_locals_and_builds(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", TEMPLATE)
    result = bakehouse("inspect", "t.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    out = result.stdout
    assert "Bakehouse Inspect: HCL2 mode" in out
    assert 'var.image: "ubuntu"' in out
    assert "var.password: <sensitive>" in out
    assert "do-not-show-me" not in out + result.stderr
    assert 'local.name: "ubuntu-bakers"' in out
    assert out.index("> input-variables:") < out.index("> local-variables:") < out.index("> builds:")
    builds = out[out.index("> builds:"):]
    assert "> demo:" in builds
    assert "null.base" in builds and "null.second" in builds
    assert "shell-local.hello" in builds
    assert "0:\n        manifest" in builds
    assert "1:\n        checksum\n        manifest" in builds


# ----------------------------------------------------------------------------- fmt

UNFORMATTED = 'source "null" "a" {\ncommunicator="none"\n  x = 1\n}\n'
FORMATTED = 'source "null" "a" {\n  communicator = "none"\n  x            = 1\n}\n'


def test_fmt_check_exits_3_and_lists_unformatted_files(bakehouse, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.pkr.hcl", UNFORMATTED)
    write(tmp_path, "good.pkr.hcl", FORMATTED)
    result = bakehouse("fmt", "-check", ".")
    assert result.returncode == 3, output_of(result)
    assert "bad.pkr.hcl" in result.stdout and "good.pkr.hcl" not in result.stdout
    assert bad.read_text() == UNFORMATTED  # -check never writes


def test_fmt_rewrites_files_and_is_idempotent(bakehouse, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.pkr.hcl", UNFORMATTED)
    result = bakehouse("fmt", ".")
    assert result.returncode == 0, output_of(result)
    assert bad.read_text() == FORMATTED
    result = bakehouse("fmt", "-check", ".")
    assert result.returncode == 0, output_of(result)
    assert result.stdout == ""


def test_fmt_diff_write_false_recursive_and_stdin(bakehouse, tmp_path: Path) -> None:
    nested = tmp_path / "sub"
    nested.mkdir()
    bad = write(nested, "vars.pkrvars.hcl", 'a="x"\nlonger = 1\n')
    result = bakehouse("fmt", "-diff", "-write=false", ".")
    assert result.returncode == 0 and result.stdout == "", output_of(result)  # not recursive
    result = bakehouse("fmt", "-diff", "-write=false", "-recursive", ".")
    assert result.returncode == 0, output_of(result)
    assert "-a=\"x\"" in result.stdout and '+a      = "x"' in result.stdout
    assert bad.read_text() == 'a="x"\nlonger = 1\n'

    result = bakehouse("fmt", "-", input=UNFORMATTED)
    assert result.returncode == 0, output_of(result)
    assert result.stdout == FORMATTED


def test_fmt_parse_error_exits_1(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "broken.pkr.hcl", 'source "null" {\n  x = = 2\n}\n')
    result = bakehouse("fmt", "broken.pkr.hcl")
    assert result.returncode == 1, output_of(result)
    assert "broken.pkr.hcl" in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------------------- console


def test_console_evaluates_piped_lines_with_template_variables(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", TEMPLATE)
    lines = ["upper(var.image)", "local.tags", "local.name", "var.password", "[for x in [1, 2] : x * 2]"]
    result = bakehouse("console", "t.pkr.hcl", input="\n".join(lines) + "\n")
    assert result.returncode == 0, output_of(result)
    assert result.stdout.splitlines() == ['"UBUNTU"', '{"count":2,"team":"bakers"}', '"ubuntu-bakers"',
                                          "<sensitive>", "[2,4]"]


def test_console_reports_a_bad_line_and_goes_on(bakehouse, tmp_path: Path) -> None:
    result = bakehouse("console", input='1 + \n"after"\nnot_a_function(1)\n2 * 21\n')
    assert result.returncode == 1, output_of(result)
    assert result.stdout.splitlines() == ['"after"', "42"]
    assert result.stderr.count("Error:") == 2
    assert "Traceback" not in result.stderr


def _expected(entry: dict[str, Any]) -> Any:
    return entry["expect"]


def _same(actual: Any, expected: Any) -> bool:
    if actual == expected:
        return True
    if isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
        # sets compare as sorted lists
        def key(x: Any) -> str:
            return json.dumps(x, default=str, sort_keys=True)

        return sorted(actual, key=key) == sorted(expected, key=key)
    return False


def _console_lines(bakehouse: Any, exprs: list[str], cwd: Path) -> Any:
    return bakehouse("console", input="\n".join(exprs) + "\n", cwd=cwd, timeout=600)


def test_every_conformance_expression_through_the_console(bakehouse, tmp_path: Path) -> None:
    entries = json.loads(CONFORMANCE.read_text(encoding="utf-8"), parse_float=Decimal, parse_int=Decimal)
    assert entries, "the conformance file is empty"
    successes = [e for e in entries if "error" not in e]
    failures = [e for e in entries if "error" in e]
    problems: list[str] = []

    # One console process for all expressions expected to succeed: one result per line.
    result = _console_lines(bakehouse, [e["expr"] for e in successes], tmp_path)
    lines = result.stdout.splitlines()
    if len(lines) != len(successes):
        # Some line failed: run them one by one to say which.
        lines = []
        for entry in successes:
            single = _console_lines(bakehouse, [entry["expr"]], tmp_path)
            lines.append(single.stdout.strip() if single.returncode == 0 else f"<error> {single.stderr.strip()}")
    for entry, line in zip(successes, lines, strict=True):
        try:
            actual = json.loads(line, parse_float=Decimal, parse_int=Decimal)
        except ValueError:
            problems.append(f"{entry['expr']!r}: printed {line!r}, expected {_expected(entry)!r}")
            continue
        if not _same(actual, _expected(entry)):
            problems.append(f"{entry['expr']!r}: printed {line!r}, expected {_expected(entry)!r}")

    # Expressions expected to fail: each gives a diagnostic and no result line.
    result = _console_lines(bakehouse, [e["expr"] for e in failures], tmp_path)
    if result.stdout.strip() or result.stderr.count("Error:") != len(failures) or result.returncode != 1:
        for entry in failures:
            single = _console_lines(bakehouse, [entry["expr"]], tmp_path)
            if single.returncode != 1 or single.stdout.strip() or "Error:" not in single.stderr:
                problems.append(f"{entry['expr']!r}: expected an error, got {output_of(single)}")
    assert "Traceback" not in result.stderr
    assert not problems, f"{len(problems)} of {len(entries)} entries differ:\n" + "\n".join(problems)


def test_console_interactive_prompt_on_a_terminal(tmp_path: Path) -> None:
    import os
    import pty
    import select
    import subprocess
    import time

    from tests.support import bakehouse_exe

    write(tmp_path, "t.pkr.hcl", TEMPLATE)
    master, slave = pty.openpty()
    proc = subprocess.Popen([bakehouse_exe(), "console", "t.pkr.hcl"], cwd=tmp_path,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)

    def read_until(marker: bytes, timeout: float = 60) -> bytes:
        buffer = b""
        deadline = time.monotonic() + timeout
        while marker not in buffer and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    buffer += os.read(master, 4096)
                except OSError:
                    break
        return buffer

    try:
        assert read_until(b"> ").endswith(b"> ")
        os.write(master, b"upper(var.image)\n")
        assert b'"UBUNTU"' in read_until(b"> ")
        os.write(master, b"variables\n")
        listing = read_until(b"> ")
        assert b"var.password: <sensitive>" in listing and b"local.name:" in listing
        os.write(master, b"exit\n")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_validate_evaluates_data_sources_only_when_asked(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """\
data "null" "pick" {
  input = "fine"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["null.a"]
  provisioner "shell-local" {
    inline = ["echo ${data.null.pick.output}"]
  }
}
""")
    result = bakehouse("validate", "t.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    result = bakehouse("validate", "-evaluate-datasources", "t.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    assert "The configuration is valid." in result.stdout
    write(tmp_path, "t.pkr.hcl", 'data "no-such-source" "x" {\n  a = 1\n}\n')
    result = bakehouse("validate", "-evaluate-datasources", "t.pkr.hcl")
    assert result.returncode == 1, output_of(result)
    assert "no-such-source" in result.stdout + result.stderr


def test_validate_only_checks_the_selected_builds(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """\
source "null" "good" {
  communicator = "none"
}
source "null" "bad" {
  communicator = "none"
}
build {
  sources = ["null.good"]
}
build {
  name    = "broken"
  sources = ["null.bad"]
  provisioner "shell-local" {
    inline           = ["echo"]
    valid_exit_codes = "not a list"
  }
}
""")
    result = bakehouse("validate", "t.pkr.hcl")
    assert result.returncode == 1, output_of(result)
    result = bakehouse("validate", "-only", "null.good", "t.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    result = bakehouse("validate", "-except", "broken.*", "t.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    assert "The configuration is valid." in result.stdout


@pytest.mark.parametrize("command", ["inspect", "console"])
def test_inspect_and_console_exit_1_on_a_broken_template_as_packer_does(
    bakehouse, tmp_path: Path, command: str
) -> None:
    (tmp_path / "t.pkr.hcl").write_text('variable "later" {}\nbuild {\n  sources = [\n')
    broken = bakehouse(command, "t.pkr.hcl", input="1 + 1\n")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "t.pkr.hcl" in broken.stdout + broken.stderr
    assert "> builds:" not in broken.stdout and "2" not in broken.stdout.split()

    # A variable that is only not set yet is no error for either (it is unknown).
    (tmp_path / "t.pkr.hcl").write_text('variable "later" {}\nsource "null" "a" {}\nbuild { sources = ["null.a"] }\n')
    fine = bakehouse(command, "t.pkr.hcl", input="1 + 1\n")
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert ("var.later: <unknown>" if command == "inspect" else "2") in fine.stdout
