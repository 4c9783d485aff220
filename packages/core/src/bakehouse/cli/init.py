"""``bakehouse init [flags] TEMPLATE``: install the plugins a template requires.

Each ``packer { required_plugins { ... } }`` entry names a Python distribution
(see :mod:`bakehouse.plugin.requirements`). A requirement that discovery
already meets is left alone (``-upgrade`` asks pip for the newest allowed
version); the others are installed with pip into the environment Bakehouse
runs in, so their executables land next to ``bakehouse`` where discovery finds
them. ``--find-links DIR`` installs offline from a directory of wheels (pip's
``--no-index`` unless ``--index-url`` is given too); ``--index-url URL`` uses
another package index.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from bakehouse.cli.common import add_target, add_ui_flags, bool_flag, flag, load_template, make_ui


def add_pip_source_flags(parser: argparse.ArgumentParser | Any) -> None:
    """``--find-links DIR`` (repeatable) and ``--index-url URL``, handed to pip."""
    flag(
        parser,
        "find-links",
        dest="find_links",
        action="append",
        default=[],
        metavar="DIR",
        help="install from this directory of wheels (offline unless -index-url is given too)",
    )
    flag(parser, "index-url", dest="index_url", default="", metavar="URL", help="package index to install from")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    bool_flag(parser, "upgrade", "install the newest versions the constraints allow, even when one is installed")
    bool_flag(parser, "force", "reinstall every required plugin, even when an installed version meets it")
    add_pip_source_flags(parser)
    add_ui_flags(parser)
    add_target(parser)


def pip_install(
    requirements: Sequence[str],
    *,
    find_links: Sequence[str] = (),
    index_url: str = "",
    upgrade: bool = False,
    force: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run pip (of the environment Bakehouse runs in) to install ``requirements``."""
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    if index_url:
        command += ["--index-url", index_url]
    elif find_links:
        command.append("--no-index")
    for directory in find_links:
        command += ["--find-links", directory]
    if upgrade:
        command.append("--upgrade")
    if force:
        # The plugin itself, not its dependencies (the core among them).
        command += ["--force-reinstall", "--no-deps"]
    command += list(requirements)
    try:
        return subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    except OSError as exc:
        return subprocess.CompletedProcess(command, 1, "", f"cannot run pip: {exc}")


def discovered_plugins() -> list[Any]:
    """The plugin executables discovery finds now (describe cache honoured)."""
    from bakehouse.plugin.manager import PluginManager

    manager = PluginManager()
    try:
        return list(manager.installed())
    finally:
        manager.shutdown()


def install_requirement(
    ui: Any,
    requirement: Any,
    *,
    find_links: Sequence[str],
    index_url: str,
    upgrade: bool = False,
    force: bool = False,
) -> bool:
    """Install one requirement unless it is met; say what happened. False on failure."""
    from bakehouse.plugin.requirements import find_installation

    found = find_installation(requirement, discovered_plugins())
    if found is not None and not (upgrade or force):
        ui.say(f'Plugin {requirement.source} v{found.version} is already installed in "{found.path}"')
        return True
    if not requirement.applies_constraint and requirement.constraint:
        ui.say(
            f'Note: {requirement.source} is Packer\'s plugin; its version "{requirement.constraint}" '
            f"numbers Packer's releases and is not applied to {requirement.distribution}."
        )
    result = pip_install(
        [requirement.pip_requirement],
        find_links=find_links,
        index_url=index_url,
        upgrade=upgrade,
        # Reinstalling without dependencies is only safe over an installation.
        force=force and found is not None,
    )
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-15:]
        ui.error(
            f'Failed getting the "{requirement.source}" plugin: pip could not install '
            f"{requirement.pip_requirement}:\n" + "\n".join(f"  {line}" for line in detail)
        )
        return False
    found = find_installation(requirement, discovered_plugins())
    if found is None:
        ui.error(
            f'Failed getting the "{requirement.source}" plugin: pip installed {requirement.pip_requirement} '
            f"but discovery finds no {requirement.executable} executable meeting "
            f'"{requirement.constraint or "any version"}" (is it a Bakehouse plugin?).'
        )
        return False
    ui.say(f'Installed plugin {requirement.source} v{found.version} in "{found.path}"')
    return True


def template_requirements(args: argparse.Namespace, ui: Any) -> list[Any] | None:
    """The target template's required_plugins as requirements; None (reported) on error."""
    from bakehouse.plugin.requirements import RequirementError, requirements_of

    template, _warnings = load_template(args, ui, syntax_only=True)
    if template is None:
        return None
    try:
        return list(requirements_of(template.required_plugins))
    except RequirementError as exc:
        ui.error(f"Error: Invalid required_plugins entry: {exc}")
        return None


def run(args: argparse.Namespace) -> int:
    ui = make_ui(args)
    requirements = template_requirements(args, ui)
    if requirements is None:
        return 1
    if not requirements:
        ui.say(
            "No plugins requirement found: the template has no packer { required_plugins { ... } } "
            "block, so there is nothing to install. Install plugins with pip or "
            "`bakehouse plugins install pypi/<distribution>`."
        )
        return 0
    ok = True
    for requirement in requirements:
        ok = install_requirement(
            ui,
            requirement,
            find_links=list(args.find_links),
            index_url=args.index_url,
            upgrade=bool(args.upgrade),
            force=bool(args.force),
        ) and ok
    return 0 if ok else 1
