"""Component options checked without pydantic, for a component on a fast path.

Importing pydantic and building a component's model costs a plugin about
100 ms, more than its whole start-up. A component whose options are all of
plain types (``str``, ``bool``, ``int``, ``float``, lists and string-keyed
maps of them, ``Literal[...]``, ``X | None``) declares them once, as a
dataclass it runs with; :func:`options_model` makes the
:class:`~bakehouse.sdk.config.Config` model of the same fields (names, types,
defaults, required ones) that ``bakehouse plugins docs`` shows and that
reports mistakes. :func:`parse_plain` takes the dataclass's way when every
argument is a known name holding a value of exactly its declared type (nothing
for pydantic to convert or refuse), and otherwise asks the model, which
reports each mistake as it always has (or converts the value the same way) --
so both ways give the same result.

A component whose model is declared by hand instead (notes for the docs,
options it inherits from the SDK: the docker builder, ``docker-tag``) has its
dataclass made from the model: :func:`dataclass_source` writes it, the
component keeps that source, and a test asserts it is current. A field the
model takes as ``Any`` (an ``unsupported`` option) or as a nested block is
``Any`` there, default None: only None is taken plainly.

A field's ``checks`` (before-validators of the model) may convert a value the
plain way would not take (``"5m"`` -> ``300.0``) or refuse it; they never see
a plainly valid value. A rule across options (exactly one of two, ...) is one
function returning the problem or ``None``: the model's validator and the
``accept`` of :func:`parse_plain` both call it. A dataclass field without a
default is required, as a model field without one.
"""

from __future__ import annotations

import dataclasses
import json
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
    if annotation is Any:
        return lambda value: value is None
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


def options_model(options: type, checks: Mapping[str, Callable[[Any], Any]] | None = None,
                  rule: Callable[[Any], str | None] | None = None) -> type[Config]:
    """The :class:`~bakehouse.sdk.config.Config` model of the dataclass
    ``options``: the same fields, types and defaults, unknown names refused;
    ``checks`` maps a field to a before-validator (returns the value to use or
    raises ``ValueError``); ``rule`` returns what is wrong across options (or
    ``None``) and is checked once the fields are valid. Imports pydantic: call
    it lazily (e.g. from a cached ``documented_schema``)."""
    import pydantic

    from bakehouse.sdk.config import Config

    hints = typing.get_type_hints(options)
    fields: dict[str, Any] = {}
    for item in dataclasses.fields(options):
        if item.default_factory is not dataclasses.MISSING:
            fields[item.name] = (hints[item.name], pydantic.Field(default_factory=item.default_factory))
        elif item.default is not dataclasses.MISSING:
            fields[item.name] = (hints[item.name], item.default)
        else:
            fields[item.name] = (hints[item.name], ...)
    validators: dict[str, Any] = {}
    for name, check in (checks or {}).items():
        if name not in fields:
            raise TypeError(f"checks names {name!r}, which is not a field of {options.__name__}")
        validators[f"_check_{name}"] = pydantic.field_validator(name, mode="before")(_field_check(check))
    if rule is not None:
        validators["_rule"] = pydantic.model_validator(mode="after")(_model_rule(rule))
    model: type[Config] = pydantic.create_model(
        f"{options.__name__}Model", __base__=Config, __module__=options.__module__,
        __doc__=options.__doc__, __validators__=validators, **fields)
    return model


def _field_check(check: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def validate(cls: Any, value: Any) -> Any:
        return check(value)
    return validate


def _model_rule(rule: Callable[[Any], str | None]) -> Callable[[Any], Any]:
    def validate(self: Any) -> Any:
        problem = rule(self)
        if problem:
            raise ValueError(problem)
        return self
    return validate


def _annotation_source(annotation: Any) -> str:
    if annotation is None or annotation is type(None):
        return "None"
    if annotation in _SCALARS:
        return str(annotation.__name__)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return "Literal[" + ", ".join(_value_source(arg) for arg in args) + "]"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_annotation_source(arg) for arg in args)
    if origin is list:
        return f"list[{_annotation_source(args[0])}]"
    return f"dict[str, {_annotation_source(args[1])}]"


def _value_source(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (str, list, dict)) else repr(value)


def dataclass_source(model: type[Config], name: str) -> str:
    """The source of a dataclass ``name`` with the fields of ``model`` (a model
    declared by hand), in its order, for :func:`parse_plain`: plain types and
    defaults as the model's; ``Any = None`` for a field the model refuses
    (``unsupported``) or whose type is not plain (a nested block)."""
    from bakehouse.sdk.config import _REFUSE

    # kw_only: the model's order may put a required field after defaulted ones.
    lines = ["@dataclass(kw_only=True)", f"class {name}:",
             f'    """{model.__name__}\'s options, made by bakehouse.sdk.plain.dataclass_source: do not edit."""',
             ""]
    for field_name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        try:
            _checker(info.annotation)
            plain = not extra.get(_REFUSE)
        except TypeError:
            plain = False
        if not plain:
            if info.default is not None:
                raise TypeError(f"{model.__name__}.{field_name}: a field that is not plain must default to None")
            lines.append(f"    {field_name}: Any = None")
            continue
        if info.default_factory is not None:
            made = info.default_factory()  # type: ignore[call-arg]
            default = (f"field(default_factory={type(made).__name__})" if made in ([], {})
                       else f"field(default_factory=lambda: {_value_source(made)})")
        elif info.is_required():
            default = ""
        else:
            default = _value_source(info.default)
        lines.append(f"    {field_name}: {_annotation_source(info.annotation)}" + (f" = {default}" if default else ""))
    return "\n".join(lines) + "\n"
