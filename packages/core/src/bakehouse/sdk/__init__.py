"""The Bakehouse plugin SDK: the only module plugin authors import.

A plugin is a Python distribution with a console script that calls
:func:`serve` with its component classes. Components subclass
:class:`Builder`, :class:`Provisioner`, :class:`PostProcessor` or
:class:`Datasource`, declare a pydantic :class:`Config`, and do their work in
``run``/``provision``/``post_process``/``execute``. Builders are lists of
:class:`Step` run by :class:`Runner`; temporary resources go through the
:class:`Journal`.
"""

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
    parse_config,
    parse_duration,
)
from bakehouse.sdk.context import Cancelled, Context
from bakehouse.sdk.journal import Journal, JournalEntry, register_cleaner
from bakehouse.sdk.multistep import CONTINUE, HALT, Action, Runner, StateBag, Step
from bakehouse.sdk.serve import serve
from bakehouse.sdk.ui import NullUi, Ui

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
    "Journal",
    "JournalEntry",
    "NullUi",
    "parse_config",
    "parse_duration",
    "PostProcessor",
    "PrepareResult",
    "Provisioner",
    "register_cleaner",
    "Runner",
    "serve",
    "SimpleArtifact",
    "StateBag",
    "Step",
    "Ui",
]
