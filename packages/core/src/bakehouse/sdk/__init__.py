"""The Bakehouse plugin SDK: the only module plugin authors import.

A plugin is a Python distribution with a console script that calls
:func:`serve` with its component classes. Components subclass
:class:`Builder`, :class:`Provisioner`, :class:`PostProcessor` or
:class:`Datasource`, declare a pydantic :class:`Config`, and do their work in
``run``/``provision``/``post_process``/``execute``. Builders are lists of
:class:`Step` run by :class:`Runner`; temporary resources go through the
:class:`Journal`.

Names are loaded on first use (PEP 562), so ``from bakehouse.sdk import serve``
in a plugin's entry point does not import pydantic: the handshake stays fast
and a component's modules are imported when the core first creates it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bakehouse.sdk._ssh_config import SSHConfig
    from bakehouse.sdk.artifact import Artifact, SimpleArtifact
    from bakehouse.sdk.communicator import EXIT_DISCONNECTED, Communicator, FileInfo
    from bakehouse.sdk.components import (
        HOOK_CLEANUP_PROVISION,
        HOOK_PROVISION,
        Builder,
        BuildInfo,
        Datasource,
        Hook,
        PostProcessor,
        PrepareResult,
        Provisioner,
    )
    from bakehouse.sdk.config import (
        Config,
        ConfigError,
        ConfigProblem,
        option,
        option_status,
        parse_config,
        unsupported,
    )
    from bakehouse.sdk.context import Cancelled, Context
    from bakehouse.sdk.journal import Journal, JournalEntry, register_cleaner
    from bakehouse.sdk.multistep import CONTINUE, HALT, Action, Runner, StateBag, Step
    from bakehouse.sdk.problems import PermanentError, is_permanent, parse_duration
    from bakehouse.sdk.serve import serve
    from bakehouse.sdk.ui import NullUi, Ui

#: Public name -> the module that defines it.
_HOME = {
    "Artifact": "bakehouse.sdk.artifact",
    "SimpleArtifact": "bakehouse.sdk.artifact",
    "EXIT_DISCONNECTED": "bakehouse.sdk.communicator",
    "Communicator": "bakehouse.sdk.communicator",
    "FileInfo": "bakehouse.sdk.communicator",
    "HOOK_CLEANUP_PROVISION": "bakehouse.sdk.components",
    "HOOK_PROVISION": "bakehouse.sdk.components",
    "Builder": "bakehouse.sdk.components",
    "BuildInfo": "bakehouse.sdk.components",
    "Datasource": "bakehouse.sdk.components",
    "Hook": "bakehouse.sdk.components",
    "PostProcessor": "bakehouse.sdk.components",
    "PrepareResult": "bakehouse.sdk.components",
    "Provisioner": "bakehouse.sdk.components",
    "Config": "bakehouse.sdk.config",
    "ConfigError": "bakehouse.sdk.problems",
    "ConfigProblem": "bakehouse.sdk.problems",
    "PermanentError": "bakehouse.sdk.problems",
    "is_permanent": "bakehouse.sdk.problems",
    "parse_config": "bakehouse.sdk.config",
    "parse_duration": "bakehouse.sdk.problems",
    "option": "bakehouse.sdk.config",
    "option_status": "bakehouse.sdk.config",
    "unsupported": "bakehouse.sdk.config",
    "Cancelled": "bakehouse.sdk.context",
    "Context": "bakehouse.sdk.context",
    "Journal": "bakehouse.sdk.journal",
    "JournalEntry": "bakehouse.sdk.journal",
    "register_cleaner": "bakehouse.sdk.journal",
    "CONTINUE": "bakehouse.sdk.multistep",
    "HALT": "bakehouse.sdk.multistep",
    "Action": "bakehouse.sdk.multistep",
    "Runner": "bakehouse.sdk.multistep",
    "StateBag": "bakehouse.sdk.multistep",
    "Step": "bakehouse.sdk.multistep",
    "serve": "bakehouse.sdk.serve",
    # The SSH options a builder's config inherits, without the SSH communicator
    # (bakehouse.sdk.ssh, which re-exports it with connect_ssh).
    "SSHConfig": "bakehouse.sdk._ssh_config",
    "NullUi": "bakehouse.sdk.ui",
    "Ui": "bakehouse.sdk.ui",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Action",
    "Artifact",
    "Builder",
    "BuildInfo",
    "Cancelled",
    "Communicator",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "CONTINUE",
    "Context",
    "Datasource",
    "EXIT_DISCONNECTED",
    "FileInfo",
    "HALT",
    "Hook",
    "HOOK_CLEANUP_PROVISION",
    "HOOK_PROVISION",
    "is_permanent",
    "Journal",
    "JournalEntry",
    "NullUi",
    "option",
    "option_status",
    "parse_config",
    "parse_duration",
    "PermanentError",
    "PostProcessor",
    "PrepareResult",
    "Provisioner",
    "register_cleaner",
    "Runner",
    "serve",
    "SSHConfig",
    "SimpleArtifact",
    "StateBag",
    "Step",
    "Ui",
    "unsupported",
]
