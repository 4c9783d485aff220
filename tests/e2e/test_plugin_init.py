"""`bakehouse init` and `bakehouse plugins install|remove|required` in a fresh venv.

Wheels of the core and of the shell plugin are built from packages/ into a
local directory; a fresh venv gets the core wheel, and `init` installs the
plugin with pip, offline (--find-links, so pip's --no-index; later from an
index URL: a PEP 503 index served on loopback). The venv reuses
the third-party dependencies of the test environment through a .pth file
pointing at a directory of links to them (never at the Bakehouse
distributions), so nothing is downloaded and the test stays short.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TEMPLATE = """
packer {
  required_plugins {
    shell = {
      source  = "pypi/bakehouse-plugin-shell"
      version = ">= 0.1, < 1"
    }
  }
}
source "null" "n" {}
build {
  sources = ["source.null.n"]
  provisioner "shell-local" {
    inline = ["echo provisioned by the installed plugin"]
  }
}
"""


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(venv, wheel directory, environment) with only the core installed in the venv."""
    root = tmp_path_factory.mktemp("fresh-venv")
    wheels = root / "wheels"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "BAKEHOUSE_", "PACKER_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,  # no machine-wide index or find-links: only what the test gives
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        BAKEHOUSE_HOME=str(root / "home"),
    )
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         str(REPO / "packages" / "core"), str(REPO / "packages" / "plugin-shell"), "-w", str(wheels)],
        env, root,
    )
    assert built.returncode == 0, built.stderr
    venv = root / "venv"
    created = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env, root)
    assert created.returncode == 0, created.stderr
    # Third-party dependencies (and pip) as links; the Bakehouse distributions stay out.
    deps = root / "deps"
    deps.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        lowered = entry.name.lower()
        if lowered.startswith(("bakehouse", "_bakehouse", "__editable__", "_editable_impl")) or lowered.endswith(".pth"):
            continue
        (deps / entry.name).symlink_to(entry)
    venv_site = next((venv / "lib").glob("python3*/site-packages"))
    (venv_site / "test-deps.pth").write_text(str(deps) + "\n", encoding="utf-8")
    core_wheel = next(wheels.glob("bakehouse-*.whl"))
    installed = _run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(core_wheel)],
        env, root,
    )
    assert installed.returncode == 0, installed.stderr
    (wheels / core_wheel.name).unlink()  # init must not need (or reinstall) the core
    return venv, wheels, env


def test_init_installs_the_required_plugin_offline_and_build_says_when_it_is_missing(fresh_venv, tmp_path):
    venv, wheels, env = fresh_venv
    bakehouse = str(venv / "bin" / "bakehouse")
    (tmp_path / "t.pkr.hcl").write_text(textwrap.dedent(TEMPLATE), encoding="utf-8")
    plugin_exe = venv / "bin" / "bakehouse-plugin-shell"
    assert not plugin_exe.exists()

    missing = _run([bakehouse, "build", "t.pkr.hcl"], env, tmp_path)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert "Error: Missing plugins" in missing.stdout
    assert "* pypi/bakehouse-plugin-shell >= 0.1, < 1" in missing.stdout
    assert "Run `bakehouse init t.pkr.hcl` to install them" in missing.stdout

    init = _run([bakehouse, "init", "--find-links", str(wheels), "t.pkr.hcl"], env, tmp_path)
    assert init.returncode == 0, init.stdout + init.stderr
    assert f'Installed plugin pypi/bakehouse-plugin-shell v0.1.0 in "{plugin_exe}"' in init.stdout
    assert plugin_exe.exists()

    again = _run([bakehouse, "init", "--find-links", str(wheels), "t.pkr.hcl"], env, tmp_path)
    assert again.returncode == 0
    assert "is already installed" in again.stdout and "Installed plugin" not in again.stdout
    forced = _run([bakehouse, "init", "-force", "--find-links", str(wheels), "t.pkr.hcl"], env, tmp_path)
    assert forced.returncode == 0 and "Installed plugin pypi/bakehouse-plugin-shell" in forced.stdout

    required = _run([bakehouse, "plugins", "required", "t.pkr.hcl"], env, tmp_path)
    assert required.stdout.strip() == f'shell pypi/bakehouse-plugin-shell ">= 0.1, < 1" {plugin_exe}'

    built = _run([bakehouse, "build", "t.pkr.hcl"], env, tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "provisioned by the installed plugin" in built.stdout

    removed = _run([bakehouse, "plugins", "remove", "pypi/bakehouse-plugin-shell"], env, tmp_path)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert removed.stdout.strip() == str(plugin_exe)
    assert not plugin_exe.exists()
    assert _run([bakehouse, "plugins", "remove", "pypi/bakehouse-plugin-shell"], env, tmp_path).returncode == 1

    # An index URL: a PEP 503 "simple" index served on loopback.
    project = tmp_path / "index" / "simple" / "bakehouse-plugin-shell"
    project.mkdir(parents=True)
    wheel = next(wheels.glob("bakehouse_plugin_shell-*.whl"))
    shutil.copy(wheel, project / wheel.name)
    (project / "index.html").write_text(f'<a href="{wheel.name}">{wheel.name}</a>\n', encoding="utf-8")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "index"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        index_url = f"http://127.0.0.1:{server.server_address[1]}/simple"
        reinstalled = _run(
            [bakehouse, "plugins", "install", "--index-url", index_url, "pypi/bakehouse-plugin-shell", "~> 0.1"],
            env, tmp_path,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert reinstalled.returncode == 0, reinstalled.stdout + reinstalled.stderr
    assert plugin_exe.exists()

    unmet = _run(
        [bakehouse, "plugins", "install", "--find-links", str(wheels), "pypi/bakehouse-plugin-shell", ">= 2"],
        env, tmp_path,
    )
    assert unmet.returncode == 1
    assert 'Failed getting the "pypi/bakehouse-plugin-shell" plugin: pip could not install' in unmet.stdout
    assert "bakehouse-plugin-shell>=2" in unmet.stdout
    assert "Traceback" not in unmet.stdout + unmet.stderr


def test_init_maps_packer_sources_and_says_when_nothing_is_required(fresh_venv, tmp_path):
    venv, wheels, env = fresh_venv
    bakehouse = str(venv / "bin" / "bakehouse")
    (tmp_path / "none.pkr.hcl").write_text('source "null" "n" {}\nbuild { sources = ["source.null.n"] }\n')
    nothing = _run([bakehouse, "init", "none.pkr.hcl"], env, tmp_path)
    assert nothing.returncode == 0 and "No plugins requirement found" in nothing.stdout

    # Packer's docker plugin maps to bakehouse-plugin-docker; its version numbers
    # Packer's releases, so it is not handed to pip. (The wheel directory has no
    # docker plugin: init fails naming what it asked pip for.)
    (tmp_path / "docker.pkr.hcl").write_text(textwrap.dedent("""
        packer {
          required_plugins {
            docker = { source = "github.com/hashicorp/docker", version = ">= 1.0.8" }
          }
        }
        """), encoding="utf-8")
    docker = _run([bakehouse, "init", "--find-links", str(wheels), "docker.pkr.hcl"], env, tmp_path)
    assert docker.returncode == 1, docker.stdout + docker.stderr
    assert 'Note: github.com/hashicorp/docker is Packer\'s plugin; its version ">= 1.0.8"' in docker.stdout
    assert 'Failed getting the "github.com/hashicorp/docker" plugin: pip could not install bakehouse-plugin-docker:' in docker.stdout
