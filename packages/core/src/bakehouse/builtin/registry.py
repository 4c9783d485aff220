"""The components built into the core (run in-process, no plugin process).

``BUILTINS[kind][type]`` is the component class. The plugin manager consults
this table last in discovery order, so an installed plugin offering the same
type wins, as a Packer user would expect.

Imports are resolved lazily (:class:`_LazyTable`) so that looking at the table
does not import every built-in component module.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

#: kind -> type -> "module:Class" under ``bakehouse.builtin``.
_SPECS: dict[str, dict[str, str]] = {
    "builder": {
        "null": "null_builder:NullBuilder",
        "file": "file_builder:FileBuilder",
    },
    "provisioner": {
        "file": "file_provisioner:FileProvisioner",
        "sleep": "sleep:SleepProvisioner",
        "breakpoint": "breakpoint:BreakpointProvisioner",
    },
    "post-processor": {
        "manifest": "manifest:ManifestPostProcessor",
        "checksum": "checksum:ChecksumPostProcessor",
        "compress": "compress:CompressPostProcessor",
        "artifice": "artifice:ArtificePostProcessor",
    },
    "datasource": {
        "null": "null_datasource:NullDatasource",
        "http": "http_datasource:HttpDatasource",
    },
}


def _resolve(spec: str) -> type[Any]:
    module_name, class_name = spec.split(":")
    module = importlib.import_module(f"bakehouse.builtin.{module_name}")
    cls: type[Any] = getattr(module, class_name)
    return cls


class _LazyTable(Mapping[str, type[Any]]):
    """A read-only ``type -> class`` mapping that imports a class on first access."""

    def __init__(self, specs: dict[str, str]) -> None:
        self._specs = specs
        self._cache: dict[str, type[Any]] = {}

    def __getitem__(self, key: str) -> type[Any]:
        if key not in self._cache:
            self._cache[key] = _resolve(self._specs[key])
        return self._cache[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, key: object) -> bool:
        return key in self._specs


BUILTINS: dict[str, Mapping[str, type[Any]]] = {
    kind: _LazyTable(specs) for kind, specs in _SPECS.items()
}

#: Plugin name reported for built-in components (``plugins installed``, journal entries).
BUILTIN_PLUGIN_NAME = "builtin"
