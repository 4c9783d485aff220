"""The shell provisioner, called in-process with a Communicator on a local directory."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from bakehouse.sdk import EXIT_DISCONNECTED, BuildInfo, Cancelled, ConfigError, Context
from bakehouse.testing import parsed_both_ways
from bakehouse_plugin_shell.shell import ShellProvisioner, _RemovalMarker
from shell_plugin_helpers import DirCommunicator, RecordingUi

BUILD = BuildInfo(name="box", builder_type="localdir")


def provisioner(**config: Any) -> ShellProvisioner:
    prov = ShellProvisioner()
    prov.prepare(config, BUILD)
    return prov


@pytest.fixture
def machine(tmp_path: Path) -> DirCommunicator:
    root = tmp_path / "machine"
    root.mkdir()
    return DirCommunicator(root)


def test_inline_is_uploaded_made_executable_run_and_removed(machine: DirCommunicator) -> None:
    ui = RecordingUi()
    provisioner(inline=["echo hello from $PACKER_BUILD_NAME", "pwd"], remote_folder=".").provision(
        ui, machine, {}, Context())
    assert ui.of("message") == ["hello from box", str(machine.root)]
    [(remote, mode)] = machine.uploads
    assert remote.startswith("./script_") and remote.endswith(".sh")
    assert mode == 0o755
    run, clean = machine.commands
    assert run == f"chmod +x {remote}; PACKER_BUILDER_TYPE='localdir' PACKER_BUILD_NAME='box'  {remote}"
    assert clean == f"rm -f {remote}"
    assert list(machine.root.iterdir()) == [], "skip_clean is false: the script must be removed"


def test_default_remote_path_is_in_tmp(machine: DirCommunicator) -> None:
    prov = provisioner(inline=["true"])
    assert prov.config.remote_path.startswith("/tmp/script_")
    assert provisioner(inline=["true"], remote_file="x.sh").config.remote_path == "/tmp/x.sh"
    assert provisioner(inline=["true"], remote_path="/opt/run.sh").config.remote_path == "/opt/run.sh"


def test_skip_clean_keeps_the_script_with_its_shebang(machine: DirCommunicator) -> None:
    provisioner(inline=["echo a"], remote_folder=".", remote_file="kept.sh", skip_clean=True,
                inline_shebang="/bin/bash -x").provision(RecordingUi(), machine, {}, Context())
    assert (machine.root / "kept.sh").read_text() == "#!/bin/bash -x\necho a\n"
    assert len(machine.commands) == 1


def test_scripts_run_in_order_with_env_and_crlf_fixed(tmp_path: Path, machine: DirCommunicator) -> None:
    first = tmp_path / "first.sh"
    first.write_bytes(b"#!/bin/sh\r\necho first $FOO\r\n")
    second = tmp_path / "second.sh"
    second.write_text("#!/bin/sh\necho second \"$BAR\" $PACKER_BUILDER_TYPE\n")
    ui = RecordingUi()
    provisioner(scripts=[str(first), str(second)], environment_vars=["FOO=foo"],
                env={"BAR": "it's"}, remote_folder=".").provision(ui, machine, {}, Context())
    assert ui.of("message") == ["first foo", "second it's localdir"]
    assert ui.of("say") == [f"Provisioning with shell script: {first}",
                            f"Provisioning with shell script: {second}"]


def test_binary_scripts_are_uploaded_untouched(tmp_path: Path, machine: DirCommunicator) -> None:
    script = tmp_path / "s.sh"
    script.write_bytes(b"#!/bin/sh\necho ok\r\n")
    provisioner(script=str(script), binary=True, remote_folder=".", remote_file="b.sh",
                skip_clean=True).provision(RecordingUi(), machine, {}, Context())
    assert (machine.root / "b.sh").read_bytes() == b"#!/bin/sh\necho ok\r\n"


def test_exit_codes(machine: DirCommunicator) -> None:
    provisioner(inline=["exit 7"], valid_exit_codes=[0, 7], remote_folder=".").provision(
        RecordingUi(), machine, {}, Context())
    with pytest.raises(RuntimeError, match=r"non-zero exit status: 2\. Allowed exit codes are: \[0\]"):
        provisioner(inline=["echo before", "exit 2", "echo never"], remote_folder=".").provision(
            RecordingUi(), machine, {}, Context())


def test_disconnect_fails_unless_expected(machine: DirCommunicator) -> None:
    machine.exit_override = EXIT_DISCONNECTED
    with pytest.raises(RuntimeError, match="disconnected unexpectedly.*expect_disconnect"):
        provisioner(inline=["reboot"], remote_folder=".").provision(RecordingUi(), machine, {}, Context())
    provisioner(inline=["reboot"], remote_folder=".", expect_disconnect=True, skip_clean=True).provision(
        RecordingUi(), machine, {}, Context())


def test_connection_dropped_mid_script_counts_as_disconnect(machine: DirCommunicator) -> None:
    machine.drop_connection_after_output = True
    with pytest.raises(RuntimeError, match="Error running the script: connection reset by peer"):
        provisioner(inline=["echo rebooting"], remote_folder=".").provision(RecordingUi(), machine, {}, Context())
    assert len(machine.commands) == 1, "a script that already printed output is not run again"
    machine.drop_connection_after_output = True
    ui = RecordingUi()
    provisioner(inline=["echo rebooting"], remote_folder=".", expect_disconnect=True).provision(
        ui, machine, {}, Context())
    assert ui.of("message") == ["rebooting"]
    assert machine.commands[-1].startswith("rm -f "), "the script is still removed afterwards"


def test_custom_execute_command_and_env_var_format(machine: DirCommunicator) -> None:
    ui = RecordingUi()
    provisioner(inline=["echo $A"], environment_vars=["A=1"], remote_folder=".", remote_file="c.sh",
                env_var_format="export %s=%s; ",
                execute_command="sh {{ .Path }} # {{.Vars}}").provision(ui, machine, {}, Context())
    assert machine.commands[0] == "sh ./c.sh # export A=1; export PACKER_BUILDER_TYPE=localdir; export PACKER_BUILD_NAME=box; "


def test_env_var_file(machine: DirCommunicator) -> None:
    ui = RecordingUi()
    provisioner(inline=['echo "$SECRET"'], environment_vars=["SECRET=a b'c"], use_env_var_file=True,
                remote_folder=".").provision(ui, machine, {}, Context())
    assert ui.of("message") == ["a b'c"]
    assert " . ./varfile_" in machine.commands[0]
    assert list(machine.root.iterdir()) == [], "both the script and the variable file are removed"


def test_generated_http_address_is_exported(machine: DirCommunicator) -> None:
    ui = RecordingUi()
    provisioner(inline=["echo $PACKER_HTTP_ADDR"], remote_folder=".").provision(
        ui, machine, {"PackerHTTPAddr": "127.0.0.1:8123"}, Context())
    assert ui.of("message") == ["127.0.0.1:8123"]


def test_upload_failures_are_retried_until_start_retry_timeout(machine: DirCommunicator) -> None:
    ShellProvisioner.RETRY_FIRST_DELAY = 0.05
    try:
        machine.fail_uploads = 2
        ui = RecordingUi()
        provisioner(inline=["echo up"], remote_folder=".").provision(ui, machine, {}, Context())
        assert ui.of("message") == ["up"]
        machine.fail_uploads = 1000
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="Error running the script: machine not reachable yet"):
            provisioner(inline=["echo up"], remote_folder=".", start_retry_timeout="300ms").provision(
                RecordingUi(), machine, {}, Context())
        assert time.monotonic() - started < 3
    finally:
        ShellProvisioner.RETRY_FIRST_DELAY = 1.0


def test_cancel_stops_the_remote_command_promptly(machine: DirCommunicator) -> None:
    ctx = Context()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            provisioner(inline=["sleep 30"], remote_folder=".").provision(RecordingUi(), machine, {}, ctx)
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.5)
    ctx.cancel()
    worker.join(5)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], Cancelled)


def test_pause_after_waits_and_is_cancellable(machine: DirCommunicator) -> None:
    ui = RecordingUi()
    started = time.monotonic()
    provisioner(inline=["true"], remote_folder=".", pause_after="500ms").provision(ui, machine, {}, Context())
    assert time.monotonic() - started >= 0.5
    assert ui.of("say")[-1] == "Pausing 0.5s after this provisioner..."
    ctx = Context()
    threading.Timer(0.2, ctx.cancel).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        provisioner(inline=["true"], remote_folder=".", pause_after="1m").provision(
            RecordingUi(), machine, {}, ctx)
    assert time.monotonic() - started < 5


def test_no_communicator_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="needs a communicator"):
        provisioner(inline=["true"]).provision(RecordingUi(), None, {}, Context())


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        ({}, (), "Either a script file or inline script must be specified"),
        ({"inline": ["a"], "script": "/etc/hostname"}, ("script",), "Only one of inline, script or scripts"),
        ({"scripts": ["/nope.sh"]}, ("scripts", 0), "Bad script '/nope.sh'"),
        ({"inline": ["a"], "environment_vars": ["=x"]}, ("environment_vars", 0), "key=value"),
        ({"inline": ["a"], "execute_command": "{{.Script}}"}, ("execute_command",), "{{.Script}}"),
        ({"inline": ["a"], "pause_after": "soon"}, ("pause_after",), "Invalid duration"),
        ({"inline": ["a"], "start_retry_timeout": "5 minutes"}, ("start_retry_timeout",), "Invalid duration"),
        ({"inline": ["a"], "tty": True}, ("tty",), "not expected"),
    ],
)
def test_config_mistakes_point_at_the_option(config: dict[str, Any], path: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        provisioner(**config)
    problems = info.value.problems
    assert [p.path for p in problems] == [path], problems
    assert message in problems[0].message


def test_the_documented_model_has_the_options_and_converts_durations() -> None:
    from bakehouse.sdk.config import parse_config
    from bakehouse_plugin_shell.shell import ShellOptions

    model = ShellProvisioner.documented_schema()
    assert list(model.model_fields) == [f.name for f in dataclasses.fields(ShellOptions)]
    assert model.model_fields["remote_folder"].default == "/tmp"
    assert parse_config(model, {"inline": ["a"], "start_retry_timeout": "5m"}).start_retry_timeout == 300.0


@pytest.mark.parametrize(
    "raw",
    [
        {"inline": ["echo hi"]},
        {"inline": ["a"], "env": {"A": "b"}, "valid_exit_codes": [0, 3], "start_retry_timeout": 1.5},
        {"inline": ["a"], "start_retry_timeout": "5m", "pause_after": 2},  # the model converts
        {"inline": ["a"], "pause_after": "soon"},
        {"inline": ["a"], "valid_exit_codes": ["3"]},
        {"inline": ["a"], "valid_exit_codes": [True]},
        {"inline": "echo hi"},
        {"inline": ["a"], "env": {"A": 1}},
        {"script": "/etc/hostname", "use_env_var_file": True, "remote_folder": "/opt"},
        {"inline": ["a"], "start_retry_timeout": None},
        {"inline": ["a"], "no_such_option": 1},
    ],
)
def test_plain_options_and_the_model_agree(raw: dict[str, Any]) -> None:
    from bakehouse_plugin_shell.shell import parse_shell

    got, expected = parsed_both_ways(parse_shell, ShellProvisioner.documented_schema(), raw)
    assert got == expected


def test_defaults_that_depend_on_other_options_are_filled_either_way() -> None:
    plain = provisioner(inline=["true"], use_env_var_file=True, remote_folder="/opt").config
    converted = provisioner(inline=["true"], use_env_var_file=True, remote_folder="/opt", pause_after="1s").config
    for config in (plain, converted):
        assert config.remote_path.startswith("/opt/script_") and config.remote_env_var_path.startswith("/opt/varfile_")
        assert config.execute_command == "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}"
        assert config.env_var_format == "export %s='%s'\n"
    assert converted.pause_after == 1.0


# On the docker communicator (ConnType "docker": commands run with /bin/sh -c) the
# script is removed by the command that ran it; DirCommunicator runs /bin/sh -c too.
DOCKER = {"ConnType": "docker"}


def test_docker_connection_removes_the_script_in_the_same_command(machine: DirCommunicator) -> None:
    ui = RecordingUi()
    provisioner(inline=["echo hello", "printf 'no newline'"], remote_folder=".").provision(
        ui, machine, dict(DOCKER), Context())
    assert ui.of("message") == ["hello", "no newline"], "the removal's marker is not output"
    assert len(machine.commands) == 1, machine.commands
    assert list(machine.root.iterdir()) == [], "skip_clean is false: the script must be removed"


def test_docker_connection_keeps_exit_status_and_packer_cleanup_rules(machine: DirCommunicator) -> None:
    provisioner(inline=["exit 7"], valid_exit_codes=[0, 7], remote_folder=".",
                use_env_var_file=True).provision(RecordingUi(), machine, dict(DOCKER), Context())
    assert len(machine.commands) == 1 and list(machine.root.iterdir()) == []
    # As in Packer, an invalid status fails before the cleanup: the script stays.
    with pytest.raises(RuntimeError, match=r"non-zero exit status: 3\. Allowed exit codes are: \[0\]"):
        provisioner(inline=["exit 3"], remote_folder=".", remote_file="kept.sh").provision(
            RecordingUi(), machine, dict(DOCKER), Context())
    assert [p.name for p in machine.root.iterdir()] == ["kept.sh"]


@pytest.mark.parametrize("execute_command", ["sh {{.Path}} # a trailing comment", "{{.Path}}; exit 0",
                                             "(sh {{.Path}})"])
def test_docker_connection_removal_survives_the_execute_command(machine: DirCommunicator,
                                                                execute_command: str) -> None:
    ui = RecordingUi()
    provisioner(inline=["echo ran"], remote_folder=".", execute_command=execute_command).provision(
        ui, machine, dict(DOCKER), Context())
    assert ui.of("message") == ["ran"]
    assert len(machine.commands) == 1 and list(machine.root.iterdir()) == []


def test_docker_connection_failed_removal_is_reported_as_before(machine: DirCommunicator) -> None:
    # The script leaves a non-empty directory in its own place: rm -f fails.
    with pytest.raises(RuntimeError, match=r"Error removing temporary script at \./s\.sh: exit status 1"):
        provisioner(inline=['rm -f "$0"; mkdir "$0"; touch "$0/x"'], remote_folder=".",
                    remote_file="s.sh").provision(RecordingUi(), machine, dict(DOCKER), Context())
    assert machine.commands[-1] == "rm -f ./s.sh", "the separate removal ran, as on any communicator"


def test_skip_clean_on_docker_connection_runs_the_command_as_is(machine: DirCommunicator) -> None:
    provisioner(inline=["true"], remote_folder=".", remote_file="k.sh", skip_clean=True).provision(
        RecordingUi(), machine, dict(DOCKER), Context())
    assert machine.commands == ["chmod +x ./k.sh; PACKER_BUILDER_TYPE='localdir' PACKER_BUILD_NAME='box'  ./k.sh"]


def test_removal_marker_is_taken_out_whatever_the_chunking() -> None:
    marker = _RemovalMarker("true", ["/tmp/s.sh"], [0], enabled=True)
    line = marker.command.rsplit("echo ", 1)[1].split(";", 1)[0].encode() + b"\n"
    stream = b"out\npartial bakehouse-rem" + line + b"tail"
    for size in (1, 2, 7, len(stream)):
        seen: list[bytes] = []
        feed = marker.filter(seen.append)
        for start in range(0, len(stream), size):
            feed(stream[start:start + size])
        marker.flush()
        assert b"".join(seen) == b"out\npartial bakehouse-remtail", size
        assert marker.seen
    seen = []
    feed = marker.filter(seen.append)
    feed(b"no marker\n")
    assert seen == [b"no marker\n"], "ordinary output is passed on at once"
    assert not marker.seen
