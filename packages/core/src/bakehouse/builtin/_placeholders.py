"""Packer's ``{{.Name}}`` placeholders, still used in post-processor ``output`` options."""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")


def expand(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{{.Key}}`` by ``values[Key]``; unknown keys raise ValueError."""

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ValueError(
                f"unknown placeholder {{{{.{key}}}}} (known: {', '.join(sorted(values))})"
            )
        return values[key]

    return _PLACEHOLDER.sub(substitute, template)
