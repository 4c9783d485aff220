"""The shell-local provisioner and post-processor, called in-process."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from bakehouse.sdk import BuildInfo, Cancelled, ConfigError, Context, SimpleArtifact
from bakehouse.testing import parsed_both_ways
from bakehouse_plugin_shell.shell_local import (
    ShellLocalPostProcessor,
    ShellLocalProvisioner,
    current_os,
)
from shell_plugin_helpers import RecordingUi

BUILD = BuildInfo(name="web", builder_type="null", build_name="app.null.web")


def provisioner(**config: Any) -> ShellLocalProvisioner:
    prov = ShellLocalProvisioner()
    prov.prepare(config, BUILD)
    return prov


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_inline_runs_with_packer_variables_and_user_env(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    ui = RecordingUi()
    provisioner(
        inline=[f'echo "$PACKER_BUILD_NAME $PACKER_BUILDER_TYPE $GREETING $OTHER" > {out}', "echo done"],
        environment_vars=["GREETING=it's me"],
        env={"OTHER": "map"},
    ).provision(ui, None, {}, Context())
    assert out.read_text() == "web null it's me map\n"
    assert ui.of("message") == ["done"]
    [say] = ui.of("say")
    assert say.startswith("Running local shell script: ")
    inline_path = say.split(": ", 1)[1]
    assert not os.path.exists(inline_path), "the temporary inline script must be removed"


def test_inline_shebang_is_used(tmp_path: Path) -> None:
    ui = RecordingUi()
    # Without -e (Packer's default is "/bin/sh -e"), a failing line does not stop the script.
    provisioner(inline=["false", "echo reached"], inline_shebang="/bin/sh",
                execute_command=["{{.Script}}"]).provision(ui, None, {}, Context())
    assert ui.of("message") == ["reached"]
    with pytest.raises(RuntimeError, match="non-zero exit status: 1"):
        provisioner(inline=["false", "echo reached"], execute_command=["{{.Script}}"]).provision(
            RecordingUi(), None, {}, Context())


def test_command_option_is_a_single_inline_command(tmp_path: Path) -> None:
    ui = RecordingUi()
    provisioner(command="echo from command").provision(ui, None, {}, Context())
    assert ui.of("message") == ["from command"]


def test_scripts_run_in_order_with_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "one.sh").write_text("echo one $1\n")
    (tmp_path / "two.sh").write_text("echo two $FOO\n")
    # Like Packer, the default execute_command runs the script itself: it must be executable.
    (tmp_path / "one.sh").chmod(0o755)
    (tmp_path / "two.sh").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    ui = RecordingUi()
    prov = provisioner(scripts=["one.sh", "two.sh"], environment_vars=["FOO=bar"])
    monkeypatch.chdir("/")  # paths were made absolute at prepare time
    prov.provision(ui, None, {}, Context())
    assert ui.of("message") == ["one", "two bar"]
    assert ui.of("say") == [f"Running local shell script: {tmp_path}/one.sh",
                            f"Running local shell script: {tmp_path}/two.sh"]


def test_script_option(tmp_path: Path) -> None:
    script = tmp_path / "s.sh"
    script.write_text("echo single\n")
    script.chmod(0o755)
    ui = RecordingUi()
    provisioner(script=str(script)).provision(ui, None, {}, Context())
    assert ui.of("message") == ["single"]


def test_custom_execute_command_and_stderr_goes_to_error(tmp_path: Path) -> None:
    ui = RecordingUi()
    provisioner(
        inline=["echo out", "echo err >&2"],
        execute_command=["/bin/bash", "-c", "{{.Vars}} bash {{ .Script }}"],
    ).provision(ui, None, {}, Context())
    assert ui.of("message") == ["out"]
    assert ui.of("error") == ["err"]


def test_exit_codes(tmp_path: Path) -> None:
    provisioner(inline=["exit 3"], valid_exit_codes=[0, 3]).provision(RecordingUi(), None, {}, Context())
    with pytest.raises(RuntimeError, match=r"non-zero exit status: 4\. Allowed exit codes are: \[0, 3\]"):
        provisioner(inline=["exit 4"], valid_exit_codes=[0, 3]).provision(
            RecordingUi(), None, {}, Context())


def test_missing_interpreter_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="Error executing script: .*/no/such/shell"):
        provisioner(inline=["true"], execute_command=["/no/such/shell", "{{.Script}}"]).provision(
            RecordingUi(), None, {}, Context())


def test_only_on_skips_other_systems(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    ui = RecordingUi()
    provisioner(inline=[f"touch {marker}"], only_on=["plan9"]).provision(ui, None, {}, Context())
    assert not marker.exists()
    assert ui.of("say") == ["Skipping shell-local due to runtime OS"]
    provisioner(inline=[f"touch {marker}"], only_on=[current_os()]).provision(ui, None, {}, Context())
    assert marker.exists()


def test_output_is_streamed_while_the_command_runs() -> None:
    seen: list[float] = []

    class TimedUi(RecordingUi):
        def message(self, message: str) -> None:
            seen.append(time.monotonic())
            super().message(message)

    start = time.monotonic()
    provisioner(inline=["echo first", "sleep 1", "echo second"]).provision(TimedUi(), None, {}, Context())
    assert len(seen) == 2
    assert seen[0] - start < 0.8, "the first line arrived only when the command ended"
    assert seen[1] - seen[0] >= 0.9


def test_cancel_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    ctx = Context()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            provisioner(inline=[f"sleep 60 & echo $! > {pids}", f"echo $$ >> {pids}", "echo ready",
                                "sleep 60"]).provision(ui, None, {}, ctx)
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    class ReadyUi(RecordingUi):
        ready = threading.Event()

        def message(self, message: str) -> None:
            super().message(message)
            if message == "ready":
                self.ready.set()

    ui = ReadyUi()
    worker = threading.Thread(target=run)
    worker.start()
    assert ui.ready.wait(10)
    started = [int(line) for line in pids.read_text().split()]
    assert all(pid_alive(pid) for pid in started)
    cancelled_at = time.monotonic()
    ctx.cancel("interrupted")
    worker.join(10)
    assert not worker.is_alive()
    assert time.monotonic() - cancelled_at < 5
    assert len(errors) == 1 and isinstance(errors[0], Cancelled)
    assert not [pid for pid in started if pid_alive(pid)], "a process of the script survived"


def test_cancel_after_the_command_finished_signals_nothing(tmp_path: Path) -> None:
    ctx = Context()
    provisioner(inline=["true"]).provision(RecordingUi(), None, {}, ctx)
    ctx.cancel()  # must not raise nor signal a stale process group


def test_plugin_killed_by_sigkill_takes_its_commands_along(tmp_path: Path, bakehouse_home: Path) -> None:
    """The watchdog kills the script's group when the plugin dies without cleanup,
    and removes the temporary script and its journal entry."""
    pids = tmp_path / "pids"
    driver = textwrap.dedent(f"""
        from bakehouse.sdk import BuildInfo, Context, NullUi
        from bakehouse_plugin_shell.shell_local import ShellLocalProvisioner
        p = ShellLocalProvisioner()
        p.prepare({{"inline": ["sleep 60 & echo $! > {pids}", "echo $$ >> {pids}", "sleep 60"]}},
                  BuildInfo(name="n", builder_type="null"))
        p.provision(NullUi(), None, {{}}, Context())
    """)
    proc = subprocess.Popen([sys.executable, "-c", driver])
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(pids.read_text().split() if pids.exists() else []) < 2:
            time.sleep(0.05)
        started = [int(line) for line in pids.read_text().split()]
        assert all(pid_alive(pid) for pid in started)
        [entry_file] = bakehouse_home.glob("journal/*/*.json")
        script = Path(json.loads(entry_file.read_text())["resource_id"])
        assert script.is_file()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (any(pid_alive(pid) for pid in started) or script.exists()
                                           or entry_file.exists()):
        time.sleep(0.05)
    assert not [pid for pid in started if pid_alive(pid)], "orphaned script processes"
    assert not script.exists() and not entry_file.exists()


def test_background_process_holding_output_does_not_hang(tmp_path: Path) -> None:
    pidfile = tmp_path / "bg"
    started = time.monotonic()
    provisioner(inline=[f"sleep 30 & echo $! > {pidfile}", "echo bye"]).provision(
        RecordingUi(), None, {}, Context())
    assert time.monotonic() - started < 5
    bg = int(pidfile.read_text())
    # Left alone (as in Packer) — but it is ours to clean in this test.
    os.kill(bg, signal.SIGKILL)


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        ({}, (), "One of command, inline, script or scripts must be set"),
        ({"inline": ["a"], "scripts": ["/etc/hostname"]}, ("scripts",), "Only one of command, inline, script or scripts"),
        ({"script": "/no/such/script.sh"}, ("script",), "Bad script '/no/such/script.sh'"),
        ({"scripts": ["/etc/hostname", "/nope.sh"]}, ("scripts", 1), "Bad script '/nope.sh'"),
        ({"inline": ["a"], "environment_vars": ["A=1", "B"]}, ("environment_vars", 1), "key=value"),
        ({"inline": ["a"], "execute_command": ["sh", "{{.Path}}"]}, ("execute_command", 1), "{{.Path}}"),
        ({"inline": ["a"], "execute_command": "sh {{.Script}}"}, ("execute_command",), "list of strings"),
        ({"inline": ["a"], "env_var_format": "%s"}, ("env_var_format",), "exactly two %s"),
        ({"inline": ["a"], "remote_folder": "/tmp"}, ("remote_folder",), "not expected"),
        ({"inline": ["a"], "valid_exit_codes": ["x"]}, ("valid_exit_codes", 0), "integer"),
    ],
)
def test_config_mistakes_point_at_the_option(config: dict[str, Any], path: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        provisioner(**config)
    problems = info.value.problems
    assert [p.path for p in problems] == [path], problems
    assert message in problems[0].message


def test_the_documented_model_has_the_options_and_refuses_a_command_string() -> None:
    from bakehouse.sdk.config import parse_config
    from bakehouse_plugin_shell.shell_local import ShellLocalOptions

    model = ShellLocalProvisioner.documented_schema()
    assert ShellLocalPostProcessor.documented_schema() is model
    assert list(model.model_fields) == [f.name for f in dataclasses.fields(ShellLocalOptions)]
    with pytest.raises(ConfigError) as info:
        parse_config(model, {"inline": ["a"], "execute_command": "sh {{.Script}}"})
    assert "must be a list of strings" in info.value.problems[0].message


@pytest.mark.parametrize(
    "raw",
    [
        {"inline": ["echo hi"]},
        {"command": "echo", "env": {"A": "b"}, "valid_exit_codes": [0, 3], "use_linux_pathing": True},
        {"inline": ["a"], "valid_exit_codes": ["3"]},  # the model converts: both ways give 3
        {"inline": ["a"], "valid_exit_codes": [True]},
        {"inline": ["a"], "only_on": "linux"},
        {"inline": ["a"], "execute_command": "sh {{.Script}}"},
        {"inline": ["a"], "env": {"A": 1}},
        {"inline": None, "command": None, "script": "/etc/hostname"},
        {"inline": ["a"], "tempfile_extension": 1.5},
        {"inline": ["a"], "no_such_option": 1},
    ],
)
def test_plain_options_and_the_model_agree(raw: dict[str, Any]) -> None:
    from bakehouse_plugin_shell.shell_local import parse_shell_local

    got, expected = parsed_both_ways(parse_shell_local, ShellLocalProvisioner.documented_schema(), raw)
    assert got == expected


def test_post_processor_passes_the_artifact_on_kept(tmp_path: Path) -> None:
    out = tmp_path / "pp.txt"
    pp = ShellLocalPostProcessor()
    pp.prepare({"inline": [f'echo "$PACKER_BUILD_NAME/$PACKER_BUILDER_TYPE" > {out}']}, BUILD)
    artifact = SimpleArtifact("bakehouse.null", "id-1")
    result, keep, force = pp.post_process(RecordingUi(), artifact, Context())
    assert (result, keep, force) == (artifact, True, True)
    assert out.read_text() == "web/null\n"


def test_post_processor_failure_raises() -> None:
    pp = ShellLocalPostProcessor()
    pp.prepare({"inline": ["exit 1"]}, BUILD)
    with pytest.raises(RuntimeError, match="non-zero exit status: 1"):
        pp.post_process(RecordingUi(), SimpleArtifact("b", "i"), Context())


def test_inline_script_is_journalled_while_it_exists(bakehouse_home: Path) -> None:
    ui = RecordingUi()
    provisioner(inline=[f'cat "{bakehouse_home}"/journal/*/*.json']).provision(ui, None, {}, Context())
    [entry] = [json.loads(line) for line in ui.of("message")]
    assert entry["plugin"] == "bakehouse-plugin-shell" and entry["kind"] == "shell-temp-script"
    assert ui.of("say") == [f"Running local shell script: {entry['resource_id']}"]
    assert not os.path.exists(entry["resource_id"])
    assert not list(bakehouse_home.glob("journal/*/*.json")), "the entry is forgotten once the file is gone"


def test_temporary_script_cleaner_removes_only_its_own_files(tmp_path: Path) -> None:
    from bakehouse.sdk import JournalEntry
    from bakehouse.sdk.journal import cleaner_for

    cleaner = cleaner_for("shell-temp-script")
    assert cleaner is not None
    ours = tmp_path / "packer-shell123"
    ours.write_text("echo")
    cleaner(JournalEntry("bakehouse-plugin-shell", "shell-temp-script", str(ours)))
    assert not ours.exists()
    other = tmp_path / "precious.sh"
    other.write_text("keep")
    with pytest.raises(ValueError, match="refusing"):
        cleaner(JournalEntry("bakehouse-plugin-shell", "shell-temp-script", str(other)))
    assert other.exists()


def test_output_of_a_background_process_is_forwarded_while_it_flows(tmp_path: Path) -> None:
    """After the script exits, output still flowing from its background child is
    shown; reading stops once the pipes fall silent."""
    group = tmp_path / "pgid"
    ui = RecordingUi()
    started = time.monotonic()
    provisioner(inline=[f"cut -d' ' -f5 /proc/$$/stat > {group}", "(for i in 1 2 3 4; do sleep 0.6; echo bg $i; done; sleep 30) &",
                        "echo main done"]).provision(ui, None, {}, Context())
    try:
        assert ui.of("message") == ["main done", "bg 1", "bg 2", "bg 3", "bg 4"]
        assert time.monotonic() - started < 10
    finally:
        # The background child is left running, as in Packer; it is ours to stop here.
        os.killpg(int(group.read_text()), signal.SIGKILL)
