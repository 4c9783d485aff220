"""``-only`` / ``-except``: glob selection on full build names, as Packer does.

Patterns are shell globs where ``*`` also spans dots (``*.basic`` matches
``app.null.basic``); a build of a legacy JSON template also answers to its
builder's name (``-only=b``), exactly, as Packer's JSON mode. ``-except`` additionally drops every post-processor whose
name (or, when unnamed, type) matches, together with the rest of its chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase

from bakehouse.template.plan import BuildPlan, ComponentSpec


@dataclass
class Selection:
    builds: list[BuildPlan]
    warnings: list[str] = field(default_factory=list)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def _selects(build: BuildPlan, patterns: Sequence[str]) -> bool:
    return _matches(build.name, patterns) or any(alias in patterns for alias in build.aliases)


def _unmatched_warning(
    flag: str, patterns: Sequence[str], names: Sequence[str], aliases: Sequence[str] = ()
) -> str | None:
    unmatched = [p for p in patterns if not any(fnmatchcase(n, p) for n in names) and p not in aliases]
    if not unmatched:
        return None
    possible = "\n".join(f"  * {name}" for name in names) or "  (none)"
    return (
        f"A {flag} pattern did not match any build: {', '.join(unmatched)}\n"
        f"Possible build names:\n{possible}"
    )


def post_processor_label(spec: ComponentSpec) -> str:
    """What ``-except`` matches a post-processor on: its name, else its type."""
    return spec.name or spec.type


def filter_chains(
    chains: list[list[ComponentSpec]], except_: Sequence[str]
) -> list[list[ComponentSpec]]:
    """Cut every chain at the first post-processor matched by ``-except``."""
    if not except_:
        return chains
    kept: list[list[ComponentSpec]] = []
    for chain in chains:
        cut: list[ComponentSpec] = []
        for spec in chain:
            if (spec.name and _matches(spec.name, except_)) or _matches(spec.type, except_):
                break
            cut.append(spec)
        if cut:
            kept.append(cut)
    return kept


def select_builds(
    builds: Sequence[BuildPlan], only: Sequence[str], except_: Sequence[str]
) -> Selection:
    """The builds to run, in template order, and warnings for patterns that matched nothing."""
    names = [build.name for build in builds]
    aliases = [alias for build in builds for alias in build.aliases]
    warnings: list[str] = []
    selected = list(builds)
    if only:
        selected = [b for b in selected if _selects(b, only)]
        warning = _unmatched_warning("-only", only, names, aliases)
        if warning:
            warnings.append(warning)
    if except_:
        selected = [b for b in selected if not _selects(b, except_)]
        pp_labels = [
            post_processor_label(s) for b in builds for c in b.post_processor_chains for s in c
        ]
        pp_types = [s.type for b in builds for c in b.post_processor_chains for s in c]
        unmatched = [
            p
            for p in except_
            if not any(fnmatchcase(n, p) for n in [*names, *pp_labels, *pp_types]) and p not in aliases
        ]
        if unmatched:
            warning = _unmatched_warning("-except", unmatched, names)
            if warning:
                warnings.append(warning)
        selected = [
            replace(b, post_processor_chains=filter_chains(b.post_processor_chains, except_))
            for b in selected
        ]
    return Selection(selected, warnings)
