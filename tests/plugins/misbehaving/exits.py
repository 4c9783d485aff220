"""A plugin that exits at once with an error on stderr."""

from __future__ import annotations

import sys

from _describe import describe_or_continue


def main() -> None:
    describe_or_continue("bakehouse-plugin-exits", "builder", "exits")
    print("fatal: cannot load my configuration", file=sys.stderr, flush=True)
    sys.exit(3)
