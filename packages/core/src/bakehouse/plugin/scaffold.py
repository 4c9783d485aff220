"""``bakehouse plugins new NAME``: the files of a new plugin distribution.

The package installs with pip, its executable ``bakehouse-plugin-NAME``
describes and serves one provisioner ``NAME`` (runs a command through the
communicator and shows its output), and its test uses the fakes of the pytest
plugin :mod:`bakehouse.testing`.
"""

from __future__ import annotations

import re
from pathlib import Path

from bakehouse import __version__

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.21"]
build-backend = "hatchling.build"

[project]
name = "{dist}"
version = "0.1.0"
description = "A Bakehouse plugin: the {name} provisioner."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["bakehouse>={core_version}"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.scripts]
{dist} = "{module}:main"

[tool.hatch.build.targets.wheel]
packages = ["src/{module}"]
"""

_INIT = '''\
"""{dist}: the ``{name}`` provisioner runs a command on the machine being built."""

from bakehouse.sdk import serve

__version__ = "0.1.0"


def main() -> None:
    # "module:Class": the component's module is imported when first used, so
    # `{dist} describe` stays fast.
    serve(
        plugin="{dist}",
        version=__version__,
        provisioners={{"{name}": "{module}.provisioner:{klass}"}},
    )
'''

_PROVISIONER = '''\
"""The ``{name}`` provisioner."""

from __future__ import annotations

from typing import Any

from bakehouse.sdk import Communicator, Config, Context, Provisioner, Ui


class {klass}Config(Config):
    command: str  # required: leaving it out is an error at the template's file:line
    ignore_exit_code: bool = False


class {klass}(Provisioner):
    config_schema = {klass}Config

    def provision(self, ui: Ui, communicator: Communicator | None, generated: dict[str, Any], ctx: Context) -> None:
        if communicator is None:
            raise RuntimeError("{name} needs a communicator (this build has none)")
        ui.say(f"Running: {{self.config.command}}")
        output = bytearray()
        status = communicator.execute(
            self.config.command, on_stdout=output.extend, on_stderr=output.extend, ctx=ctx
        )
        for line in output.decode(errors="replace").splitlines():
            ui.message(line)
        if status != 0 and not self.config.ignore_exit_code:
            raise RuntimeError(f"{{self.config.command!r}} exited with status {{status}}")
'''

_TEST = '''\
"""Unit tests of the {name} provisioner with the fakes of bakehouse's pytest plugin."""

import pytest
from bakehouse.sdk import BuildInfo, ConfigError, Context

from {module}.provisioner import {klass}

BUILD = BuildInfo(name="box", builder_type="docker")


def test_runs_the_command_and_shows_its_output(bakehouse_fake_ui, bakehouse_fake_communicator):
    bakehouse_fake_communicator.results["uname -s"] = (0, b"Linux\\n", b"")
    provisioner = {klass}()
    provisioner.prepare({{"command": "uname -s"}}, BUILD)
    provisioner.provision(bakehouse_fake_ui, bakehouse_fake_communicator, {{}}, Context())
    assert bakehouse_fake_communicator.commands == ["uname -s"]
    assert bakehouse_fake_ui.of("message") == ["Linux"]


def test_a_failing_command_fails_the_build(bakehouse_fake_ui, bakehouse_fake_communicator):
    bakehouse_fake_communicator.results["false"] = (1, b"", b"")
    provisioner = {klass}()
    provisioner.prepare({{"command": "false"}}, BUILD)
    with pytest.raises(RuntimeError, match="exited with status 1"):
        provisioner.provision(bakehouse_fake_ui, bakehouse_fake_communicator, {{}}, Context())


def test_the_command_is_required():
    with pytest.raises(ConfigError, match="command"):
        {klass}().prepare({{}}, BUILD)
'''

_README = """\
# {dist}

A plugin for Bakehouse (the `bakehouse` distribution) with one provisioner,
`{name}`, which runs a command on the machine being built and shows its output.

```hcl
build {{
  sources = ["source.docker.box"]
  provisioner "{name}" {{
    command = "uname -a"
  }}
}}
```

Install it next to `bakehouse` (`pip install .`): the executable `{dist}` then sits
where Bakehouse discovers plugins. Check with `bakehouse plugins installed`.

Tests: `pip install -e '.[test]' && pytest` (the fixtures come from the pytest plugin
that `bakehouse` installs).
"""


class ScaffoldError(Exception):
    """The name is not usable, or the directory exists."""


def scaffold(name: str, parent: Path) -> Path:
    """Write the package of plugin ``name`` under ``parent``; return its directory."""
    if not _NAME.match(name):
        raise ScaffoldError(
            f"invalid plugin name {name!r}: use lower-case letters, digits and dashes, "
            "starting with a letter (e.g. motd or apt-cache)"
        )
    dist = f"bakehouse-plugin-{name}"
    module = dist.replace("-", "_")
    klass = "".join(part.capitalize() for part in name.split("-")) + "Provisioner"
    root = parent / dist
    if root.exists():
        raise ScaffoldError(f"{root} already exists; remove it or choose another directory")
    values = {"name": name, "dist": dist, "module": module, "klass": klass, "core_version": __version__}
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"src/{module}/__init__.py": _INIT,
        f"src/{module}/provisioner.py": _PROVISIONER,
        f"tests/test_{module}.py": _TEST,
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(**values), encoding="utf-8")
    return root
