"""Finding plugin executables and what they offer, without starting them.

Search order, first hit per executable name wins: explicit paths; the
directory of the running ``bakehouse`` executable (and of the Python
interpreter, where pip puts console scripts); ``$BAKEHOUSE_HOME/plugins``;
each directory of ``BAKEHOUSE_PLUGIN_PATH``, then of Packer's
``PACKER_PLUGIN_PATH``. Built-in components come last,
so an installed plugin offering the same type wins.

What an executable offers comes from ``EXE describe``, cached by (path, size,
mtime) in ``$BAKEHOUSE_HOME/describe-cache.json``: a normal run starts no
process for discovery.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bakehouse.builtin.registry import BUILTINS
from bakehouse.plugin.errors import PluginError
from bakehouse.rpc.version import PROTOCOL_VERSION, ProtocolError, compatible
from bakehouse.sdk.journal import home

log = logging.getLogger("bakehouse.plugin")

EXECUTABLE_PREFIX = "bakehouse-plugin-"
PLUGIN_PATH_ENV = "BAKEHOUSE_PLUGIN_PATH"
#: Packer's variable, honoured after ours so a Packer user's setup keeps working.
PACKER_PLUGIN_PATH_ENV = "PACKER_PLUGIN_PATH"
CACHE_FILE = "describe-cache.json"
_CACHE_FORMAT = 1

KINDS = ("builder", "provisioner", "post-processor", "datasource")
_DESCRIBE_KEYS = {
    "builder": "builders",
    "provisioner": "provisioners",
    "post-processor": "post_processors",
    "datasource": "datasources",
}


@dataclass(frozen=True)
class PluginDescription:
    """What ``EXE describe`` said, plus where the executable is."""

    plugin: str
    version: str
    protocol_version: str
    path: str
    builders: tuple[str, ...] = ()
    provisioners: tuple[str, ...] = ()
    post_processors: tuple[str, ...] = ()
    datasources: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The executable's file name (``bakehouse-plugin-docker``)."""
        return Path(self.path).name

    @property
    def components(self) -> dict[str, list[str]]:
        return {kind: list(self.types(kind)) for kind in KINDS if self.types(kind)}

    def types(self, kind: str) -> tuple[str, ...]:
        value: tuple[str, ...] = getattr(self, _DESCRIBE_KEYS[kind])
        return value

    @property
    def compatible(self) -> bool:
        try:
            return compatible(self.protocol_version)
        except ProtocolError:
            return False


@dataclass(frozen=True)
class ComponentSource:
    """Where a component type comes from. ``path`` is None for built-ins."""

    kind: str
    type: str
    plugin_name: str
    path: str | None
    description: PluginDescription | None = None
    builtin: builtins.type[Any] | None = field(default=None, compare=False)


def plugin_directories(extra_dirs: Sequence[str] = ()) -> list[Path]:
    """Directories searched, in order (explicit ones first)."""
    candidates: list[Path] = [Path(d) for d in extra_dirs]
    if sys.argv and sys.argv[0]:
        candidates.append(Path(sys.argv[0]).resolve().parent)
    # Not resolved: a venv's python is a symlink, its console scripts sit next to it.
    candidates.append(Path(sys.executable).parent)
    candidates.append(home() / "plugins")
    for variable in (PLUGIN_PATH_ENV, PACKER_PLUGIN_PATH_ENV):
        for entry in os.environ.get(variable, "").split(os.pathsep):
            if entry:
                candidates.append(Path(entry))
    seen: set[Path] = set()
    ordered: list[Path] = []
    for directory in candidates:
        key = Path(os.path.abspath(directory))
        if key not in seen:
            seen.add(key)
            ordered.append(key)
    return ordered


def _is_plugin_executable(path: Path) -> bool:
    return path.name.startswith(EXECUTABLE_PREFIX) and path.is_file() and os.access(path, os.X_OK)


def find_executables(extra_dirs: Sequence[str] = ()) -> list[Path]:
    """Plugin executables in discovery order, first hit per name."""
    found: dict[str, Path] = {}
    for location in plugin_directories(extra_dirs):
        if location.is_file():
            entries: Iterable[Path] = [location]
        elif location.is_dir():
            try:
                entries = sorted(location.iterdir())
            except OSError:
                continue
        else:
            continue
        for path in entries:
            if path.name.endswith((".py", ".pyc")) or path.name in found:
                continue
            if _is_plugin_executable(path):
                found[path.name] = path
    return list(found.values())


