"""``bakehouse plugins installed``: the plugin executables discovery finds, and the built-ins."""

from __future__ import annotations

import argparse

from bakehouse.cli.common import add_ui_flags, make_ui

_SUBCOMMANDS = ("installed",)

#: (label, PluginDescription attribute)
_KINDS = (
    ("builder", "builders"),
    ("provisioner", "provisioners"),
    ("post-processor", "post_processors"),
    ("datasource", "datasources"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "subcommand",
        choices=_SUBCOMMANDS,
        metavar="SUBCOMMAND",
        help="installed: list installed plugins and their components",
    )
    add_ui_flags(parser)


def run(args: argparse.Namespace) -> int:
    from bakehouse.builtin.registry import BUILTINS
    from bakehouse.plugin.manager import PluginManager

    ui = make_ui(args)
    manager = PluginManager()
    try:
        descriptions = list(manager.installed())
    finally:
        manager.shutdown()
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
