"""``bakehouse plugins SUBCOMMAND``: the plugins discovery finds, and managing them.

- ``installed``: the plugin executables discovery finds, and the built-ins;
- ``install SOURCE [VERSION]``: install one plugin with pip (as ``init`` does);
- ``remove SOURCE``: uninstall a plugin's distribution with pip;
- ``required TEMPLATE``: the template's ``required_plugins`` and what meets them;
- ``new NAME``: write a new plugin package (``bakehouse-plugin-NAME/``) to start from;
- ``docs [COMPONENT...]``: the options of installed components, from their
  config schemas (Markdown or JSON); ``-update FILE`` regenerates the option
  tables a Markdown file embeds, ``-check FILE`` fails when one is stale.

``SOURCE`` is ``pypi/<distribution>`` or a Packer source Bakehouse maps
(``github.com/hashicorp/docker``); see :mod:`bakehouse.plugin.requirements`.
Each subcommand has its own ``_add_<name>_arguments`` and ``_run_<name>``.
"""

from __future__ import annotations

import argparse
from typing import Any

from bakehouse.cli.common import add_target, add_ui_flags, bool_flag, make_ui

#: (label, PluginDescription attribute)
_KINDS = (
    ("builder", "builders"),
    ("provisioner", "provisioners"),
    ("post-processor", "post_processors"),
    ("datasource", "datasources"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    subcommands = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    for name, summary, add in (
        ("installed", "list installed plugins and their components", _add_installed_arguments),
        ("install", "install a plugin with pip", _add_install_arguments),
        ("remove", "uninstall a plugin with pip", _add_remove_arguments),
        ("required", "list the plugins a template requires and what meets them", _add_required_arguments),
        ("new", "write a new plugin package to start from", _add_new_arguments),
        ("docs", "show the options of installed components, from their config schemas", _add_docs_arguments),
    ):
        add(subcommands.add_parser(name, help=summary, description=summary))


def run(args: argparse.Namespace) -> int:
    runner = {
        "installed": _run_installed,
        "install": _run_install,
        "remove": _run_remove,
        "required": _run_required,
        "new": _run_new,
        "docs": _run_docs,
    }[args.subcommand]
    return runner(args)


# --------------------------------------------------------------------- installed


def _add_installed_arguments(parser: argparse.ArgumentParser) -> None:
    add_ui_flags(parser)


def _installed_plugins(ui: Any) -> list[Any]:
    """The plugin executables discovery finds; each one that cannot be used
    is named in a warning (and a ``plugin-error`` machine line)."""
    from bakehouse.plugin.manager import PluginManager

    manager = PluginManager()
    try:
        descriptions, problems = manager.installed(), manager.problems()
    finally:
        manager.shutdown()
    for problem in problems:
        ui.machine("", "plugin-error", problem)
        ui.error(f"Warning: {problem}")
    return descriptions


def _run_installed(args: argparse.Namespace) -> int:
    from bakehouse.builtin.registry import BUILTINS

    ui = make_ui(args)
    descriptions = _installed_plugins(ui)
    for description in descriptions:
        ui.machine("", "plugin", description.name, description.version, description.path)
        ui.say(f"{description.path} (v{description.version}, protocol {description.protocol_version})")
        for label, attribute in _KINDS:
            types = sorted(getattr(description, attribute, ()) or ())
            if types:
                ui.say(f"    {label}: {', '.join(types)}")
    ui.say("built-in components (in-process):")
    for kind, table in BUILTINS.items():
        ui.machine("", "builtin", kind, *sorted(table))
        ui.say(f"    {kind}: {', '.join(sorted(table))}")
    return 0


# ----------------------------------------------------------------------- install


def _add_install_arguments(parser: argparse.ArgumentParser) -> None:
    from bakehouse.cli.init import add_pip_source_flags

    bool_flag(parser, "force", "reinstall even when an installed version meets the constraint")
    add_pip_source_flags(parser)
    add_ui_flags(parser)
    parser.add_argument("source", metavar="SOURCE", help="pypi/<distribution> or a mapped Packer source")
    parser.add_argument("version", metavar="VERSION", nargs="?", default="", help='constraint, e.g. ">= 0.1"')


def _requirement(ui: Any, source: str, version: str) -> Any:
    from bakehouse.plugin.requirements import RequirementError, requirement_from

    try:
        return requirement_from(source, {"source": source, "version": version})
    except RequirementError as exc:
        ui.error(f"Error: {exc}")
        return None


def _run_install(args: argparse.Namespace) -> int:
    from bakehouse.cli.init import install_requirement

    ui = make_ui(args)
    requirement = _requirement(ui, args.source, args.version)
    if requirement is None:
        return 1
    ok = install_requirement(
        ui, requirement, find_links=list(args.find_links), index_url=args.index_url, force=bool(args.force)
    )
    return 0 if ok else 1


# ------------------------------------------------------------------------ remove


def _add_remove_arguments(parser: argparse.ArgumentParser) -> None:
    add_ui_flags(parser)
    parser.add_argument("source", metavar="SOURCE", help="pypi/<distribution> or a mapped Packer source")
    parser.add_argument("version", metavar="VERSION", nargs="?", default="", help="only if this constraint is met")


def _run_remove(args: argparse.Namespace) -> int:
    import subprocess
    import sys

    from bakehouse.cli.init import discovered_plugins

    ui = make_ui(args)
    requirement = _requirement(ui, args.source, args.version)
    if requirement is None:
        return 1
    matching = [p for p in discovered_plugins() if requirement.met_by(p)]
    if not matching:
        ui.error(
            f"No installed plugin found matching the plugin constraints {requirement.describe()}"
        )
        return 1
    result = subprocess.run(
        [sys.executable, "-m", "pip", "uninstall", "--disable-pip-version-check", "-y", requirement.distribution],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0 or "Skipping" in result.stderr:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-10:]
        ui.error(
            f"Error: pip could not uninstall {requirement.distribution} (the executables "
            f"{', '.join(p.path for p in matching)} may belong to another environment):\n"
            + "\n".join(f"  {line}" for line in detail)
        )
        return 1
    for plugin in matching:
        ui.say(plugin.path)
    return 0


# ---------------------------------------------------------------------- required


def _add_required_arguments(parser: argparse.ArgumentParser) -> None:
    add_ui_flags(parser)
    add_target(parser)


def _run_required(args: argparse.Namespace) -> int:
    from bakehouse.cli.init import discovered_plugins, template_requirements

    ui = make_ui(args)
    requirements = template_requirements(args, ui)
    if requirements is None:
        return 1
    plugins = discovered_plugins() if requirements else []
    for requirement in requirements:
        paths = [p.path for p in plugins if requirement.met_by(p)]
        line = f'{requirement.accessor} {requirement.source} "{requirement.constraint}" {" ".join(paths)}'
        ui.say(line.rstrip())
    return 0


# --------------------------------------------------------------------------- new


def _add_new_arguments(parser: argparse.ArgumentParser) -> None:
    add_ui_flags(parser)
    parser.add_argument("-dir", "--dir", dest="directory", default=".", metavar="DIR",
                        help="where to create bakehouse-plugin-NAME/ (default: the current directory)")
    parser.add_argument("name", metavar="NAME", help="the plugin's name: bakehouse-plugin-NAME, provisioner NAME")


def _run_new(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bakehouse.plugin.scaffold import ScaffoldError, scaffold

    ui = make_ui(args)
    try:
        root = scaffold(args.name, Path(args.directory))
    except (ScaffoldError, OSError) as exc:
        ui.error(f"Error: {exc}")
        return 1
    ui.say(f"Created {root}: pyproject.toml, README.md, the {args.name} provisioner and its test.")
    ui.say(f"Next: pip install -e '{root}[test]' && pytest {root}")
    return 0


# -------------------------------------------------------------------------- docs


def _add_docs_arguments(parser: argparse.ArgumentParser) -> None:
    from bakehouse.cli.common import flag

    add_ui_flags(parser)
    flag(parser, "format", dest="format", choices=("markdown", "json"), default="markdown",
         help="markdown (default) or json")
    flag(parser, "update", dest="update", action="append", default=[], metavar="FILE",
         help="regenerate the <!-- options:KIND/TYPE --> tables in FILE (repeatable)")
    flag(parser, "check", dest="check", action="append", default=[], metavar="FILE",
         help="fail if a <!-- options:KIND/TYPE --> table in FILE is stale (repeatable)")
    parser.add_argument("components", metavar="COMPONENT", nargs="*",
                        help="TYPE or KIND/TYPE (e.g. docker, post-processor/docker-tag); default: all")


def _run_docs(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from bakehouse.plugin.docs import (
        DocsError,
        all_options,
        as_json,
        reference,
        select,
        update_sections,
    )

    ui = make_ui(args)
    descriptions = _installed_plugins(ui)
    try:
        options = select(all_options(descriptions), args.components)
        if not (args.update or args.check):
            sys.stdout.write(as_json(options) if args.format == "json" else reference(options))
            return 0
        stale = 0
        for name, write in [(f, True) for f in args.update] + [(f, False) for f in args.check]:
            path = Path(name)
            try:
                text, changed = update_sections(path, options)
            except OSError as exc:
                raise DocsError(f"{name}: {exc.strerror or exc}") from None
            if write and changed:
                path.write_text(text, encoding="utf-8")
                ui.say(f"{name}: regenerated {', '.join(changed)}")
            elif changed:
                stale += 1
                ui.error(f"{name}: stale option tables: {', '.join(changed)} "
                         f"(regenerate: bakehouse plugins docs -update {name})")
            else:
                ui.say(f"{name}: up to date")
        return 1 if stale else 0
    except DocsError as exc:
        ui.error(f"Error: {exc}")
        return 1
