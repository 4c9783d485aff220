"""``bakehouse plugins docs``: option reference of every installed component.

Each plugin executable prints its components' options with ``EXE schema``
(rows made by :func:`bakehouse.sdk.docs.option_rows` from the config
schemas); the built-in components are read in-process. The reference is
Markdown (or JSON), and Markdown files can embed tables that this module keeps
current: a section

    <!-- options:builder/docker -->
    ...
    <!-- /options -->

is replaced by the table of that component (:func:`update_sections`), so docs
cannot drift from the code (``-check`` fails when one is stale).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakehouse.plugin.discovery import PluginDescription

#: Where a generated table starts and ends in a Markdown file.
SECTION = re.compile(r"(<!-- options:(?P<key>[a-z-]+/[A-Za-z0-9_.-]+) -->\n)(?P<body>.*?)(<!-- /options -->)",
                     re.DOTALL)

#: Kinds in the order the reference lists them.
KINDS = ("builder", "provisioner", "post-processor", "datasource")


class DocsError(Exception):
    """A plugin's schema could not be read, or a docs file names an unknown component."""


@dataclass(frozen=True)
class ComponentOptions:
    kind: str
    type: str
    plugin: str  #: the plugin's name, or ``builtin``
    version: str
    rows: tuple[dict[str, Any], ...] | None  #: None: the component declares no config schema

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.type}"


def plugin_options(description: PluginDescription, timeout: float = 60) -> list[ComponentOptions]:
    """Run ``EXE schema`` of one plugin executable."""
    try:
        done = subprocess.run([description.path, "schema"], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DocsError(f"plugin {description.name} ({description.path}): schema failed: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DocsError(f"plugin {description.name} ({description.path}): schema exited with "
                        f"status {done.returncode}: {last}")
    try:
        data = json.loads(done.stdout)
        return [
            ComponentOptions(kind, type_name, description.name, description.version,
                             None if rows is None else tuple(rows))
            for kind, table in data["components"].items()
            for type_name, rows in table.items()
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DocsError(f"plugin {description.name} ({description.path}): schema printed "
                        f"something else than its options: {exc}") from None


def builtin_options() -> list[ComponentOptions]:
    """The built-in components' options, read in-process."""
    from bakehouse import __version__
    from bakehouse.builtin.registry import BUILTIN_PLUGIN_NAME, BUILTINS
    from bakehouse.sdk.docs import documented_schema, option_rows

    found = []
    for kind, table in BUILTINS.items():
        for type_name in sorted(table):
            schema = documented_schema(table[type_name])
            rows = None if schema is None else tuple(option_rows(schema))
            found.append(ComponentOptions(kind, type_name, BUILTIN_PLUGIN_NAME, __version__, rows))
    return found


def all_options(descriptions: Iterable[PluginDescription]) -> list[ComponentOptions]:
    """Every component's options; a type offered twice is listed as discovery
    resolves it (the first plugin found wins, built-ins last)."""
    chosen: dict[str, ComponentOptions] = {}
    for description in descriptions:
        for options in plugin_options(description):
            chosen.setdefault(options.key, options)
    for options in builtin_options():
        chosen.setdefault(options.key, options)
    return sorted(chosen.values(), key=lambda o: (KINDS.index(o.kind) if o.kind in KINDS else 9, o.type))


def select(options: Sequence[ComponentOptions], names: Sequence[str]) -> list[ComponentOptions]:
    """The components named ``TYPE`` or ``KIND/TYPE``; every one when ``names`` is empty."""
    if not names:
        return list(options)
    picked: list[ComponentOptions] = []
    for name in names:
        match = [o for o in options if name in (o.key, o.type)]
        if not match:
            known = ", ".join(o.key for o in options)
            raise DocsError(f"no installed component is named {name!r} (installed: {known})")
        picked.extend(o for o in match if o not in picked)
    return picked


def table(options: ComponentOptions) -> str:
    """The Markdown table of one component's options."""
    from bakehouse.sdk.docs import markdown_table

    if options.rows is None:
        return "This component takes no options.\n"
    return markdown_table(list(options.rows))


def reference(options: Sequence[ComponentOptions]) -> str:
    """A Markdown reference: a section per component."""
    parts = []
    for item in options:
        origin = "built in" if item.plugin == "builtin" else f"{item.plugin} {item.version}"
        parts.append(f"## {item.kind} \"{item.type}\" ({origin})\n\n{table(item)}")
    return "\n".join(parts)


def as_json(options: Sequence[ComponentOptions]) -> str:
    return json.dumps([
        {"kind": o.kind, "type": o.type, "plugin": o.plugin, "version": o.version,
         "options": None if o.rows is None else list(o.rows)}
        for o in options
    ], indent=2) + "\n"


def update_sections(path: Path, options: Sequence[ComponentOptions]) -> tuple[str, list[str]]:
    """``path``'s text with every ``<!-- options:KIND/TYPE -->`` section
    regenerated, and the keys of the sections that changed."""
    by_key = {o.key: o for o in options}
    text = path.read_text(encoding="utf-8")
    changed: list[str] = []

    def regenerate(match: re.Match[str]) -> str:
        key = match.group("key")
        if key not in by_key:
            line = text.count("\n", 0, match.start()) + 1
            raise DocsError(f"{path}:{line}: no installed component is {key!r}")
        body = table(by_key[key])
        if body != match.group("body"):
            changed.append(key)
        return match.group(1) + body + match.group(4)

    updated = SECTION.sub(regenerate, text)
    if not SECTION.search(text):
        raise DocsError(f"{path}: no <!-- options:KIND/TYPE --> section to generate")
    return updated, changed