def parse_description(path: Path, text: str) -> PluginDescription:
    """Validate ``describe`` output; raise :class:`PluginError` naming the executable."""
    try:
        data = json.loads(text)
    except ValueError:
        preview = text.strip().splitlines()[0][:80] if text.strip() else "nothing"
        raise PluginError(f"plugin {path}: describe printed {preview!r}, not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("plugin"), str):
        raise PluginError(f"plugin {path}: describe output lacks a plugin name")

    def names(key: str) -> tuple[str, ...]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PluginError(f"plugin {path}: describe field {key!r} is not a list of names")
        return tuple(value)

    return PluginDescription(
        plugin=data["plugin"],
        version=str(data.get("version", "")),
        protocol_version=str(data.get("protocol_version", "")),
        path=str(path),
        builders=names("builders"),
        provisioners=names("provisioners"),
        post_processors=names("post_processors"),
        datasources=names("datasources"),
    )


def run_describe(path: Path, timeout: float) -> PluginDescription:
    """Start ``EXE describe`` and parse what it prints."""
    try:
        done = subprocess.run(
            [str(path), "describe"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            text=True,
        )
    except subprocess.TimeoutExpired:
        raise PluginError(f"plugin {path}: describe did not answer within {timeout:g}s") from None
    except OSError as exc:
        raise PluginError(f"plugin {path}: cannot run describe: {exc.strerror or exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise PluginError(f"plugin {path}: describe failed (exit status {done.returncode}): {last}")
    return parse_description(path, done.stdout)


class DescribeCache:
    """``describe`` results keyed by path, valid while size and mtime match."""

    def __init__(self, file: Path | None = None) -> None:
        self.file = file or home() / CACHE_FILE
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty = False
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("format") == _CACHE_FORMAT:
                self._entries = dict(data.get("entries") or {})
        except (OSError, ValueError):
            pass

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int]:
        info = path.stat()
        return info.st_size, info.st_mtime_ns

    def get(self, path: Path) -> PluginDescription | None:
        entry = self._entries.get(str(path))
        if not entry:
            return None
        try:
            if (entry["size"], entry["mtime_ns"]) != self._stamp(path):
                return None
            fields = dict(entry["description"])
            for key in _DESCRIBE_KEYS.values():
                fields[key] = tuple(fields.get(key, ()))
            return PluginDescription(**fields)
        except (OSError, KeyError, TypeError):
            return None

    def put(self, path: Path, description: PluginDescription) -> None:
        try:
            size, mtime_ns = self._stamp(path)
        except OSError:
            return
        self._entries[str(path)] = {
            "size": size,
            "mtime_ns": mtime_ns,
            "description": asdict(description),
        }
        self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            # Atomic replace: concurrent runs may share BAKEHOUSE_HOME.
            fd, tmp = tempfile.mkstemp(prefix=".describe-cache.", dir=self.file.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"format": _CACHE_FORMAT, "entries": self._entries}, fh, indent=1)
            os.replace(tmp, self.file)
            self._dirty = False
        except OSError as exc:
            log.debug("cannot write the describe cache %s: %s", self.file, exc)


@dataclass
class Catalog:
    """Everything discovery found."""

    plugins: list[PluginDescription]
    components: dict[tuple[str, str], ComponentSource]
    problems: list[str]


def load_builtins() -> Mapping[str, Mapping[str, type[Any]]]:
    """The core's built-in components."""
    table: Mapping[str, Mapping[str, type[Any]]] = BUILTINS
    return table


def _describe_or_error(path: Path, timeout: float) -> PluginDescription | PluginError:
    try:
        return run_describe(path, timeout)
    except PluginError as exc:
        return exc


def discover(extra_dirs: Sequence[str] = (), timeout: float = 10.0) -> Catalog:
    """Map every component type to its source, describing executables as needed."""
    cache = DescribeCache()
    executables = find_executables(extra_dirs)
    described: dict[Path, PluginDescription | PluginError] = {}
    for path in executables:
        cached = cache.get(path)
        if cached is not None:
            described[path] = cached
    missing = [path for path in executables if path not in described]
    if missing:
        # Each describe is a process start (interpreter + imports): run them side by side.
        from concurrent.futures import ThreadPoolExecutor  # only when something is not in the cache

        with ThreadPoolExecutor(max_workers=min(4, len(missing))) as pool:
            for path, outcome in zip(missing, pool.map(lambda p: _describe_or_error(p, timeout), missing), strict=True):
                described[path] = outcome
                if isinstance(outcome, PluginDescription):
                    cache.put(path, outcome)
    cache.save()
    plugins: list[PluginDescription] = []
    problems: list[str] = []
    for path in executables:
        outcome = described[path]
        if isinstance(outcome, PluginError):
            log.warning("%s", outcome)
            problems.append(str(outcome))
        else:
            plugins.append(outcome)

    components: dict[tuple[str, str], ComponentSource] = {}
    for description in plugins:
        if not description.compatible:
            problem = (
                f"plugin {description.path} speaks protocol {description.protocol_version!r}; "
                f"this bakehouse speaks {PROTOCOL_VERSION}"
            )
            log.warning("%s", problem)
            problems.append(problem)
        for kind in KINDS:
            for type_name in description.types(kind):
                components.setdefault(
                    (kind, type_name),
                    ComponentSource(kind, type_name, description.name, description.path, description),
                )
    for kind, table in load_builtins().items():
        for type_name in table:
            if (kind, type_name) not in components:
                components[(kind, type_name)] = ComponentSource(
                    kind, type_name, "builtin", None, None, builtin=None
                )
    return Catalog(plugins, components, problems)
