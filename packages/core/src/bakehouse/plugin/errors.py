"""Errors of the plugin layer."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


class PluginError(Exception):
    """A plugin could not be found, started, or kept running.

    The message is always one line and names the plugin executable; for a
    crash it ends with the plugin's last stderr lines.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


#: Component types of the plugin distributions published with Bakehouse:
#: a template naming one that is not installed is told what to install.
OFFICIAL_COMPONENTS: dict[tuple[str, str], str] = {
    ("provisioner", "shell"): "bakehouse-plugin-shell",
    ("provisioner", "shell-local"): "bakehouse-plugin-shell",
    ("post-processor", "shell-local"): "bakehouse-plugin-shell",
    ("builder", "docker"): "bakehouse-plugin-docker",
    ("post-processor", "docker-tag"): "bakehouse-plugin-docker",
    ("post-processor", "docker-import"): "bakehouse-plugin-docker",
    ("post-processor", "docker-save"): "bakehouse-plugin-docker",
    ("post-processor", "docker-push"): "bakehouse-plugin-docker",
    ("builder", "amazon-ebs"): "bakehouse-plugin-aws",
    ("datasource", "amazon-ami"): "bakehouse-plugin-aws",
    ("datasource", "amazon-secretsmanager"): "bakehouse-plugin-aws",
    ("datasource", "amazon-parameterstore"): "bakehouse-plugin-aws",
}


class UnknownComponentError(PluginError, LookupError):
    """No plugin and no built-in provides the requested component type
    (a ``LookupError`` too, so callers can offer ``known_types``).

    ``distribution`` is the official distribution that provides the type
    (to install), ``suggestions`` the close known names (a typo).
    """

    def __init__(self, kind: str, type: str, known: list[str], unusable: Sequence[str] = ()) -> None:
        self.kind = kind
        self.type = type
        self.distribution = OFFICIAL_COMPONENTS.get((kind, type), "")
        official = [t for k, t in OFFICIAL_COMPONENTS if k == kind]
        self.suggestions = difflib.get_close_matches(type, sorted(set(known) | set(official)), n=2)
        if self.distribution:
            message = (
                f"no plugin provides the {kind} {type!r}: install it with "
                f'"pip install {self.distribution}" (or list it in required_plugins and run "bakehouse init")'
            )
        else:
            message = f"unknown {kind} type {type!r}"
            if self.suggestions:
                message += ". Did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        if unusable:
            # a plugin whose describe failed may be the one that provides it
            message += ". Plugins that could not be used: " + "; ".join(unusable)
        super().__init__(message)
