"""Packer-like UI lines, colours, durations, machine-readable escaping, redaction."""

import io
import re

import pytest
from bakehouse import log
from bakehouse.ui import (
    RootUi,
    colorize,
    format_duration,
    format_go_duration,
    machine_escape,
    machine_line,
)


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch):
    monkeypatch.setattr(log, "_secrets", ())


def test_build_ui_prefixes_say_message_and_error():
    out = io.StringIO()
    ui = RootUi(out).build_ui("docker.app")
    ui.say("Creating container")
    ui.message("line one\nline two")
    ui.error("boom")
    assert out.getvalue().splitlines() == [
        "==> docker.app: Creating container",
        "    docker.app: line one",
        "    docker.app: line two",
        "==> docker.app: boom",
    ]


def test_colours_cycle_and_announce():
    out = io.StringIO()
    root = RootUi(out, color=True)
    uis = [root.build_ui(f"b{i}") for i in range(6)]
    assert [u.color for u in uis] == [32, 36, 35, 33, 34, 32]
    root.announce(uis[:2])
    uis[0].say("hi")
    uis[0].message("out")
    uis[0].error("bad")
    lines = out.getvalue().splitlines()
    assert lines[0] == "\033[1;32mb0: output will be in this color.\033[0m"
    assert lines[1] == "\033[1;36mb1: output will be in this color.\033[0m"
    assert lines[2] == ""
    assert lines[3] == "\033[1;32m==> b0: hi\033[0m"
    assert lines[4] == "\033[0;32m    b0: out\033[0m"
    assert lines[5] == "\033[1;31m==> b0: bad\033[0m"


def test_no_color_means_no_escape_sequences_and_no_announce():
    out = io.StringIO()
    root = RootUi(out, color=False)
    ui = root.build_ui("a")
    root.announce([ui])
    ui.say("x")
    assert "\033" not in out.getvalue()
    assert out.getvalue() == "==> a: x\n"


def test_timestamp_ui_prefixes_every_line():
    out = io.StringIO()
    root = RootUi(out, timestamps=True)
    ui = root.build_ui("a")
    ui.say("x")
    ui.message("m1\nm2")
    ui.error("e")
    root.message("summary")
    stamped = [line.split(": ", 1) for line in out.getvalue().splitlines()]
    assert [rest for _, rest in stamped] == ["==> a: x", "    a: m1", "    a: m2", "==> a: e", "summary"]
    for stamp, _ in stamped:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", stamp), stamp


def test_machine_readable_lines_and_escaping():
    assert machine_escape("a,b\nc\rd") == "a%!(PACKER_COMMA)b\\nc\\rd"
    assert (
        machine_line("t", "artifact", ["0", "id", "x,y"], now=1700000000)
        == "1700000000,t,artifact,0,id,x%!(PACKER_COMMA)y"
    )
    out = io.StringIO()
    root = RootUi(out, machine_readable=True, color=True)
    ui = root.build_ui("null.a")
    ui.say("hello, world\nsecond")
    ui.machine("artifact-count", "1")
    root.machine("", "error-count", "2")
    lines = out.getvalue().splitlines()
    assert (
        lines[0].split(",", 1)[1]
        == ",ui,say,==> null.a: hello%!(PACKER_COMMA) world\\n==> null.a: second"
    )
    assert lines[1].split(",", 1)[1] == "null.a,artifact-count,1"
    assert lines[2].split(",", 1)[1] == ",error-count,2"
    assert "\033" not in out.getvalue()


def test_machine_lines_not_printed_in_human_mode():
    out = io.StringIO()
    RootUi(out).machine("a", "artifact-count", "1")
    assert out.getvalue() == ""


def test_sensitive_values_are_redacted_everywhere(monkeypatch):
    log.add_sensitive(["s3cr3t", "multi\nline-secret"])
    out = io.StringIO()
    root = RootUi(out, machine_readable=False)
    ui = root.build_ui("a")
    ui.say("password is s3cr3t")
    ui.message("line-secret appears")
    root.error("s3cr3t")
    text = out.getvalue()
    assert "s3cr3t" not in text and "line-secret" not in text
    assert text.count("<sensitive>") == 3
    machine = io.StringIO()
    RootUi(machine, machine_readable=True).build_ui("a").machine("x", "s3cr3t,1")
    assert "s3cr3t" not in machine.getvalue() and "<sensitive>" in machine.getvalue()


def test_log_records_are_redacted():
    import logging

    log.add_sensitive(["hunter2"])
    record = logging.LogRecord("x", logging.INFO, "f", 1, "token=%s", ("hunter2",), None)
    assert "hunter2" not in log.RedactingFormatter("%(message)s").format(record)


@pytest.mark.parametrize(
    "seconds, text",
    [
        (3.884, "3 seconds 884 milliseconds"),
        (1.0, "1 second"),
        (65.2, "1 minute 5 seconds"),
        (3600 + 120 + 5, "1 hour 2 minutes"),
        (0.0123, "12 milliseconds 300 microseconds"),
        (0, "0 seconds"),
    ],
)
def test_durations_two_largest_units(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "seconds, text",
    [(1, "1s"), (90, "1m30s"), (0.5, "500ms"), (3600, "1h0m0s"), (0, "0s"), (1.5, "1.5s")],
)
def test_go_durations(seconds, text):
    assert format_go_duration(seconds) == text


def test_colorize():
    assert colorize("x", 31, True) == "\033[1;31mx\033[0m"


def test_multiline_secrets_are_registered_whole_and_per_line():
    log.add_sensitive(["first line\r\nsecond line\r\n", "", 42])
    assert log.redact("a first line b") == "a <sensitive> b"
    assert log.redact("second line") == "<sensitive>"
    assert log.redact("first line\nsecond line\n") in ("<sensitive>", "<sensitive>\n")
    # longest first: a secret containing another is replaced whole
    log.add_sensitive(["abc", "abcdef"])
    assert log.redact("xabcdefx") == "x<sensitive>x"
