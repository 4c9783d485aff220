"""Printing template diagnostics on the root UI, like a compiler does.

Shared by the commands and the orchestrator (which reports problems found
while preparing builds), so it lives with the UI rather than in ``cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bakehouse.hcl.diagnostics import Diagnostics
    from bakehouse.ui.terminal import RootUi


def print_diagnostics(ui: RootUi, diagnostics: Diagnostics) -> None:
    """Print every diagnostic (errors and warnings) like a compiler does."""
    cache: dict[str, list[str]] = {}
    for diagnostic in diagnostics.items:
        text = diagnostic.render(cache)
        if diagnostic.is_error:
            ui.error(text)
        else:
            ui.warn(text)
        ui.say("")
