"""The shell plugin end to end: the real `bakehouse build` CLI, the real
bakehouse-plugin-shell process, and (for `shell`) the localdir test plugin's
builder and communicator in another process, all over pipe RPC."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.support import bakehouse_exe

NULL_SOURCE = 'source "null" "n" {\n  communicator = "none"\n}\n'


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def show(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit={result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def journal_entries(home: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in (home / "journal").glob("*/*.json") if p.name != "run.json"]


def test_null_build_with_shell_local_provisioner_and_post_processor(bakehouse, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    pp_out = tmp_path / "pp.txt"
    write(tmp_path, "t.pkr.hcl", NULL_SOURCE + f"""
build {{
  sources = ["source.null.n"]
  provisioner "shell-local" {{
    inline           = ["echo \\"$PACKER_BUILD_NAME $PACKER_BUILDER_TYPE $GREETING $FROM_MAP\\" > {out}", "echo streamed line"]
    environment_vars = ["GREETING=it's ${{upper(source.name)}}"]
    env              = {{ FROM_MAP = "map" }}
  }}
  post-processor "shell-local" {{
    inline = ["echo post $PACKER_BUILD_NAME > {pp_out}"]
  }}
}}
""")
    result = bakehouse("build", "t.pkr.hcl")
    assert result.returncode == 0, show(result)
    assert out.read_text() == "n null it's N map\n"
    assert pp_out.read_text() == "post n\n"
    assert "    null.n: streamed line" in result.stdout
    assert "==> null.n: Running local shell script: " in result.stdout
    # The post-processor hands its input on, kept: the artifact is listed twice, as in Packer.
    artifacts = [line for line in result.stdout.splitlines() if line.startswith("--> null.n:")]
    assert len(artifacts) == 2, show(result)


def test_shell_local_failure_fails_the_build_with_the_exit_status(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", NULL_SOURCE + """
build {
  sources = ["source.null.n"]
  provisioner "shell-local" {
    inline = ["echo about to fail", "exit 3"]
  }
}
""")
    result = bakehouse("build", "t.pkr.hcl")
    assert result.returncode == 1, show(result)
    assert "Script exited with non-zero exit status: 3" in result.stdout, show(result)
    assert "Traceback" not in result.stdout + result.stderr


def test_shell_provisioner_over_rpc_against_localdir_builder(bakehouse, localdir_plugin: Path,
                                                             tmp_path: Path, bakehouse_home: Path) -> None:
    script = write(tmp_path, "setup.sh", "#!/bin/sh\r\necho \"script sees $APP_ENV in $(basename $PWD)\"\r\n"
                   "echo built > from-script.txt\r\n")
    write(tmp_path, "t.pkr.hcl", f"""
