"""Typed HCL values, modelled on cty (the value system behind Packer's HCL).

Every value has a :class:`Type`; nulls are typed (``null(STRING)``), unknown
values stand for what is only known at build time, and the *sensitive* mark
travels with a value through operators and functions. Numbers are
``decimal.Decimal`` with a large precision so that ``0.1 + 0.2 == 0.3`` holds
and big integers stay exact (cty uses 512-bit binary floats).

Public API (used by the evaluator and the function library):

* types: ``STRING NUMBER BOOL DYNAMIC ListType SetType MapType TupleType ObjectType``
* constructors: ``string number boolean null unknown tuple_value object_value
  list_value set_value map_value from_python``; ``to_python`` back to plain data
* ``convert(value, type)``, ``unify(types)``, ``format_number(d)``, ``parse_number(s)``
* errors: ``ConversionError``, ``EvalError``
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar

from bakehouse.hcl.diagnostics import SourcePos

__all__ = [
    "BOOL",
    "DYNAMIC",
    "NUMBER",
    "STRING",
    "ConversionError",
    "DecimalContext",
    "EvalError",
    "ListType",
    "MapType",
    "ObjectType",
    "PrimitiveType",
    "SetType",
    "TupleType",
    "Type",
    "Value",
    "boolean",
    "convert",
    "format_number",
    "from_python",
    "list_value",
    "map_value",
    "null",
    "number",
    "object_value",
    "parse_number",
    "set_value",
    "string",
    "to_python",
    "tuple_value",
    "unify",
    "unknown",
    "values_equal",
]

# cty keeps 512 bits of mantissa (~154 decimal digits); a few more decimal
# digits keep results of long arithmetic chains exact where cty's are.
DecimalContext = decimal.Context(
    prec=160,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[decimal.InvalidOperation, decimal.Overflow],
)

INFINITY = Decimal("Infinity")


# --------------------------------------------------------------------------- errors


class EvalError(Exception):
    """An expression could not be evaluated; ``pos`` says where (if known)."""

    def __init__(self, message: str, pos: SourcePos | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.detail = detail


class ConversionError(EvalError):
    """A value does not convert to a type. ``path`` locates the offending element."""

    def __init__(self, message: str, path: tuple[str, ...] | list[str] = ()) -> None:
        self.path = tuple(path)
        where = "".join(self.path)
        full = f"{where.lstrip('.')}: {message}" if where else message
        super().__init__(full)
        self.reason = message


# ---------------------------------------------------------------------------- types


class Type:
    """Base of every HCL type. Types are immutable and hashable."""

    __slots__ = ()

    def friendly(self) -> str:
        """A name for messages: ``string``, ``list of number``, ``object``."""
        raise NotImplementedError

    def expr(self) -> str:
        """The type written as an HCL type constraint: ``list(string)``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.expr()

    # kind predicates keep call sites short and readable
    @property
    def is_primitive(self) -> bool:
        return isinstance(self, PrimitiveType)

    @property
    def is_collection(self) -> bool:
        return isinstance(self, (ListType, SetType, MapType))

    @property
    def is_sequence(self) -> bool:
        """list, set or tuple: things ``elements()`` works on."""
        return isinstance(self, (ListType, SetType, TupleType))

    @property
    def is_mapping(self) -> bool:
        """map or object: things ``items()`` works on."""
        return isinstance(self, (MapType, ObjectType))


