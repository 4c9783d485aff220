"""Start-up cost guards that are not timings (issue 9).

The fast paths stay fast only while they do not import the heavy libraries:
``bakehouse version``, ``bakehouse --help`` and a plugin's way to its
handshake must never load pydantic, lark, the Docker SDK, boto3 or paramiko;
the supervisor forks with ``os.fork`` (no multiprocess or dill); ``validate``
and ``build`` of a null template with a plugin provisioner keep pydantic,
Lark and PyYAML out of the core (the plugin's own process validates its
configuration); a docker build's plugins prepare plainly valid blocks of
the docker builder, docker-tag and shell without pydantic, and the core the
file provisioner's.
Checked with ``python -X importtime`` on the real executables (the forked
worker inherits the flag, so its imports are listed too; plugin processes do
not). Speed figures themselves live in bench/ (bench_vs_packer.py, bench_null.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bakehouse.rpc.codec import Hello, decode_message
from bakehouse.rpc.server import CORE_PID_ENV
from bakehouse.rpc.transport import FDS_ENV, PipeTransport

from tests.fixtures.processes import PluginDir, pid_alive, run_processes
from tests.support import bakehouse_exe

HEAVY = ("pydantic", "lark", "docker", "boto3", "botocore", "paramiko", "multiprocess", "dill")
PLUGINS = ("bakehouse-plugin-shell", "bakehouse-plugin-docker", "bakehouse-plugin-aws")


def imported(importtime_stderr: str) -> set[str]:
    """Top-level packages named in ``-X importtime`` output."""
    names: set[str] = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name.split(".")[0])
    return names


def modules(importtime_stderr: str) -> set[str]:
    """Full module names in ``-X importtime`` output."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime_stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def heavy_in(importtime_stderr: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    found = imported(importtime_stderr)
    assert "bakehouse" in found, "no -X importtime output: the check would pass vacuously"
    return sorted(found.intersection(heavy))


