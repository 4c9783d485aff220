"""Script generation and option formatting of the shell plugin."""

from __future__ import annotations

import subprocess

import pytest
from bakehouse_plugin_shell._text import (
    LineSplitter,
    TemplateError,
    build_env,
    flatten_env,
    format_env_var,
    inline_script,
    render_placeholders,
    to_unix_newlines,
)


def test_placeholders_accept_go_spacing_and_reject_unknown_names() -> None:
    values = {"Vars": "A='1' ", "Path": "/tmp/s.sh"}
    assert render_placeholders("{{.Vars}}{{ .Path }}", values) == "A='1' /tmp/s.sh"
    with pytest.raises(TemplateError, match=r"\{\{.Nope\}\}.*available: \{\{.Vars\}\}, \{\{.Path\}\}"):
        render_placeholders("{{.Nope}}", values)
    with pytest.raises(TemplateError):
        render_placeholders("{{ build `ID` }}", values)


def test_env_is_sorted_quoted_and_has_packer_variables() -> None:
    variables = build_env(
        build_name="web",
        builder_type="docker",
        environment_vars=["ZED=last", "QUOTE=it's", "EMPTY=", "EQ=a=b"],
        env={"ZED": "from env map"},
        generated={"PackerHTTPAddr": "10.0.0.1:8080", "PackerHTTPIP": "<unknown>"},
    )
    assert variables["ZED"] == "from env map"  # env map wins over environment_vars
    assert "PACKER_HTTP_IP" not in variables
    flat = flatten_env(variables, "%s='%s' ")
    assert flat == (
        "EMPTY='' EQ='a=b' PACKER_BUILDER_TYPE='docker' PACKER_BUILD_NAME='web' "
        "PACKER_HTTP_ADDR='10.0.0.1:8080' QUOTE='it'\"'\"'s' ZED='from env map' "
    )
    # The quoting really survives a POSIX shell.
    out = subprocess.run(["/bin/sh", "-c", flat + "env"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert {"QUOTE=it's", "EQ=a=b", "ZED=from env map", "EMPTY="} <= set(out)


def test_bad_environment_var_names_its_index() -> None:
    with pytest.raises(ValueError, match="not in format 'key=value'") as info:
        build_env(build_name="", builder_type="", environment_vars=["OK=1", "broken"], env={})
    assert info.value.index == 1


def test_env_var_format_go_verbs() -> None:
    assert format_env_var("export %s=%v 100%%\n", "A", "b") == "export A=b 100%\n"


def test_inline_script_has_shebang_and_one_command_a_line() -> None:
    assert inline_script(["echo a", "echo b"], "/bin/bash -ex") == b"#!/bin/bash -ex\necho a\necho b\n"
    assert inline_script(["true"], "") == b"true\n"


def test_a_first_inline_line_with_a_shebang_replaces_the_default() -> None:
    # Packer 1.13+: the first inline command "#!..." is the script's shebang.
    assert inline_script(["#!/bin/bash", "echo $BASH"], "/bin/sh -e") == b"#!/bin/bash\necho $BASH\n"
    assert inline_script(["echo a", "#!/bin/bash"], "/bin/sh -e") == b"#!/bin/sh -e\necho a\n#!/bin/bash\n"


def test_crlf_scripts_become_unix() -> None:
    assert to_unix_newlines(b"echo a\r\necho b\r\n") == b"echo a\necho b\n"


def test_line_splitter_joins_chunks_and_keeps_last_carriage_return_segment() -> None:
    calls: list[str] = []
    splitter = LineSplitter(calls.append)
    for chunk in (b"hel", b"lo\nwor", b"ld\r\n", b"10%\r50%\r100%\n", b"\xc3", b"\xa9t\xc3\xa9", b"\n\npartial"):
        splitter.feed(chunk)
    splitter.close()
    lines = [line for call in calls for line in call.split("\n")]
    assert lines == ["hello", "world", "100%", "été", "", "partial"]


def test_line_splitter_sends_the_lines_of_one_chunk_in_one_call() -> None:
    calls: list[str] = []
    splitter = LineSplitter(calls.append)
    splitter.feed(b"a\nb\n\nc\n\n\n")
    splitter.feed(b"d\n")
    assert calls == ["a\nb\n\nc", "", "", "d"]
