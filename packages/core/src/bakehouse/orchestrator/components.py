"""Where components come from: whatever factory the caller hands the orchestrator.

The orchestrator only needs ``create/release/prestart`` (and ``known_types`` /
``unanswered`` for messages). There is no process-wide factory: each command
creates one (:class:`bakehouse.plugin.manager.PluginManager`, which serves
plugins and built-ins alike), passes it to the template loader's data sources
and to the orchestrator, and shuts it down when it is done.
:class:`BuiltinComponents` is the in-process subset, for the orchestrator's own
tests and for embedding without plugin processes.
"""

from __future__ import annotations

from typing import Any, Protocol

from bakehouse.builtin.registry import BUILTINS


class ComponentFactory(Protocol):
    def create(self, kind: str, type: str, build_key: str) -> Any: ...

    def release(self, build_key: str) -> None: ...

    def prestart(self, components: list[tuple[str, str]], build_key: str) -> None: ...

    def expect_builds(self, components_by_build: dict[str, list[tuple[str, str]]]) -> None: ...

    def shutdown(self) -> None: ...

    def known_types(self, kind: str) -> list[str]: ...

    def unanswered(self) -> list[str]: ...


class BuiltinComponents:
    """Creates built-in components in-process; knows no plugins."""

    def create(self, kind: str, type: str, build_key: str) -> Any:
        table = BUILTINS.get(kind, {})
        if type not in table:
            raise LookupError(f"unknown {kind} type {type!r}")
        return table[type]()

    def release(self, build_key: str) -> None:
        pass

    def prestart(self, components: list[tuple[str, str]], build_key: str) -> None:
        pass  # nothing to start

    def expect_builds(self, components_by_build: dict[str, list[tuple[str, str]]]) -> None:
        pass  # nothing is shared

    def shutdown(self) -> None:
        pass

    def known_types(self, kind: str) -> list[str]:
        return sorted(BUILTINS.get(kind, {}))

    def unanswered(self) -> list[str]:
        return []  # in-process components answer or raise
