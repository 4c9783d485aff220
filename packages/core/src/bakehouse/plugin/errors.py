"""Errors of the plugin layer."""

from __future__ import annotations


class PluginError(Exception):
    """A plugin could not be found, started, or kept running.

    The message is always one line and names the plugin executable; for a
    crash it ends with the plugin's last stderr lines.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class UnknownComponentError(PluginError, LookupError):
    """No plugin and no built-in provides the requested component type
    (a ``LookupError`` too, so callers can offer ``known_types``)."""
