"""Which components a template's builds use, read from its syntax alone.

``build`` and ``validate`` start the plugin processes of these components
before the template is evaluated (and before the core imports the evaluator
and the orchestrator), so that a plugin's own start-up runs on another CPU
meanwhile instead of after it. The parsed files are handed on to the loader,
which does not parse them again.

Only what is written literally counts, so that no plugin starts that the
builds do not use: the builder types of a build block's ``sources`` when they
are literal strings (and of its ``source "type.name"`` blocks), and the
provisioners and post-processors of every build block except those with
``only``/``except`` (they may skip every source). A component left out here
has its plugin started when its build needs it, as without the scan; a
template that then fails to evaluate stops what was started.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the parser is imported when a template is parsed, not for a cache hit
    from bakehouse.hcl.ast import Expression
    from bakehouse.hcl.parser import Block, Body

#: What the scan found for a target, by its files' stamps, under BAKEHOUSE_HOME.
CACHE_FILE = "prescan-cache.json"
_CACHE_FORMAT = 1
_CACHE_ENTRIES = 64

_COMPONENT_BLOCKS = {
    "provisioner": "provisioner",
    "error-cleanup-provisioner": "provisioner",
    "post-processor": "post-processor",
}


def template_files_in(directory: Path) -> list[Path]:
    """The template files of a directory target: its ``*.pkr.hcl`` files, sorted."""
    return sorted(p for p in directory.iterdir() if p.name.endswith(".pkr.hcl") and p.is_file())


def _files(target: str) -> list[str] | None:
    """The files the loader reads for ``target`` when they are HCL2, else None."""
    path = Path(target)
    if path.is_dir():
        return [str(p) for p in template_files_in(path)]
    if path.is_file() and target.endswith(".hcl"):
        return [target]
    return None


def parse_target(target: str) -> dict[str, Body] | None:
    """Each HCL2 file of ``target`` parsed, by the name the loader reads it
    under; None when the target is anything else (a legacy JSON template, a
    missing path) or a file does not parse (the loader reports why)."""
    files = _files(target)
    if files is None:
        return None
    from bakehouse.hcl.diagnostics import Diagnostics
    from bakehouse.hcl.parser import parse_file

    parsed: dict[str, Body] = {}
    for filename in files:
        try:
            parsed[filename] = parse_file(filename)
        except (Diagnostics, OSError):
            return None
    return parsed or None


def _literal_strings(expr: Expression) -> list[str]:
    """The literal strings among the items of a tuple expression."""
    from bakehouse.hcl.ast import TemplateExpr, TemplateLiteral, TupleExpr

    items = expr.items if isinstance(expr, TupleExpr) else []
    found = []
    for item in items:
        if isinstance(item, TemplateExpr) and len(item.parts) == 1 and isinstance(item.parts[0], TemplateLiteral):
            found.append(item.parts[0].text)
    return found


def _source_key(ref: str) -> str:
    """``type.name`` of a source reference (``source.type.name`` or ``type.name``)."""
    return ref.removeprefix("source.")


def _label(block: Block) -> str | None:
    return block.labels[0] if len(block.labels) == 1 else None


def used_components(bodies: dict[str, Body]) -> dict[str, list[tuple[str, str]]]:
    """(kind, type) of the components each build uses, as far as the build
    blocks of ``bodies`` name them literally; keyed by build block and source
    (not the build's name, which takes evaluation). A build block whose
    sources are not all literal is left out."""
    blocks = [block for body in bodies.values() for block in body.blocks]
    defined = {".".join(block.labels): block.labels[0] for block in blocks
               if block.type == "source" and len(block.labels) == 2}
    builds: dict[str, list[tuple[str, str]]] = {}
    for index, build in enumerate(block for block in blocks if block.type == "build"):
        sources = build.body.attributes.get("sources")
        refs = _literal_strings(sources.expr) if sources is not None else []
        if sources is not None and len(refs) != len(getattr(sources.expr, "items", [None])):
            continue
        refs += [label for block in build.body.blocks_of("source") if (label := _label(block))]
        shared: list[tuple[str, str]] = []
        nested = [block for chain in build.body.blocks_of("post-processors") for block in chain.body.blocks]
        for block in [*build.body.blocks, *nested]:
            kind = _COMPONENT_BLOCKS.get(block.type)
            label = _label(block)
            if kind is None or label is None:
                continue
            if "only" in block.body.attributes or "except" in block.body.attributes:
                continue
            if (kind, label) not in shared:
                shared.append((kind, label))
        for ref in refs:
            source_type = defined.get(_source_key(ref))
            if source_type is not None:
                builds[f"{index}:{ref}"] = [("builder", source_type), *shared]
    return builds


# -- what the last scan of the same files found ------------------------------------


def _stamp(target: str) -> list[list[Any]] | None:
    """Each file's name, size, mtime, ctime and inode: any write changes one."""
    files = _files(target)
    if not files:
        return None
    stamps = []
    for filename in files:
        try:
            info = os.stat(filename)
        except OSError:
            return None
        stamps.append([os.path.abspath(filename), info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino])
    return stamps


def _cache_path() -> Path:
    from bakehouse.sdk.journal import home

    return home() / CACHE_FILE


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    targets = data.get("targets") if isinstance(data, dict) and data.get("format") == _CACHE_FORMAT else None
    return dict(targets) if isinstance(targets, dict) else {}


def cached_components(target: str) -> dict[str, list[tuple[str, str]]] | None:
    """What :func:`used_components` gave for ``target`` when its files were
    exactly as they are now (see :func:`remember_components`), without
    parsing them; None when they changed or were never scanned."""
    stamp = _stamp(target)
    if stamp is None:
        return None
    entry = _read_cache().get(os.path.abspath(target))
    if not isinstance(entry, dict) or entry.get("stamp") != stamp:
        return None
    try:
        return {key: [(str(kind), str(name)) for kind, name in items] for key, items in entry["builds"].items()}
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def remember_components(target: str, builds: dict[str, list[tuple[str, str]]]) -> None:
    """Keep what the scan of ``target`` found, for the next run on the same files."""
    stamp = _stamp(target)
    if stamp is None:
        return
    targets = _read_cache()
    key = os.path.abspath(target)
    targets.pop(key, None)
    targets[key] = {"stamp": stamp, "builds": builds}
    for old in list(targets)[:-_CACHE_ENTRIES]:
        del targets[old]
    from bakehouse._atomic import replace_file

    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Runs may share BAKEHOUSE_HOME.
        replace_file(path, json.dumps({"format": _CACHE_FORMAT, "targets": targets}).encode())
    except OSError:
        pass
