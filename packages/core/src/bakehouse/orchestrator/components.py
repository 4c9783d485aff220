"""Where components come from: the plugin manager, or the built-in table.

The orchestrator only needs ``create/release/shutdown`` (and ``find`` /
``known_types`` for messages). :class:`bakehouse.plugin.manager.PluginManager`
provides them for plugins and built-ins alike; :class:`BuiltinComponents` is
the in-process subset, used when the plugin layer is not importable and by the
orchestrator's own tests.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from bakehouse.builtin.registry import BUILTINS

log = logging.getLogger("bakehouse.orchestrator")


class ComponentFactory(Protocol):
    def create(self, kind: str, type: str, build_key: str) -> Any: ...

    def release(self, build_key: str) -> None: ...

    def prestart(self, components: list[tuple[str, str]], build_key: str) -> None: ...

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

    def shutdown(self) -> None:
        pass

    def known_types(self, kind: str) -> list[str]:
        return sorted(BUILTINS.get(kind, {}))

    def unanswered(self) -> list[str]:
        return []  # in-process components answer or raise


_factory: ComponentFactory | None = None
_factory_lock = threading.Lock()


def component_factory(run_id: str = "") -> ComponentFactory:
    """The process-wide factory (one plugin manager per command run)."""
    global _factory
    with _factory_lock:
        if _factory is None:
            try:
                from bakehouse.plugin.manager import PluginManager
            except ImportError:
                log.debug("bakehouse.plugin.manager is not available; built-in components only")
                _factory = BuiltinComponents()
            else:
                _factory = PluginManager(run_id=run_id)
        return _factory


def shutdown_factory() -> None:
    """Stop every plugin process the factory started (idempotent)."""
    global _factory
    with _factory_lock:
        factory, _factory = _factory, None
    if factory is not None:
        factory.shutdown()
