"""The terminal UI: Packer-like, plain and stable.

* every build has its own colour (green, cyan, magenta, yellow, blue, cycling);
  ``say`` prints ``==> name: msg`` in bold, ``message`` prints the indented
  ``    name: msg``, ``error`` prints ``==> name: msg`` in bold red;
* ``-timestamp-ui`` prefixes every line (say, message, error) with an RFC3339
  timestamp (Packer stamps say/error only; its help promises every line);
* ``-color=false`` or a non-terminal stdout gives plain text;
* ``-machine-readable`` turns everything into ``<ts>,<target>,<type>,<args>``
  lines with Packer's escaping.

All UI output goes to stdout (errors included), as in Packer; the log goes
to stderr. Every line passes through :func:`bakehouse.log.redact`.
"""

from bakehouse.ui.format import (
    COLORS,
    colorize,
    format_duration,
    format_go_duration,
    machine_escape,
    machine_line,
)
from bakehouse.ui.terminal import RootUi

__all__ = [
    "BuildUi",
    "COLORS",
    "RootUi",
    "colorize",
    "format_duration",
    "format_go_duration",
    "machine_escape",
    "machine_line",
]


def __getattr__(name: str) -> object:
    # BuildUi imports the SDK (pydantic); only builds need it.
    if name == "BuildUi":
        from bakehouse.ui.build import BuildUi

        return BuildUi
    raise AttributeError(name)
