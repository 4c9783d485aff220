"""Sensitive values: the strings of sensitive variables and locals, to redact from output."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bakehouse.template._hcl import V
from bakehouse.template.plan import Template
from bakehouse.template.variables import Variable


def collect_sensitive(template: Template, variables: Mapping[str, Variable], locals_: Mapping[str, V.Value],
                      sensitive_locals: Iterable[str]) -> None:
    """Record the names and the string leaves of every sensitive variable and local."""
    values: list[V.Value] = []
    for var in variables.values():
        if var.sensitive:
            template.sensitive_names.append(f"var.{var.name}")
            if var.value is not None:
                values.append(var.value)
    for name in sorted(sensitive_locals):
        template.sensitive_names.append(f"local.{name}")
        values.append(locals_[name])
    for value in values:
        for text in _string_leaves(value):
            _add_secret(template.sensitive_values, text)


def _string_leaves(value: V.Value) -> list[str]:
    out: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list):
            for x in item:
                walk(x)
        elif isinstance(item, dict):
            for x in item.values():
                walk(x)
        # Numbers and bools are not registered (as in Packer): "1" would mangle every output line.

    walk(V.to_python(value, unknown_as=None))
    return out


def _add_secret(secrets: list[str], text: str) -> None:
    if not text:
        return
    normalised = text.replace("\r\n", "\n")
    candidates = [text, normalised]
    if "\n" in normalised:
        candidates.extend(line for line in normalised.split("\n") if line.strip())
    for candidate in candidates:
        if candidate and candidate not in secrets:
            secrets.append(candidate)
