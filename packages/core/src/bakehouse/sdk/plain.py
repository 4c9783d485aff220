"""Component options checked without pydantic, for a component on a fast path.

Importing pydantic and building a component's model costs a plugin about
100 ms, more than its whole start-up. A component whose options are all of
plain types (``str``, ``bool``, ``int``, ``float``, lists and string-keyed
maps of them, ``X | None``) can declare them twice: a dataclass it runs with,
and the :class:`~bakehouse.sdk.config.Config` model ``bakehouse plugins docs``
shows. :func:`parse_plain` takes the dataclass's way when every argument is a
known name holding a value of exactly its declared type (nothing for pydantic
to convert or refuse), and otherwise asks the model, which reports each
mistake as it always has (or converts the value the same way) -- so both ways
give the same result. :func:`plain_mismatches` tells where the two
declarations differ; a component's tests assert it finds nothing.

Only for models whose validators refuse, never transform, a value of the
declared type, and without :func:`~bakehouse.sdk.config.unsupported` fields.
A rule across options (exactly one of two, ...) is checked by both ways: the
model's validator and the ``accept`` function given to :func:`parse_plain`,
which sends options it does not accept through the model to be reported.
A dataclass field without a default is required, as a model field without one.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from bakehouse.sdk.config import Config

T = TypeVar("T")
_Check = Callable[[Any], bool]

_SCALARS: dict[Any, type] = {str: str, bool: bool, int: int, float: float, type(None): type(None)}
_cache: dict[type, tuple[dict[str, _Check], frozenset[str]]] = {}


def _checker(annotation: Any) -> _Check:
    """Whether a value is exactly of ``annotation`` (no conversion needed)."""
    if annotation is None:
        annotation = type(None)
    if annotation in _SCALARS:
        wanted = _SCALARS[annotation]
        return lambda value: type(value) is wanted
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        allowed = [(type(arg), arg) for arg in args]
        return lambda value: (type(value), value) in allowed
    if origin in (typing.Union, types.UnionType):
        choices = [_checker(arg) for arg in args]
        return lambda value: any(check(value) for check in choices)
    if origin is list and len(args) == 1:
        item = _checker(args[0])
        return lambda value: type(value) is list and all(item(v) for v in value)
    if origin is dict and len(args) == 2 and args[0] is str:
        item = _checker(args[1])
        return lambda value: type(value) is dict and all(type(k) is str and item(v) for k, v in value.items())
    raise TypeError(f"{annotation!r} is not a plain option type")


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _checks(options: type) -> tuple[dict[str, _Check], frozenset[str]]:
    """The check of each field's value, and the names of the required fields."""
    found = _cache.get(options)
    if found is None:
        hints = typing.get_type_hints(options)
        fields = dataclasses.fields(options)
        found = ({f.name: _checker(hints[f.name]) for f in fields},
                 frozenset(f.name for f in fields if _required(f)))
        _cache[options] = found
    return found


def parse_plain(options: type[T], raw: Mapping[str, Any], model: Callable[[], type[Config]],
                accept: Callable[[T], bool] | None = None) -> T:
    """``options`` (a dataclass) from ``raw``: directly when every argument is
    plainly valid, the required ones are given and ``accept`` (the model's
    rules across options) takes the result, else through ``model()``
    (imported only then), which raises
    :class:`~bakehouse.sdk.problems.ConfigError` for mistakes."""
    checks, required = _checks(options)
    if required.issubset(raw) and all(name in checks and checks[name](value) for name, value in raw.items()):
        plain = options(**raw)
        if accept is None or accept(plain):
            return plain
    from bakehouse.sdk.config import parse_config

    config = parse_config(model(), dict(raw))
    return options(**{name: getattr(config, name) for name in checks})


def _default(default: Any, factory: Any) -> Any:
    if factory is not dataclasses.MISSING and factory is not None:
        return factory()
    return default


def plain_mismatches(options: type, model: type[Config]) -> list[str]:
    """How the dataclass ``options`` and the model ``model`` differ: names,
    types, defaults, aliases, refused fields. Empty when they agree."""
    from bakehouse.sdk.config import _REFUSE

    problems: list[str] = []
    if model.model_config.get("extra") != "forbid":
        problems.append("the model does not forbid unknown arguments")
    hints = typing.get_type_hints(options)
    fields = {f.name: f for f in dataclasses.fields(options)}
    model_fields = model.model_fields
    for name in sorted(set(fields) ^ set(model_fields)):
        where = "the dataclass" if name in fields else "the model"
        problems.append(f"{name}: only in {where}")
    for name in sorted(set(fields) & set(model_fields)):
        info = model_fields[name]
        if hints[name] != info.annotation:
            problems.append(f"{name}: type {hints[name]!r} != {info.annotation!r}")
        if _required(fields[name]) or info.is_required():
            if not (_required(fields[name]) and info.is_required()):
                where = "the dataclass" if _required(fields[name]) else "the model"
                problems.append(f"{name}: required only in {where}")
        else:
            ours = _default(fields[name].default, fields[name].default_factory)
            theirs = _default(info.default, info.default_factory)
            if ours != theirs:
                problems.append(f"{name}: default {ours!r} != {theirs!r}")
        if info.alias not in (None, name):
            problems.append(f"{name}: aliased {info.alias!r}")
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get(_REFUSE):
            problems.append(f"{name}: declared unsupported (refused by the model only)")
        try:
            _checker(hints[name])
        except TypeError as exc:
            problems.append(f"{name}: {exc}")
    return problems
