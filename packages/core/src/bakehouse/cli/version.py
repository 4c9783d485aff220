"""``bakehouse version``."""

from __future__ import annotations

import argparse

from bakehouse.cli.common import add_ui_flags, make_ui


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_ui_flags(parser)


def run(args: argparse.Namespace) -> int:
    from bakehouse import PROTOCOL_VERSION, __version__

    ui = make_ui(args)
    ui.machine("", "version", __version__)
    ui.machine("", "version-prelease", "")
    ui.machine("", "version-commit", "")
    ui.machine("", "protocol-version", ".".join(str(part) for part in PROTOCOL_VERSION))
    ui.say(f"Bakehouse v{__version__}")
    return 0