source "localdir" "box" {{
  output_dir = "{tmp_path / 'result'}"
}}
build {{
  sources = ["source.localdir.box"]
  provisioner "shell" {{
    inline           = ["echo \\"$PACKER_BUILD_NAME/$PACKER_BUILDER_TYPE/$QUOTED/$MAPPED\\" > inline.txt",
                        "echo to stdout", "echo to stderr >&2", "pwd > where.txt"]
    environment_vars = ["QUOTED=it's"]
    env              = {{ MAPPED = "${{build.ID}}" }}
    remote_folder    = "."
  }}
  provisioner "shell" {{
    script           = "{script}"
    environment_vars = ["APP_ENV=test"]
    remote_folder    = "scripts"
    remote_file      = "kept.sh"
    skip_clean       = true
    execute_command  = "mkdir -p scripts; chmod +x {{{{.Path}}}}; {{{{.Vars}}}} {{{{.Path}}}}"
  }}
  provisioner "shell" {{
    inline           = ["exit 7"]
    valid_exit_codes = [0, 7]
    remote_folder    = "."
  }}
}}
""")
    result = bakehouse("build", "t.pkr.hcl")
    assert result.returncode == 0, show(result)
    box = tmp_path / "result"
    machine_dir_name = (box / "where.txt").read_text().strip().rsplit("/", 1)[1]
    assert machine_dir_name.startswith("bakehouse-localdir-")
    # build.ID came from the builder's generated data, at provision time.
    assert (box / "inline.txt").read_text() == f"box/localdir/it's/{machine_dir_name}\n"
    assert (box / "from-script.txt").read_text() == "built\n"
    # skip_clean kept the second script (with Unix newlines); the first one was removed.
    assert (box / "scripts" / "kept.sh").read_bytes().count(b"\r") == 0
    assert not list(box.glob("script_*.sh"))
    assert "    localdir.box: to stdout" in result.stdout
    assert "==> localdir.box: to stderr" in result.stdout
    assert f"    localdir.box: script sees test in {machine_dir_name}" in result.stdout
    assert "==> localdir.box: Provisioning with shell script: " in result.stdout
    # The builder removed its temporary directory and forgot it in the journal.
    assert not (Path("/tmp") / machine_dir_name).exists()
    assert journal_entries(bakehouse_home) == []


def test_shell_provisioner_failure_exits_1_with_the_provisioners_error(bakehouse, localdir_plugin: Path,
                                                                       tmp_path: Path, bakehouse_home: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
source "localdir" "box" {}
build {
  sources = ["source.localdir.box"]
  provisioner "shell" {
    inline        = ["echo partial work", "exit 2", "echo never"]
    remote_folder = "."
  }
  provisioner "shell-local" {
    inline = ["echo must not run"]
  }
}
""")
    result = bakehouse("build", "t.pkr.hcl")
    assert result.returncode == 1, show(result)
    assert "    localdir.box: partial work" in result.stdout
    assert "never" not in result.stdout and "must not run" not in result.stdout
    assert "Script exited with non-zero exit status: 2. Allowed exit codes are: [0]" in result.stdout, show(result)
    assert "Traceback" not in result.stdout + result.stderr
    assert journal_entries(bakehouse_home) == [], "the failed build still removes its temp dir"


