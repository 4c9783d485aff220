"""Declarative configuration for components.

A component declares a pydantic model (subclass of :class:`Config`). Unknown
arguments, missing required ones and wrong types become :class:`ConfigError`
with one :class:`ConfigProblem` per mistake; the core turns each problem's
``path`` into the template's file:line.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any, TypeVar

import pydantic
from pydantic import ConfigDict

# re-exported: plugins import them from here
from bakehouse.sdk.problems import ConfigError as ConfigError
from bakehouse.sdk.problems import ConfigProblem as ConfigProblem
from bakehouse.sdk.problems import parse_duration as parse_duration

#: Values of an option's ``status`` (see :func:`option` and :func:`unsupported`);
#: :mod:`bakehouse.sdk.docs` renders them.
SUPPORTED = "supported"
UNSUPPORTED = "unsupported"
#: Marks fields made by :func:`unsupported`: :class:`Config` refuses a value for
#: them (a component that refuses its own way only sets ``status``).
_REFUSE = "refuse"


def option(default: Any = ..., *, note: str = "", **kwargs: Any) -> Any:
    """A config field that works, with a one-line ``note`` for generated docs
    (read back with :func:`option_status`)."""
    extra: dict[str, Any] = {"status": SUPPORTED, "note": note}
    return pydantic.Field(default, json_schema_extra=extra, **kwargs)


def unsupported(reason: str) -> Any:
    """A config field that is known (so a template that sets it gets
    ``reason``, not "unknown argument") but refused when set to anything but
    its empty value. ``reason`` says why, in one sentence."""
    return pydantic.Field(None, json_schema_extra={"status": UNSUPPORTED, "note": reason, _REFUSE: True})


def option_status(schema: type[pydantic.BaseModel], name: str) -> tuple[str, str]:
    """``(status, note)`` of the field named ``name`` (or aliased so):
    ``supported`` unless declared with :func:`unsupported`."""
    for field_name, info in schema.model_fields.items():
        if name in (field_name, info.alias):
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            return str(extra.get("status", SUPPORTED)), str(extra.get("note", "") or info.description or "")
    raise KeyError(name)


def _is_empty(value: Any) -> bool:
    return value is None or value is False or value == "" or value == [] or value == {}


class Config(pydantic.BaseModel):
    """Base for component configuration: unknown arguments are errors, and
    options declared with :func:`unsupported` are refused with their reason."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _refuse_unsupported(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        extra = field.json_schema_extra if field is not None else None
        if isinstance(extra, dict) and extra.get(_REFUSE) and not _is_empty(value):
            raise ValueError(f"Option {info.field_name!r} is not supported by Bakehouse: {extra.get('note')}")
        return value


def _models_in(annotation: Any) -> list[type[pydantic.BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, list, dict...)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    found: list[type[pydantic.BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _argument_names_at(schema: type[pydantic.BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Names accepted by the (nested) model that ``loc`` points into."""
    models = [schema]
    for part in loc:
        if not isinstance(part, str):
            continue  # a list index or dict key: same models
        nested: list[type[pydantic.BaseModel]] = []
        for model in models:
            field = model.model_fields.get(part)
            if field is None:
                field = next((f for f in model.model_fields.values() if f.alias == part), None)
            if field is not None:
                nested.extend(_models_in(field.annotation))
        if not nested:
            return []
        models = nested
    names: list[str] = []
    for model in models:
        for name, field in model.model_fields.items():
            names.append(field.alias or name)
    return names


def _describe_pydantic_error(err: dict[str, Any], schema: type[pydantic.BaseModel]) -> str:
    kind = err.get("type", "")
    loc = tuple(err.get("loc", ()))
    if kind == "extra_forbidden":
        name = str(loc[-1])
        message = f"An argument named {name!r} is not expected here."
        close = difflib.get_close_matches(name, _argument_names_at(schema, loc[:-1]), n=1)
        return message + (f" Did you mean {close[0]!r}?" if close else "")
    if kind == "missing":
        return f"The argument {str(loc[-1])!r} is required, but no definition was found."
    message = str(err.get("msg", "invalid value"))
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")


C = TypeVar("C", bound=pydantic.BaseModel)


def parse_config(schema: type[C], raw: dict[str, Any]) -> C:
    """Validate ``raw`` against ``schema``; raise :class:`ConfigError` listing every problem."""
    try:
        return schema.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = [
            ConfigProblem(tuple(err["loc"]), _describe_pydantic_error(dict(err), schema))
            for err in exc.errors()
        ]
        raise ConfigError(problems) from None
