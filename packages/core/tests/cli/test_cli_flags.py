"""Command-line parsing: Packer's single-dash flags and their double-dash forms."""

from __future__ import annotations

import pytest
from bakehouse.cli import build, main
from bakehouse.cli.common import ArgumentParser, UsageError


def parse_build(*argv: str):
    parser = ArgumentParser(prog="bakehouse build")
    build.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_single_and_double_dash_forms_are_equivalent():
    single = parse_build(
        "-var",
        "a=1",
        "-var=b=2=3",
        "-var-file",
        "x.pkrvars.hcl",
        "-only=x.*",
        "-force",
        "t.pkr.hcl",
    )
    double = parse_build(
        "--var",
        "a=1",
        "--var=b=2=3",
        "--var-file=x.pkrvars.hcl",
        "--only",
        "x.*",
        "--force",
        "t.pkr.hcl",
    )
    for args in (single, double):
        assert args.vars == [("a", "1"), ("b", "2=3")]
        assert args.var_files == ["x.pkrvars.hcl"]
        assert args.only == ["x.*"]
        assert args.force is True
        assert args.target == "t.pkr.hcl"


def test_only_and_except_split_commas_and_repeat():
    args = parse_build("-only", "a,b", "-only=c", "-except", "d, e", "t")
    assert args.only == ["a", "b", "c"]
    assert args.except_ == ["d", "e"]


def test_parallel_builds_zero_or_negative_means_unlimited():
    assert parse_build("t").parallel_builds == 0
    assert parse_build("-parallel-builds=3", "t").parallel_builds == 3
    assert parse_build("-parallel-builds", "-1", "t").parallel_builds == 0
    with pytest.raises(UsageError):
        parse_build("-parallel-builds=many", "t")


def test_on_error_values():
    assert parse_build("t").on_error == "cleanup"
    assert parse_build("-on-error=abort", "t").on_error == "abort"
    with pytest.raises(UsageError, match="invalid -on-error value"):
        parse_build("-on-error=ask-me", "t")


def test_go_style_booleans():
    assert parse_build("-color=false", "t").color is False
    assert parse_build("t").color is True
    assert parse_build("-timestamp-ui", "t").timestamp_ui is True
    assert parse_build("-debug=true", "t").debug is True
    with pytest.raises(UsageError):
        parse_build("-color=maybe", "t")


def test_var_needs_key_value_and_target_is_required():
    with pytest.raises(UsageError, match="key=value"):
        parse_build("-var", "novalue", "t")
    with pytest.raises(UsageError):
        parse_build()


def test_no_abbreviations_of_long_flags():
    with pytest.raises(UsageError):
        parse_build("-parallel=2", "t")


def test_redact_argv_hides_var_values_only():
    argv = [
        "build",
        "-var",
        "password=hunter2",
        "--var=token=abc",
        "-var-file",
        "x.hcl",
        "-only=a",
        "t",
    ]
    assert main.redact_argv(argv) == [
        "build",
        "-var",
        "password=<redacted>",
        "--var=token=<redacted>",
        "-var-file",
        "x.hcl",
        "-only=a",
        "t",
    ]


def test_dispatch_unknown_command_and_help(capsys):
    assert main.dispatch(["bake"]) == 1
    assert "unknown command 'bake'" in capsys.readouterr().err
    assert main.dispatch(["--help"]) == 0
    assert "Available commands are:" in capsys.readouterr().out
    assert main.dispatch([]) == 1


def test_dispatch_usage_error_prints_help_and_returns_1(capsys):
    assert main.dispatch(["build", "-bogus", "t"]) == 1
    err = capsys.readouterr().err
    assert "Error: unrecognized arguments: -bogus" in err
    assert "usage: bakehouse build" in err


def test_machine_readable_is_global(capsys):
    assert main.dispatch(["version", "-machine-readable"]) == 0
    out = capsys.readouterr().out
    assert ",version," in out
    assert main.dispatch(["-machine-readable", "version"]) == 0
    assert ",version," in capsys.readouterr().out


def test_every_command_in_the_table_has_a_module():
    for name in main.COMMANDS:
        assert main._available(name), name