def test_shell_provisioner_config_mistake_names_the_option(bakehouse, localdir_plugin: Path,
                                                           tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
source "localdir" "box" {}
build {
  sources = ["source.localdir.box"]
  provisioner "shell" {
    inline = ["true"]
    script = "also.sh"
  }
}
""")
    result = bakehouse("build", "t.pkr.hcl")
    assert result.returncode == 1, show(result)
    assert "Only one of inline, script or scripts can be specified" in result.stdout + result.stderr, show(result)
    assert "on t.pkr.hcl line 7" in result.stdout, show(result)
    assert "Traceback" not in result.stdout + result.stderr


def test_sigterm_mid_shell_local_leaves_no_process_behind(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    write(tmp_path, "t.pkr.hcl", NULL_SOURCE + f"""
build {{
  sources = ["source.null.n"]
  provisioner "shell-local" {{
    inline = ["sleep 60 & echo $! > {pids}", "echo $$ >> {pids}", "sleep 60"]
  }}
}}
""")
    proc = subprocess.Popen([bakehouse_exe(), "build", "t.pkr.hcl"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(pids.read_text().split() if pids.exists() else []) < 2:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.05)
        started = [int(pid) for pid in pids.read_text().split()]
        assert len(started) == 2 and all(pid_alive(pid) for pid in started)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, output
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in started):
        time.sleep(0.05)
    assert not [pid for pid in started if pid_alive(pid)], f"orphans left behind\n{output}"


def test_example_shell_local_builds(bakehouse, tmp_path: Path) -> None:
    import shutil

    example = tmp_path / "shell-local"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "shell-local", example,
                    ignore=shutil.ignore_patterns("output"))
    result = bakehouse("build", "-var", "greeting=Bonjour", "shell-local", cwd=tmp_path)
    assert result.returncode == 0, show(result)
    assert (example / "output" / "greeting.txt").read_text() == "Bonjour from workstation (null)\n"
    assert "scripts run by: workstation" in (example / "output" / "inventory.txt").read_text()
    assert "    null.workstation (shell-local): Bonjour from workstation (null)" in result.stdout


def test_provisioner_timeout_kills_the_shell_local_command(bakehouse, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    write(tmp_path, "t.pkr.hcl", NULL_SOURCE + f"""
build {{
  sources = ["source.null.n"]
  provisioner "shell-local" {{
    timeout = "2s"
    inline  = ["sleep 60 & echo $! > {pids}", "echo $$ >> {pids}", "sleep 60"]
  }}
}}
""")
    started = time.monotonic()
    result = bakehouse("build", "t.pkr.hcl", timeout=60)
    assert result.returncode == 1, show(result)
    assert time.monotonic() - started < 40
    assert "Cancelling provisioner after a timeout..." in result.stdout, show(result)
    leftover = [int(pid) for pid in pids.read_text().split() if pid_alive(int(pid))]
    assert not leftover, f"the timed-out command left processes behind: {leftover}"


def test_shell_provisioner_max_retries_reruns_the_script(bakehouse, localdir_plugin: Path, tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"
    write(tmp_path, "t.pkr.hcl", f"""
source "localdir" "box" {{}}
build {{
  sources = ["source.localdir.box"]
  provisioner "shell" {{
    max_retries   = 2
    remote_folder = "."
    inline        = ["echo try >> {attempts}", "test $(wc -l < {attempts}) -ge 2"]
  }}
}}
""")
    result = bakehouse("build", "t.pkr.hcl")
    assert result.returncode == 0, show(result)
    assert attempts.read_text() == "try\ntry\n"
    assert "retrying with 2 trie(s) left" in result.stdout, show(result)


def test_long_output_arrives_complete_and_in_order(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", NULL_SOURCE + """
build {
  sources = ["source.null.n"]
  provisioner "shell-local" {
    inline = ["seq 20000", "echo", "echo", "echo end"]
  }
}
""")
    result = bakehouse("build", "t.pkr.hcl")
    assert result.returncode == 0, show(result)
    lines = [line for line in result.stdout.splitlines() if line.startswith("    null.n: ")]
    assert lines == [f"    null.n: {i}" for i in range(1, 20001)] + ["    null.n: "] * 2 + ["    null.n: end"]


def test_shell_provisioner_timeout_stops_the_remote_command(bakehouse, localdir_plugin: Path,
                                                            tmp_path: Path, bakehouse_home: Path) -> None:
    pidfile = tmp_path / "remote-pid"
    write(tmp_path, "t.pkr.hcl", f"""
source "localdir" "box" {{}}
build {{
  sources = ["source.localdir.box"]
  provisioner "shell" {{
    timeout       = "2s"
    remote_folder = "."
    inline        = ["echo $$ > {pidfile}", "sleep 60"]
  }}
}}
""")
    started = time.monotonic()
    result = bakehouse("build", "t.pkr.hcl", timeout=90)
    assert result.returncode == 1, show(result)
    assert time.monotonic() - started < 45
    assert "Cancelling provisioner after a timeout..." in result.stdout, show(result)
    assert "Removed temporary directory" in result.stdout, show(result)
    assert not pid_alive(int(pidfile.read_text())), "the remote script still runs"
    assert journal_entries(bakehouse_home) == []


def test_shell_local_relative_scripts_are_relative_to_the_current_directory(bakehouse, tmp_path: Path) -> None:
    for name, text in (("one.sh", "echo one $ONLY_HERE"), ("two.sh", "echo two")):
        script = write(tmp_path, name, "#!/bin/sh\n" + text + "\n")
        script.chmod(0o755)
    write(tmp_path, "t.pkr.hcl", NULL_SOURCE + """
build {
  sources = ["source.null.n"]
  provisioner "shell-local" {
    scripts          = ["one.sh", "two.sh"]
    environment_vars = ["ONLY_HERE=yes"]
  }
}
""")
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, show(result)
    assert f"==> null.n: Running local shell script: {tmp_path}/one.sh" in result.stdout, show(result)
    output = [line for line in result.stdout.splitlines() if line.startswith("    null.n: ")]
    assert output == ["    null.n: one yes", "    null.n: two"]