class PrimitiveType(Type):
    __slots__ = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("types are immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrimitiveType) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("prim", self.name))

    def friendly(self) -> str:
        return self.name

    def expr(self) -> str:
        return self.name


class DynamicType(Type):
    """``any``: the type is decided by the value (cty's DynamicPseudoType)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DynamicType)

    def __hash__(self) -> int:
        return hash("dynamic")

    def friendly(self) -> str:
        return "any"

    def expr(self) -> str:
        return "any"


STRING = PrimitiveType("string")
NUMBER = PrimitiveType("number")
BOOL = PrimitiveType("bool")
DYNAMIC = DynamicType()


class _CollectionType(Type):
    __slots__ = ("element",)
    kind: ClassVar[str] = ""
    element: Type

    def __init__(self, element: Type) -> None:
        object.__setattr__(self, "element", element)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("types are immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.element == self.element

    def __hash__(self) -> int:
        return hash((self.kind, self.element))

    def friendly(self) -> str:
        if isinstance(self.element, DynamicType):
            return f"{self.kind} of any single type"
        return f"{self.kind} of {self.element.friendly()}"

    def expr(self) -> str:
        return f"{self.kind}({self.element.expr()})"


class ListType(_CollectionType):
    __slots__ = ()
    kind = "list"


class SetType(_CollectionType):
    __slots__ = ()
    kind = "set"


class MapType(_CollectionType):
    __slots__ = ()
    kind = "map"


class TupleType(Type):
    __slots__ = ("elements",)
    elements: tuple[Type, ...]

    def __init__(self, elements: Iterable[Type]) -> None:
        object.__setattr__(self, "elements", tuple(elements))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("types are immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TupleType) and other.elements == self.elements

    def __hash__(self) -> int:
        return hash(("tuple", self.elements))

    def friendly(self) -> str:
        return "tuple"

    def expr(self) -> str:
        return "tuple([" + ", ".join(t.expr() for t in self.elements) + "])"


class ObjectType(Type):
    __slots__ = ("attributes", "optional", "_key")
    attributes: Mapping[str, Type]
    optional: frozenset[str]
    _key: tuple[Any, ...]

    def __init__(self, attributes: Mapping[str, Type], optional: frozenset[str] | Iterable[str] = frozenset()) -> None:
        ordered = dict(sorted(attributes.items()))
        object.__setattr__(self, "attributes", MappingProxyType(ordered))
        object.__setattr__(self, "optional", frozenset(optional))
        object.__setattr__(self, "_key", (tuple(ordered.items()), tuple(sorted(self.optional))))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("types are immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectType) and other._key == self._key

    def __hash__(self) -> int:
        return hash(("object", self._key))

    def friendly(self) -> str:
        return "object"

    def expr(self) -> str:
        parts = []
        for name, t in self.attributes.items():
            text = t.expr()
            parts.append(f"{name} = optional({text})" if name in self.optional else f"{name} = {text}")
        return "object({" + ", ".join(parts) + "})"


EMPTY_OBJECT = ObjectType({})
EMPTY_TUPLE = TupleType(())


# --------------------------------------------------------------------------- values

_NO_PAYLOAD = object()


class Value:
    """An immutable typed value (possibly null, unknown or sensitive).

    Payload by type: string -> ``str``; number -> ``Decimal``; bool -> ``bool``;
    list/set/tuple -> ``tuple[Value, ...]``; map/object -> ``dict[str, Value]`` in
    sorted key order. Null and unknown values carry no payload.
    """

    __slots__ = ("type", "_payload", "is_null", "is_known", "sensitive")

    type: Type
    _payload: Any
    is_null: bool
    is_known: bool
    sensitive: bool

    def __init__(
        self,
        type_: Type,
        payload: Any = _NO_PAYLOAD,
        *,
        is_null: bool = False,
        is_known: bool = True,
        sensitive: bool = False,
    ) -> None:
        object.__setattr__(self, "type", type_)
        object.__setattr__(self, "_payload", payload)
        object.__setattr__(self, "is_null", is_null)
        object.__setattr__(self, "is_known", is_known)
        object.__setattr__(self, "sensitive", sensitive)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("values are immutable")

    # ------------------------------------------------------------------ accessors
    def _require(self, what: str) -> Any:
        if not self.is_known:
            raise EvalError(f"The value is not known yet, so it cannot be used as {what}.")
        if self.is_null:
            raise EvalError(f"A null value cannot be used as {what}.")
        return self._payload

    def as_str(self) -> str:
        if self.type != STRING:
            raise EvalError(f"A string is required, not {self.type.friendly()}.")
        return str(self._require("a string"))

    def as_number(self) -> Decimal:
        if self.type != NUMBER:
            raise EvalError(f"A number is required, not {self.type.friendly()}.")
        return self._require("a number")  # type: ignore[no-any-return]

    def as_bool(self) -> bool:
        if self.type != BOOL:
            raise EvalError(f"A bool is required, not {self.type.friendly()}.")
        return bool(self._require("a bool"))

    def elements(self) -> list[Value]:
        if not self.type.is_sequence:
            raise EvalError(f"A list, set or tuple is required, not {self.type.friendly()}.")
        return list(self._require("a collection"))

    def items(self) -> dict[str, Value]:
        if not self.type.is_mapping:
            raise EvalError(f"A map or object is required, not {self.type.friendly()}.")
        return dict(self._require("a map"))

    def length(self) -> int:
        """Number of elements/attributes, or of grapheme clusters of a string."""
        if self.type == STRING:
            import regex  # the third-party module is loaded when a string's length is asked

            return len(regex.findall(r"\X", self.as_str()))
        if self.type.is_sequence or self.type.is_mapping:
            return len(self._require("a collection"))
        raise EvalError(f"The length of a {self.type.friendly()} is not defined.")

    @property
    def raw(self) -> Any:
        """The payload (internal use: evaluator and function library)."""
        return self._payload

    @property
    def is_wholly_known(self) -> bool:
        """Known all the way down (no unknown element anywhere)."""
        if not self.is_known:
            return False
        if self.is_null:
            return True
        if self.type.is_sequence:
            return all(v.is_wholly_known for v in self._payload)
        if self.type.is_mapping:
            return all(v.is_wholly_known for v in self._payload.values())
        return True

    @property
    def contains_sensitive(self) -> bool:
        if self.sensitive:
            return True
        if not self.is_known or self.is_null:
            return False
        if self.type.is_sequence:
            return any(v.contains_sensitive for v in self._payload)
        if self.type.is_mapping:
            return any(v.contains_sensitive for v in self._payload.values())
        return False

    def with_sensitive(self, sensitive: bool = True) -> Value:
        if sensitive == self.sensitive:
            return self
        return Value(self.type, self._payload, is_null=self.is_null, is_known=self.is_known, sensitive=sensitive)

    def get_attr(self, name: str) -> Value | None:
        """Attribute of an object / key of a map, or None when absent."""
        payload = self._require("an object")
        return payload.get(name)  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- comparison
    def _key(self) -> tuple[Any, ...]:
        payload: Any = None
        if self.is_known and not self.is_null:
            if isinstance(self._payload, dict):
                payload = tuple(self._payload.items())
            else:
                payload = self._payload
        return (self.type, self.is_null, self.is_known, self.sensitive, payload)

    def __eq__(self, other: object) -> bool:
        """Structural equality (types, marks and contents); for tests and dedup."""
        if not isinstance(other, Value):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        marks = " sensitive" if self.sensitive else ""
        if not self.is_known:
            return f"<unknown {self.type.expr()}{marks}>"
        if self.is_null:
            return f"<null {self.type.expr()}{marks}>"
        if self.type == NUMBER:
            return f"<number {format_number(self._payload)}{marks}>"
        if self.type.is_mapping:
            return f"<{self.type.expr()} {dict(self._payload)!r}{marks}>"
        return f"<{self.type.expr()} {self._payload!r}{marks}>"


# ---------------------------------------------------------------------- constructors


def string(s: str) -> Value:
    return Value(STRING, str(s))


def number(n: int | float | Decimal | str) -> Value:
    if isinstance(n, bool):
        raise TypeError("number() does not take a bool")
    if isinstance(n, Decimal):
        d = n
    elif isinstance(n, int):
        d = Decimal(n)
    elif isinstance(n, float):
        # repr() gives the shortest decimal that round-trips; that is what a
        # user wrote when the float came from a literal.
        d = Decimal(repr(n)) if n == n and n not in (float("inf"), float("-inf")) else Decimal(n)
    else:
        parsed = parse_number(str(n))
        if parsed is None:
            raise ValueError(f"not a number: {n!r}")
        d = parsed
    if d.is_nan():
        raise EvalError("The result is not a number (NaN).")
    return Value(NUMBER, d)


def boolean(b: bool) -> Value:
    return Value(BOOL, bool(b))


TRUE = boolean(True)
FALSE = boolean(False)


def null(type_: Type = DYNAMIC) -> Value:
    return Value(type_, None, is_null=True)


def unknown(type_: Type = DYNAMIC) -> Value:
    return Value(type_, None, is_known=False)


def tuple_value(elements: Iterable[Value]) -> Value:
    elems = tuple(elements)
    return Value(TupleType(e.type for e in elems), elems)


def object_value(attributes: Mapping[str, Value]) -> Value:
    ordered = dict(sorted(attributes.items()))
    return Value(ObjectType({k: v.type for k, v in ordered.items()}), ordered)


def _collection_element_type(elements: list[Value], element_type: Type | None, what: str) -> Type:
    if element_type is not None:
        return element_type
    if not elements:
        return DYNAMIC
    unified = unify([e.type for e in elements])
    if unified is None:
        raise ConversionError(f"all {what} elements must have the same type")
    return unified


def list_value(elements: Iterable[Value], element_type: Type | None = None) -> Value:
    elems = list(elements)
    et = _collection_element_type(elems, element_type, "list")
    converted = tuple(convert(e, et, (f"[{i}]",)) for i, e in enumerate(elems))
    return Value(ListType(et), converted)


def set_order_key(v: Value) -> tuple[Any, ...]:
    """cty's set iteration order: strings lexical, numbers numeric, then the rest."""
    if not v.is_known:
        return (3, "")
    if v.is_null:
        return (4, "")
    if v.type == STRING:
        return (0, v._payload)
    if v.type == NUMBER:
        return (1, v._payload)
    if v.type == BOOL:
        return (2, v._payload)
    return (5, repr(v))


def set_value(elements: Iterable[Value], element_type: Type | None = None) -> Value:
    elems = list(elements)
    et = _collection_element_type(elems, element_type, "set")
    unique: dict[Any, Value] = {}
    for i, e in enumerate(elems):
        c = convert(e, et, (f"[{i}]",))
        unique.setdefault(_identity(c), c)
    ordered = tuple(sorted(unique.values(), key=set_order_key))
    return Value(SetType(et), ordered)


def _identity(v: Value) -> Any:
    """Key for set membership: equal values (ignoring marks) share it."""
    if v.type == NUMBER and v.is_known and not v.is_null:
        return ("n", v._payload.normalize(DecimalContext) if v._payload.is_finite() else v._payload)
    return v.with_sensitive(False)._key()


def map_value(elements: Mapping[str, Value], element_type: Type | None = None) -> Value:
    ordered = dict(sorted(elements.items()))
    et = _collection_element_type(list(ordered.values()), element_type, "map")
    converted = {k: convert(v, et, (f"[{k!r}]",)) for k, v in ordered.items()}
    return Value(MapType(et), converted)


def from_python(obj: Any) -> Value:
    """Plain Python data -> value: list/tuple -> tuple, dict -> object, None -> null."""
    if isinstance(obj, Value):
        return obj
    if obj is None:
        return null()
    if isinstance(obj, bool):
        return boolean(obj)
    if isinstance(obj, (int, float, Decimal)):
        return number(obj)
    if isinstance(obj, str):
        return string(obj)
    if isinstance(obj, (list, tuple)):
        return tuple_value(from_python(x) for x in obj)
    if isinstance(obj, (set, frozenset)):
        return set_value([from_python(x) for x in obj])
    if isinstance(obj, Mapping):
        return object_value({str(k): from_python(v) for k, v in obj.items()})
    raise TypeError(f"cannot make an HCL value from {type(obj).__name__}")


_RAISE = object()


def to_python(value: Value, unknown_as: Any = _RAISE) -> Any:
    """Value -> plain data. Integral numbers become ``int``, others ``float``.

    Unknown values raise :class:`EvalError` unless ``unknown_as`` is given, in which
    case they are replaced by it (Packer hands ``"<unknown>"`` to plugins).
    """
    if not value.is_known:
        if unknown_as is _RAISE:
            raise EvalError("The value is not known until the build runs.")
        return unknown_as
    if value.is_null:
        return None
    t = value.type
    if t == NUMBER:
        d: Decimal = value._payload
        if d.is_infinite():
            return float(d)
        if d == d.to_integral_value():
            return int(d)
        return float(d)
    if t in (STRING, BOOL):
        return value._payload
    if t.is_sequence:
        return [to_python(v, unknown_as) for v in value._payload]
    if t.is_mapping:
        return {k: to_python(v, unknown_as) for k, v in value._payload.items()}
    raise EvalError(f"cannot convert a {t.friendly()} to plain data")


# --------------------------------------------------------------------------- numbers

# ASCII only: the standard ``re`` matches it exactly as ``regex`` does.
_NUMBER_TEXT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def parse_number(text: str) -> Decimal | None:
    """Parse a decimal number as cty does for string -> number; None if invalid."""
    if not _NUMBER_TEXT.fullmatch(text):
        return None
    try:
        return DecimalContext.create_decimal(text)
    except decimal.DecimalException:
        return None


def format_number(d: Decimal) -> str:
    """Shortest exact decimal, never in exponent form (``1e3`` -> ``1000``)."""
    if d.is_infinite():
        return "+Inf" if d > 0 else "-Inf"
    if d.is_zero():
        return "0"
    n = d.normalize(DecimalContext)
    text = format(n, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


# ------------------------------------------------------------------------ conversion

_STRING_BOOL = {"true": True, "false": False, "1": True, "0": False}


def convert(value: Value, target: Type, path: tuple[str, ...] = ()) -> Value:
    """Convert ``value`` to ``target`` by cty's rules; raise ConversionError."""
    result = _convert(value, target, path)
    if value.sensitive and not result.sensitive:
        result = result.with_sensitive(True)
    return result


def _convert(value: Value, target: Type, path: tuple[str, ...]) -> Value:
    source = value.type
    if isinstance(target, DynamicType) or source == target:
        return value
    if value.is_null:
        if not isinstance(source, DynamicType) and not _type_convertible(source, target):
            raise ConversionError(_mismatch(source, target), path)
        return null(target)
    if not value.is_known:
        if not isinstance(source, DynamicType) and not _type_convertible(source, target):
            raise ConversionError(_mismatch(source, target), path)
        return unknown(_concrete(target))

    if isinstance(target, PrimitiveType):
        return _convert_primitive(value, target, path)
    if isinstance(target, (ListType, SetType)):
        if not source.is_sequence:
            raise ConversionError(_mismatch(source, target), path)
        elems = value.elements()
        et = target.element
        if isinstance(et, DynamicType):
            et_found = unify([e.type for e in elems]) if elems else DYNAMIC
            if et_found is None:
                raise ConversionError(f"all elements must have the same type to make a {target.kind}", path)
            et = et_found
        converted = [_convert_elem(e, et, path + (f"[{i}]",)) for i, e in enumerate(elems)]
        if isinstance(target, ListType):
            return Value(ListType(et), tuple(converted))
        return set_value(converted, et)
    if isinstance(target, MapType):
        if not source.is_mapping:
            raise ConversionError(_mismatch(source, target), path)
        items = value.items()
        et = target.element
        if isinstance(et, DynamicType):
            et_found = unify([e.type for e in items.values()]) if items else DYNAMIC
            if et_found is None:
                raise ConversionError("all map elements must have the same type", path)
            et = et_found
        return Value(MapType(et), {k: _convert_elem(v, et, path + (f"[{k!r}]",)) for k, v in items.items()})
    if isinstance(target, TupleType):
        if not (isinstance(source, TupleType) or isinstance(source, ListType)):
            raise ConversionError(_mismatch(source, target), path)
        elems = value.elements()
        if len(elems) != len(target.elements):
            raise ConversionError(f"tuple required with exactly {len(target.elements)} elements", path)
        out = [_convert_elem(e, t, path + (f"[{i}]",)) for i, (e, t) in enumerate(zip(elems, target.elements, strict=True))]
        return tuple_value(out)
    if isinstance(target, ObjectType):
        if not source.is_mapping:
            raise ConversionError(_mismatch(source, target), path)
        items = value.items()
        out_attrs: dict[str, Value] = {}
        for name, at in target.attributes.items():
            if name in items:
                out_attrs[name] = _convert_elem(items[name], at, path + (f".{name}",))
            elif name in target.optional:
                out_attrs[name] = null(at)
            else:
                raise ConversionError(f'attribute "{name}" is required', path)
        result = Value(ObjectType({k: v.type if isinstance(target.attributes[k], DynamicType) else target.attributes[k] for k, v in out_attrs.items()}), out_attrs)
        return result
    raise ConversionError(_mismatch(source, target), path)


def _convert_elem(value: Value, target: Type, path: tuple[str, ...]) -> Value:
    result = _convert(value, target, path)
    if value.sensitive and not result.sensitive:
        result = result.with_sensitive(True)
    return result


def _concrete(t: Type) -> Type:
    return t


def _convert_primitive(value: Value, target: PrimitiveType, path: tuple[str, ...]) -> Value:
    source = value.type
    if target == STRING:
        if source == NUMBER:
            return string(format_number(value._payload))
        if source == BOOL:
            return string("true" if value._payload else "false")
    elif target == NUMBER:
        if source == STRING:
            parsed = parse_number(value._payload)
            if parsed is None:
                raise ConversionError(f'cannot convert "{value._payload}" to number; given string must be a decimal representation of a number', path)
            return Value(NUMBER, parsed)
    elif target == BOOL:
        if source == STRING:
            text = value._payload
            if text in _STRING_BOOL:
                return boolean(_STRING_BOOL[text])
            raise ConversionError(f'cannot convert "{text}" to bool; only the strings "true" or "false" are allowed', path)
    raise ConversionError(_mismatch(source, target), path)


def _mismatch(source: Type, target: Type) -> str:
    article = "an" if target.friendly()[0] in "aeiou" else "a"
    return f"{article} {target.friendly()} is required, not {source.friendly()}"


def _type_convertible(source: Type, target: Type) -> bool:
    """Whether some value of ``source`` may convert to ``target`` (unsafe check)."""
    if isinstance(target, DynamicType) or isinstance(source, DynamicType) or source == target:
        return True
    if isinstance(target, PrimitiveType) and isinstance(source, PrimitiveType):
        return STRING in (source, target)
    if isinstance(target, (ListType, SetType)):
        if isinstance(source, (ListType, SetType)):
            return _type_convertible(source.element, target.element)
        if isinstance(source, TupleType):
            return all(_type_convertible(t, target.element) for t in source.elements)
        return False
    if isinstance(target, MapType):
        if isinstance(source, MapType):
            return _type_convertible(source.element, target.element)
        if isinstance(source, ObjectType):
            return all(_type_convertible(t, target.element) for t in source.attributes.values())
        return False
    if isinstance(target, TupleType):
        if isinstance(source, TupleType):
            return len(source.elements) == len(target.elements) and all(
                _type_convertible(s, t) for s, t in zip(source.elements, target.elements, strict=True)
            )
        return isinstance(source, ListType)
    if isinstance(target, ObjectType):
        if isinstance(source, ObjectType):
            for name, t in target.attributes.items():
                if name in source.attributes:
                    if not _type_convertible(source.attributes[name], t):
                        return False
                elif name not in target.optional:
                    return False
            return True
        return isinstance(source, MapType)
    return False


# ------------------------------------------------------------------------ unification


def unify(types: Iterable[Type]) -> Type | None:
    """The one type all ``types`` convert to (cty's unsafe unification), or None."""
    ts = list(types)
    if not ts:
        return DYNAMIC
    first = ts[0]
    if all(t == first for t in ts):
        return first
    if any(isinstance(t, DynamicType) for t in ts):
        return DYNAMIC
    if all(isinstance(t, PrimitiveType) for t in ts):
        # mixed primitives meet at string; bool and number never convert
        return STRING if STRING in ts else None
    if all(isinstance(t, ListType) for t in ts):
        et = unify([t.element for t in ts])  # type: ignore[attr-defined]
        return None if et is None else ListType(et)
    if all(isinstance(t, SetType) for t in ts):
        et = unify([t.element for t in ts])  # type: ignore[attr-defined]
        return None if et is None else SetType(et)
    if all(isinstance(t, MapType) for t in ts):
        et = unify([t.element for t in ts])  # type: ignore[attr-defined]
        return None if et is None else MapType(et)
    if all(isinstance(t, TupleType) for t in ts):
        lengths = {len(t.elements) for t in ts}  # type: ignore[attr-defined]
        if len(lengths) == 1:
            n = lengths.pop()
            parts = [unify([t.elements[i] for t in ts]) for i in range(n)]  # type: ignore[attr-defined]
            if all(p is not None for p in parts):
                return TupleType(parts)  # type: ignore[arg-type]
        et = unify([e for t in ts for e in t.elements])  # type: ignore[attr-defined]
        return None if et is None else ListType(et)
    if all(isinstance(t, ObjectType) for t in ts):
        names = {frozenset(t.attributes) for t in ts}  # type: ignore[attr-defined]
        if len(names) == 1:
            keys = names.pop()
            attrs = {k: unify([t.attributes[k] for t in ts]) for k in keys}  # type: ignore[attr-defined]
            if all(a is not None for a in attrs.values()):
                return ObjectType(attrs)  # type: ignore[arg-type]
        et = unify([a for t in ts for a in t.attributes.values()])  # type: ignore[attr-defined]
        return None if et is None else MapType(et)
    # mixed structural kinds: lists with tuples, maps with objects
    if all(isinstance(t, (ListType, TupleType)) for t in ts):
        elems: list[Type] = []
        for t in ts:
            elems.extend([t.element] if isinstance(t, ListType) else list(t.elements))  # type: ignore[attr-defined]
        et = unify(elems) if elems else DYNAMIC
        return None if et is None else ListType(et)
    if all(isinstance(t, (SetType, TupleType, ListType)) for t in ts):
        elems = []
        for t in ts:
            elems.extend(list(t.elements) if isinstance(t, TupleType) else [t.element])  # type: ignore[attr-defined]
        et = unify(elems) if elems else DYNAMIC
        return None if et is None else SetType(et)
    if all(isinstance(t, (MapType, ObjectType)) for t in ts):
        elems = []
        for t in ts:
            elems.extend([t.element] if isinstance(t, MapType) else list(t.attributes.values()))  # type: ignore[attr-defined]
        et = unify(elems) if elems else DYNAMIC
        return None if et is None else MapType(et)
    return None


def values_equal(a: Value, b: Value) -> Value:
    """HCL ``==``: no conversion; unknown when an unknown part decides it."""
    marked = a.sensitive or b.sensitive
    outcome = _equal(a, b)
    if outcome is None:
        return unknown(BOOL).with_sensitive(marked)
    return boolean(outcome).with_sensitive(marked)


def _equal(a: Value, b: Value) -> bool | None:
    """True/False, or None when unknown values leave the answer open."""
    if not a.is_known or not b.is_known:
        return None
    if a.is_null or b.is_null:
        return a.is_null and b.is_null
    ta, tb = a.type, b.type
    if ta == NUMBER and tb == NUMBER:
        return bool(a._payload == b._payload)
    if ta != tb:
        # differing types are never equal (1 == "1" is false)
        return False
    if ta.is_sequence:
        ea, eb = a._payload, b._payload
        if len(ea) != len(eb):
            return False
        return _all_equal(_equal(x, y) for x, y in zip(ea, eb, strict=True))
    if ta.is_mapping:
        ia, ib = a._payload, b._payload
        if ia.keys() != ib.keys():
            return False
        return _all_equal(_equal(ia[k], ib[k]) for k in ia)
    return bool(a._payload == b._payload)


def _all_equal(outcomes: Iterable[bool | None]) -> bool | None:
    undecided = False
    for outcome in outcomes:
        if outcome is False:
            return False
        if outcome is None:
            undecided = True
    return None if undecided else True