def core_importtime(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``bakehouse ARGV`` under ``-X importtime`` (the modules on stderr), checked to succeed."""
    env = dict(os.environ)
    env.pop("BAKEHOUSE_LOG", None)
    result = subprocess.run([sys.executable, "-X", "importtime", bakehouse_exe(), *argv],
                            capture_output=True, text=True, timeout=120, cwd=cwd, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


@pytest.mark.parametrize("argv", [["version"], ["--help"], ["-version"]])
def test_version_and_help_import_no_heavy_library(argv: list[str], tmp_path: Path) -> None:
    result = core_importtime(argv, tmp_path)
    assert "Bakehouse v" in result.stdout or "Usage: bakehouse" in result.stdout
    assert heavy_in(result.stderr) == []


def _plugin_exe(name: str) -> str:
    exe = Path(sys.executable).parent / name
    assert exe.exists(), f"{name} is not installed in this venv (run scripts/setup)"
    return str(exe)


def _serve_until_hello(plugin: str, cwd: Path, extra_env: dict[str, str] | None = None,
                       fork_server: bool = False) -> str:
    """Start the plugin as the core does (RPC pipes; with ``fork_server``, as
    the fork server of several builds), read its hello, hang up without
    asking for anything; its ``-X importtime`` output."""
    from bakehouse.rpc import forks

    core_to_plugin_r, core_to_plugin_w = os.pipe()
    plugin_to_core_r, plugin_to_core_w = os.pipe()
    env = dict(os.environ)
    env[FDS_ENV] = f"{core_to_plugin_r},{plugin_to_core_w}"
    env[CORE_PID_ENV] = str(os.getpid())
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    env.pop("BAKEHOUSE_LOG", None)
    env.update(extra_env or {})
    core_end, server_end = forks.socket_pair() if fork_server else (None, None)
    if server_end is not None:
        env[forks.FORK_SERVER_ENV] = str(server_end.fileno())
    proc = subprocess.Popen(
        [_plugin_exe(plugin), "serve"],
        env=env,
        pass_fds=(core_to_plugin_r, plugin_to_core_w, *([server_end.fileno()] if server_end else [])),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=cwd,
    )
    os.close(core_to_plugin_r)
    os.close(plugin_to_core_w)
    if server_end is not None:
        server_end.close()
    transport = PipeTransport(plugin_to_core_r, core_to_plugin_w)
    try:
        assert transport.poll(60), f"{plugin} sent no handshake within 60 s"
        hello = decode_message(transport.recv())
        assert isinstance(hello, Hello) and hello.plugin == plugin
        if core_end is not None:
            assert forks.recv(core_end) == ({"op": "ready"}, [])
    finally:
        transport.close()  # EOF: the plugin stops
        _, stderr = proc.communicate(timeout=60)
        if core_end is not None:
            core_end.close()
    assert proc.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stderr.decode(errors="replace")


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_handshake_imports_no_heavy_library(plugin: str, tmp_path: Path) -> None:
    assert heavy_in(_serve_until_hello(plugin, tmp_path)) == []


def test_a_plugin_started_early_imports_its_components_after_the_hello(tmp_path: Path) -> None:
    """The core names the components it will create (BAKEHOUSE_PLUGIN_PRELOAD):
    the plugin imports them once it has answered, before the core asks;
    without the variable it does not. shell-local's way still has no pydantic."""
    from bakehouse.rpc.server import PRELOAD_ENV

    # importlib.import_module (how components are loaded) leaves the module
    # itself out of -X importtime; what it imports with `import` is listed.
    module = "bakehouse_plugin_shell._local_process"
    plain = _serve_until_hello("bakehouse-plugin-shell", tmp_path)
    assert "bakehouse.rpc.server" in modules(plain) and module not in modules(plain)
    asked = _serve_until_hello("bakehouse-plugin-shell", tmp_path,
                               {PRELOAD_ENV: '[["provisioner", "shell-local"]]'})
    assert module in modules(asked)
    assert heavy_in(asked) == []


def test_a_fork_server_imports_its_components_before_the_first_fork_is_asked_for(tmp_path: Path) -> None:
    """Several builds share the plugin: its fork server imports the components
    the core named once it has answered, while the core still evaluates, not
    when the first build asks for its process (none is asked for here)."""
    from bakehouse.rpc.server import PRELOAD_ENV

    module = "bakehouse_plugin_shell._local_process"
    plain = _serve_until_hello("bakehouse-plugin-shell", tmp_path, fork_server=True)
    assert "bakehouse.rpc.server" in modules(plain) and module not in modules(plain)
    asked = _serve_until_hello("bakehouse-plugin-shell", tmp_path,
                               {PRELOAD_ENV: '[["provisioner", "shell-local"]]'}, fork_server=True)
    assert module in modules(asked)


TWO_PLUGINS = """
source "localdir" "box" {}
build {
  sources = ["source.localdir.box"]
  provisioner "shell-local" {
    inline = ["echo provisioned"]
  }
}
"""


def test_plugins_of_one_build_start_together(tmp_path: Path) -> None:
    """The builder's plugin answers its handshake slowly (1 s); the
    provisioner's plugin must be spawned before that handshake completes,
    not after it (handshakes overlap instead of adding up)."""
    from tests.e2e.conftest import LOCALDIR_SOURCE

    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    launcher = plugin_dir / "bakehouse-plugin-localdir"
    launcher.write_text(
        f"#!{sys.executable}\n"
        "import runpy, sys, time\n"
        "if sys.argv[1:] == ['serve']:\n"
        "    time.sleep(1.0)  # a slow start: the handshake comes late\n"
        f"runpy.run_path({str(LOCALDIR_SOURCE)!r}, run_name='__main__')\n",
        encoding="utf-8",
    )
    launcher.chmod(0o755)
    (tmp_path / "t.pkr.hcl").write_text(TWO_PLUGINS, encoding="utf-8")
    log_path = tmp_path / "bakehouse.log"
    env = dict(os.environ, BAKEHOUSE_PLUGIN_PATH=str(plugin_dir), BAKEHOUSE_LOG_PATH=str(log_path))
    env.pop("BAKEHOUSE_LOG", None)
    result = subprocess.run(
        [bakehouse_exe(), "build", "t.pkr.hcl"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "provisioned" in result.stdout
    lines = log_path.read_text(encoding="utf-8").splitlines()
    events = [
        (("spawned" if " spawned " in line else "started"), name)
        for line in lines
        for name in ("bakehouse-plugin-localdir", "bakehouse-plugin-shell")
        if f" {name} (pid " in line and (" spawned " in line or " started " in line)
    ]
    assert sorted(events) == sorted(
        [(what, name) for what in ("spawned", "started")
         for name in ("bakehouse-plugin-localdir", "bakehouse-plugin-shell")]
    ), lines
    first_started = next(i for i, (what, _) in enumerate(events) if what == "started")
    assert {name for what, name in events[:first_started]} == {
        "bakehouse-plugin-localdir", "bakehouse-plugin-shell"
    }, events


NULL_WITH_PLUGIN = """
source "null" "quick" {
  communicator = "none"
}
build {
  sources = ["source.null.quick"]
  provisioner "shell-local" {
    inline = ["echo quick"]
  }
}
"""

#: What the core must not import for a null template: the template parses
#: through the generated LALR tables (Lark only reports syntax errors), and
#: PyYAML and regex load with the functions that use them.
NOT_FOR_NULL = ("pydantic", "lark", "hcl2", "yaml", "regex", "docker", "boto3", "botocore", "paramiko",
                "multiprocess", "dill")


@pytest.mark.parametrize("command", ["validate", "build"])
def test_null_template_keeps_pydantic_out_of_the_core(command: str, tmp_path: Path) -> None:
    (tmp_path / "quick.pkr.hcl").write_text(NULL_WITH_PLUGIN, encoding="utf-8")
    result = core_importtime([command, "quick.pkr.hcl"], tmp_path)
    if command == "build":
        assert "quick" in result.stdout  # the plugin ran the provisioner
    else:
        assert "The configuration is valid." in result.stdout
    assert heavy_in(result.stderr, NOT_FOR_NULL) == []


DOCKER_WITH_PROVISIONERS = """
source "docker" "quick" {
  image   = "%(image)s"
  pull    = false
  discard = true
}
build {
  sources = ["source.docker.quick"]
  provisioner "shell" {
    inline = ["echo provisioned > /payload-seen"]
  }
  provisioner "file" {
    source      = "payload.txt"
    destination = "/payload.txt"
  }
}
"""


@pytest.mark.parametrize("command", ["validate", "build"])
def test_docker_template_keeps_pydantic_out_of_the_core(command: str, busybox_image: str, run_id: str,
                                                        tmp_path: Path) -> None:
    """The core runs the ``file`` provisioner itself: a plainly valid block is
    checked without pydantic, so a docker build's core imports no more than a
    null build's (the docker and shell plugins validate their own blocks)."""
    (tmp_path / "payload.txt").write_text("payload\n", encoding="utf-8")
    (tmp_path / "quick.pkr.hcl").write_text(DOCKER_WITH_PROVISIONERS % {"image": busybox_image},
                                           encoding="utf-8")
    result = core_importtime([command, "quick.pkr.hcl"], tmp_path)
    if command == "build":
        assert "Uploading payload.txt => /payload.txt" in result.stdout  # the core ran the provisioner
    else:
        assert "The configuration is valid." in result.stdout
    assert "bakehouse.sdk.plain" in modules(result.stderr)  # the core made the file provisioner: not vacuous
    assert heavy_in(result.stderr, NOT_FOR_NULL) == []


def test_the_core_spawns_its_first_plugin_before_importing_the_rpc_session(tmp_path: Path) -> None:
    """What the core imports on its way to the first plugin spawn (the
    template's syntax, plugin discovery, the spawn itself) leaves out what is
    needed only once the plugin answers (the RPC session) or later (the
    evaluator, the orchestrator): those imports overlap the plugin's start.
    On a second run of unchanged files the scan's result is remembered and
    the plugin starts before the parser is even imported."""
    probe = (
        "import subprocess, sys\n"
        "seen = []\n"
        "real = subprocess.Popen.__init__\n"
        "def spawn(self, args, *a, **k):\n"
        "    if 'serve' in list(args):\n"
        "        seen.append(sorted(m for m in ('bakehouse.rpc.session', 'bakehouse.hcl.evaluator',\n"
        "                                       'bakehouse.orchestrator.runner', 'uuid', 'socket',\n"
        "                                       'bakehouse.hcl.parser')\n"
        "                           if m in sys.modules))\n"
        "    real(self, args, *a, **k)\n"
        "subprocess.Popen.__init__ = spawn\n"
        "from bakehouse.cli.main import dispatch\n"
        "code = dispatch(['build', 'quick.pkr.hcl'])\n"
        "print(code, seen)\n"
    )
    (tmp_path / "quick.pkr.hcl").write_text(NULL_WITH_PLUGIN, encoding="utf-8")
    env = dict(os.environ)
    env.pop("BAKEHOUSE_LOG", None)
    outcomes = []
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                                cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        outcomes.append(result.stdout.strip().splitlines()[-1])
    assert outcomes == ["0 [['bakehouse.hcl.parser']]", "0 [[]]"], outcomes
    # A changed file is scanned again (and its plugins still start early).
    (tmp_path / "quick.pkr.hcl").write_text(NULL_WITH_PLUGIN.replace("echo quick", "echo changed"),
                                           encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env=env)
    assert result.stdout.strip().splitlines()[-1] == "0 [['bakehouse.hcl.parser']]", result.stdout[-2000:]
    assert "changed" in result.stdout


@pytest.mark.parametrize("component", ["shell_local:ShellLocalProvisioner", "shell:ShellProvisioner"])
def test_shell_provisioners_prepare_without_pydantic(component: str, tmp_path: Path) -> None:
    """What the shell plugin imports to create and prepare a plainly valid
    ``shell-local`` (the null build's provisioner) or ``shell`` (a docker
    build's, prepared while the docker plugin imports the Docker SDK) leaves
    pydantic out; a mistake still goes through the documented model (it says
    what is wrong)."""
    probe = (
        "import sys\n"
        "from bakehouse.sdk import BuildInfo, ConfigError\n"
        "from bakehouse.rpc.server import resolve\n"
        f"cls = resolve('bakehouse_plugin_shell.{component}')\n"
        "cls().prepare({'inline': ['echo hi'], 'env': {'A': 'b'}}, BuildInfo(name='n', builder_type='null'))\n"
        "print('pydantic' in sys.modules)\n"
        "try:\n"
        "    cls().prepare({'inline': 'echo hi'}, BuildInfo(name='n', builder_type='null'))\n"
        "except ConfigError as exc:\n"
        "    print('pydantic' in sys.modules, exc.problems[0].path)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["False", "True ('inline',)"]


def test_null_builder_documents_the_options_it_checks() -> None:
    """The null builder checks its arguments by hand (no pydantic on that path);
    the model ``plugins docs`` shows must accept and refuse the same ones."""
    from bakehouse.builtin._null_config import NullConfig
    from bakehouse.builtin.registry import BUILTINS
    from bakehouse.sdk.config import ConfigError, parse_config

    builder_class = BUILTINS["builder"]["null"]
    assert builder_class.documented_schema() is NullConfig
    for value in ("none", "ssh", "SSH", "winrm", 1, True, None, [], {}):
        raw = {"communicator": value, "ssh_host": "h", "ssh_port": 22}
        try:
            parse_config(NullConfig, raw)
            expected = None
        except ConfigError as exc:
            expected = exc.problems
        try:
            builder_class()._parse(raw)
            got = None
        except ConfigError as exc:
            got = exc.problems
        assert got == expected, value


THREE_BUILDS = """
source "null" "one" {
  communicator = "none"
}
source "null" "two" {
  communicator = "none"
}
source "null" "three" {
  communicator = "none"
}
build {
  sources = ["source.null.one", "source.null.two", "source.null.three"]
  provisioner "shell-local" {
    inline = ["echo provisioned"]
  }
}
"""


def test_builds_of_one_run_start_a_shared_plugin_once(tmp_path: Path) -> None:
    """Three builds need the shell plugin: it is started (a Python start-up and
    its imports) once, as a fork server, which forks one process per build."""
    (tmp_path / "t.pkr.hcl").write_text(THREE_BUILDS, encoding="utf-8")
    log_path = tmp_path / "bakehouse.log"
    env = dict(os.environ, BAKEHOUSE_LOG_PATH=str(log_path))
    env.pop("BAKEHOUSE_LOG", None)
    result = subprocess.run(
        [bakehouse_exe(), "build", "t.pkr.hcl"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.count("provisioned") >= 3
    spawned = [line for line in log_path.read_text(encoding="utf-8").splitlines()
               if " spawned bakehouse-plugin-shell (pid " in line]
    assert len([line for line in spawned if line.endswith(" for fork server")]) == 1, spawned
    forked = [line for line in spawned if line.endswith(" by its fork server")]
    assert len(forked) == 3 and len(spawned) == 4, spawned



def test_docker_builds_do_not_load_paramiko(tmp_path: Path) -> None:
    """What a docker build imports in its plugin (the builder, its steps and
    the post-processors) leaves paramiko out: the SSH communicator loads it
    when it connects, and the Docker SDK only for an ssh:// DOCKER_HOST."""
    env = dict(os.environ)
    env.pop("DOCKER_HOST", None)
    probe = (
        "import sys, bakehouse_plugin_docker.builder, bakehouse_plugin_docker.post_processors, "
        "bakehouse_plugin_docker.steps, bakehouse.sdk.ssh\n"
        "print(sorted(n for n in ('docker', 'pydantic', 'paramiko') if sys.modules.get(n) is not None))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["['docker',", "'pydantic']"]  # loaded: not vacuous; no paramiko


def test_a_docker_build_prepares_without_pydantic_or_the_ssh_communicator(tmp_path: Path) -> None:
    """What the docker plugin imports to create and prepare the builder and
    docker-tag of a plainly valid docker build with ``communicator =
    "docker"`` (all it does before the container's create) leaves out
    pydantic (the options are checked as in ``shell-local``) and the SDK's
    SSH communicator with its options; a mistake still goes through the
    documented model, which says what is wrong."""
    probe = (
        "import sys\n"
        "from bakehouse.rpc.server import resolve\n"
        "from bakehouse.sdk import BuildInfo, ConfigError\n"
        "info = BuildInfo(name='n', builder_type='docker')\n"
        "builder = resolve('bakehouse_plugin_docker.builder:DockerBuilder')()\n"
        "builder.prepare({'image': 'busybox', 'pull': False, 'commit': True}, info)\n"
        "builder.steps()\n"
        "tag = resolve('bakehouse_plugin_docker.tag:DockerTagPostProcessor')()\n"
        "tag.prepare({'repository': 'bench/x', 'tags': ['a']}, info)\n"
        "print(sorted(n for n in ('docker', 'pydantic', 'bakehouse.sdk._ssh_config', 'bakehouse.sdk.ssh',\n"
        "                         'bakehouse.sdk._ssh_net', 'bakehouse.sdk._scp', 'paramiko')\n"
        "             if sys.modules.get(n) is not None))\n"
        "try:\n"
        "    resolve('bakehouse_plugin_docker.builder:DockerBuilder')().prepare({'image': 1, 'commit': True}, info)\n"
        "except ConfigError as exc:\n"
        "    print('pydantic' in sys.modules, exc.problems[0].path)\n"
    )
    env = dict(os.environ)
    env.pop("DOCKER_HOST", None)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    # The Docker SDK is loaded (the builder is, not vacuous); neither pydantic nor SSH.
    assert result.stdout.splitlines() == ["['docker']", "True ('image',)"]


PROBED = """
data "http" "probe" {
  url = "http://127.0.0.1:%(port)d/probe"
}
source "testkit" "a" {
  workdir = "%(root)s/machine"
}
build {
  sources = ["source.testkit.a"]
  provisioner "shell-local" {
    inline = ["echo plugin-${data.http.probe.body}"]
  }
}
"""


@pytest.mark.parametrize("argv", [["build"], ["validate", "-evaluate-datasources"]])
def test_plugins_start_while_the_template_is_evaluated(
    argv: list[str], bakehouse: Any, plugin_dir: PluginDir, run_id: str, tmp_path: Path
) -> None:
    """The template's builds name their plugins in its syntax: those start
    before it is evaluated. A data source evaluated on the way answers only
    once the builder's plugin process runs (or says "late" after 30 s)."""
    import http.server
    import threading
    import time

    plugin_dir.add("bakehouse-plugin-testkit")
    answers: list[str] = []

    class Probe(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            deadline = time.monotonic() + 30
            while "bakehouse-plugin-testkit" not in plugin_dir.served() and time.monotonic() < deadline:
                time.sleep(0.01)
            answer = "early" if "bakehouse-plugin-testkit" in plugin_dir.served() else "late"
            answers.append(answer)
            body = answer.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Probe)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (tmp_path / "t.pkr.hcl").write_text(
            PROBED % {"port": server.server_address[1], "root": tmp_path}, encoding="utf-8")
        done = bakehouse(*argv, "t.pkr.hcl", cwd=tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stdout + done.stderr
    assert answers == ["early"]
    if argv == ["build"]:
        assert "plugin-early" in done.stdout
    assert plugin_dir.served() == ["bakehouse-plugin-testkit"]  # one process, taken by the build


BROKEN_LATER = """
source "testkit" "a" {
  workdir = "%(root)s/machine-a"
}
source "testkit" "b" {
  workdir = "%(root)s/machine-b"
}
build {
  sources = [%(sources)s]
  provisioner "shell-local" {
    inline = [var.nowhere]
  }
}
"""


@pytest.mark.parametrize("command", ["build", "validate"])
@pytest.mark.parametrize("sources", ['"source.testkit.a"', '"source.testkit.a", "source.testkit.b"'],
                         ids=["plugin process", "fork server"])
def test_plugins_started_early_stop_when_the_template_fails_to_evaluate(
    command: str, sources: str, bakehouse: Any, plugin_dir: PluginDir, run_id: str, tmp_path: Path
) -> None:
    """One build of a plugin starts its process early, two start its fork
    server early; either is stopped when the evaluation then fails."""
    plugin_dir.add("bakehouse-plugin-testkit")
    (tmp_path / "t.pkr.hcl").write_text(BROKEN_LATER % {"root": tmp_path, "sources": sources},
                                        encoding="utf-8")
    done = bakehouse(command, "t.pkr.hcl", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "nowhere" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    served = [pid for name, command_name, pid in plugin_dir.spawns() if command_name == "serve"]
    assert len(served) == 1  # started before the evaluation failed...
    assert not any(pid_alive(pid) for pid in served)  # ...and stopped before the command ended
    if command == "build":  # the shell plugin too (validate gives its plugins a run id of its own)
        assert run_processes(run_id) == []
