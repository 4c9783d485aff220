"""Option reference generated from a component's config schema.

Every option of a :class:`~bakehouse.sdk.config.Config` model becomes one row:
its name as templates spell it, an HCL-like type, its default (or
"required"), its status (``supported``, or ``unsupported`` for options a
template may name but not set, with the reason) and a one-line note (the
field's ``note``, else its description).

``bakehouse plugins docs`` gathers these rows from every installed plugin
(``EXE schema``) and the built-in components and renders them as Markdown, so
the option tables in the docs are generated, never written by hand.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

import pydantic
from pydantic_core import PydanticUndefined

from bakehouse.sdk.config import SUPPORTED, _models_in

__all__ = ["documented_schema", "option_rows", "markdown_table", "type_name"]


def documented_schema(component: type) -> type[pydantic.BaseModel] | None:
    """The config model whose options a component class documents (see
    ``documented_schema`` of the component base classes), else its ``config_schema``."""
    documented = getattr(component, "documented_schema", None)
    if documented is not None:
        schema: type[pydantic.BaseModel] | None = documented()
        return schema
    return getattr(component, "config_schema", None)


def type_name(annotation: Any) -> str:
    """An HCL-like name for a field's type: ``string``, ``number``, ``bool``,
    ``list(string)``, ``map(string)``, ``block``..."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        names = sorted({type_name(a) for a in args})
        return names[0] if len(names) == 1 else " or ".join(names)
    if origin is typing.Literal:
        return " | ".join(repr(a).replace("'", '"') for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin in (list, tuple, set, frozenset, typing.Sequence):
        return f"list({type_name(args[0])})" if args else "list"
    if origin in (dict, typing.Mapping):
        return f"map({type_name(args[1])})" if len(args) == 2 else "map"
    if isinstance(annotation, type):
        if issubclass(annotation, bool):
            return "bool"
        if issubclass(annotation, (int, float)):
            return "number"
        if issubclass(annotation, enum.Enum):
            return " | ".join(f'"{member.value}"' for member in annotation)
        if issubclass(annotation, str):
            return "string"
        if issubclass(annotation, pydantic.BaseModel):
            return "block"
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation)).lower()


def _default(info: pydantic.fields.FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.default
    if value is PydanticUndefined and info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return ""
    if value is None or value is PydanticUndefined or value in ("", [], {}):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + "]"
    return ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def option_rows(schema: type[pydantic.BaseModel], prefix: str = "") -> list[dict[str, Any]]:
    """One dict per option of ``schema``, sorted by name: ``name``, ``type``,
    ``required``, ``default``, ``status``, ``note`` (plain data: it crosses as JSON).
    The options of a nested block follow its row as ``block.option``."""
    rows = []
    for field_name, info in schema.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        name = prefix + (info.alias or field_name)
        rows.append({
            "name": name,
            "type": type_name(info.annotation),
            "required": info.is_required(),
            "default": _default(info),
            "status": str(extra.get("status", SUPPORTED)),
            "note": _one_line(str(extra.get("note", "") or info.description or "")),
        })
        for model in dict.fromkeys(_models_in(info.annotation)):
            if model is not schema:
                rows.extend(option_rows(model, name + "."))
    return sorted(rows, key=lambda row: row["name"])


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (ends with a newline)."""
    lines = ["| option | type | default | status | note |", "|---|---|---|---|---|"]
    for row in rows:
        cells = [f"`{row['name']}`", row["type"], row["default"], row["status"], row["note"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
