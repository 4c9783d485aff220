"""``bakehouse plugins installed``: what the plugin manager can find."""

from __future__ import annotations

import argparse
from typing import Any

from bakehouse.cli.common import add_ui_flags, make_ui

_SUBCOMMANDS = ("installed",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "subcommand",
        choices=_SUBCOMMANDS,
        metavar="SUBCOMMAND",
        help="installed: list installed plugins and their components",
    )
    add_ui_flags(parser)


def _field(description: Any, name: str, default: Any = "") -> Any:
    if isinstance(description, dict):
        return description.get(name, default)
    return getattr(description, name, default)


def run(args: argparse.Namespace) -> int:
    from bakehouse.builtin.registry import BUILTINS

    ui = make_ui(args)
    try:
        from bakehouse.plugin.manager import PluginManager
    except ImportError:
        descriptions: list[Any] = []
    else:
        manager = PluginManager()
        try:
            descriptions = list(manager.installed())
        finally:
            manager.shutdown()
    for description in descriptions:
        name = _field(description, "name") or _field(description, "plugin")
        version = _field(description, "version")
        path = _field(description, "path")
        ui.machine("", "plugin", str(name), str(version), str(path))
        ui.say(f"{path or name} (v{version})" if version else str(path or name))
        components = _field(description, "components", {}) or {}
        if isinstance(components, dict):
            for kind, types in components.items():
                ui.say(f"    {kind}: {', '.join(sorted(types))}")
    ui.say("built-in components (in-process):")
    for kind, table in BUILTINS.items():
        ui.say(f"    {kind}: {', '.join(sorted(table))}")
    return 0
