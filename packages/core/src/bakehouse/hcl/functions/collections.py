"""Collection functions: lists, sets, tuples, maps and objects."""

from __future__ import annotations

from decimal import Decimal

from bakehouse.hcl.function import Function, FunctionContext, FunctionError
from bakehouse.hcl.functions._util import define, p, whole_number
from bakehouse.hcl.values import (
    BOOL,
    DYNAMIC,
    NUMBER,
    STRING,
    ConversionError,
    DecimalContext,
    ListType,
    MapType,
    ObjectType,
    SetType,
    TupleType,
    Type,
    Value,
    boolean,
    convert,
    list_value,
    map_value,
    number,
    object_value,
    set_value,
    tuple_value,
    unify,
    unknown,
    values_equal,
)

_MAX_RANGE = 1024
# A guard against exhausting memory; Packer has no limit but would not finish either.
_MAX_PRODUCT = 1_000_000


def _equal(a: Value, b: Value) -> bool | None:
    """HCL ``==`` without conversion; None when unknown."""
    result = values_equal(a, b)
    if not result.is_known:
        return None
    return result.as_bool()


def _sequence(value: Value, what: str, index: int = 0) -> list[Value]:
    if not value.type.is_sequence:
        raise FunctionError(
            f"{what} must be a list, set or tuple, not {value.type.friendly()}", index
        )
    return value.elements()


def _like(original: Value, elements: list[Value]) -> Value:
    """A list/set/tuple of the same kind as ``original``."""
    t = original.type
    if isinstance(t, TupleType):
        return tuple_value(elements)
    if isinstance(t, SetType):
        return set_value(elements, t.element)
    assert isinstance(t, ListType)
    return list_value(elements, t.element)


def _alltrue(args: list[Value], fctx: FunctionContext) -> Value:
    result = True
    for elem in args[0].elements():
        if not elem.is_known:
            return unknown(BOOL)
        if elem.is_null or not elem.as_bool():
            result = False
    return boolean(result)


def _anytrue(args: list[Value], fctx: FunctionContext) -> Value:
    saw_unknown = False
    for elem in args[0].elements():
        if not elem.is_known:
            saw_unknown = True
            continue
        if not elem.is_null and elem.as_bool():
            return boolean(True)
    return unknown(BOOL) if saw_unknown else boolean(False)


def _chunklist(args: list[Value], fctx: FunctionContext) -> Value:
    lst = args[0]
    size = whole_number(args[1], "the size argument", 1)
    if size < 0:
        raise FunctionError("the size argument must be positive", 1)
    elems = lst.elements()
    element_type = lst.type.element  # type: ignore[attr-defined]
    if not elems:
        return list_value([], ListType(element_type))
    if size == 0:
        return list_value([lst])
    chunks = [list_value(elems[i : i + size], element_type) for i in range(0, len(elems), size)]
    return list_value(chunks, ListType(element_type))


def _unified(args: list[Value], what: str) -> Type:
    unified = unify([a.type for a in args])
    if unified is None:
        raise FunctionError(f"all {what} must have the same type")
    return unified


def _coalesce(args: list[Value], fctx: FunctionContext) -> Value:
    if not args:
        raise FunctionError("at least one argument is required")
    # Untyped nulls (the literal ``null``) do not take part in choosing the type.
    typed = [a for a in args if not (a.is_null and a.type == DYNAMIC)]
    target = _unified(typed, "arguments") if typed else DYNAMIC
    for arg in args:
        try:
            value = convert(arg, target)
        except ConversionError as exc:
            raise FunctionError(f"all arguments must have the same type: {exc.message}") from None
        if not value.is_known:
            return unknown(target)
        if value.is_null:
            continue
        if value.type == STRING and value.as_str() == "":
            continue
        return value
    raise FunctionError("no non-null, non-empty-string arguments")


def _coalescelist(args: list[Value], fctx: FunctionContext) -> Value:
    if not args:
        raise FunctionError("at least one argument is required")
    for i, arg in enumerate(args):
        if not isinstance(arg.type, (ListType, TupleType)) and arg.type != DYNAMIC:
            raise FunctionError(
                f"coalescelist arguments must be lists or tuples, got {arg.type.friendly()}", i
            )
    for arg in args:
        if not arg.is_known:
            return unknown(DYNAMIC)
        if arg.is_null:
            continue
        if arg.elements():
            return arg
    raise FunctionError("no non-null arguments")


def _compact(args: list[Value], fctx: FunctionContext) -> Value:
    out: list[Value] = []
    for elem in args[0].elements():
        if not elem.is_known:
            return unknown(ListType(STRING))
        if elem.is_null or elem.as_str() == "":
            continue
        out.append(elem)
    return list_value(out, STRING)


def _concat(args: list[Value], fctx: FunctionContext) -> Value:
    if not args:
        raise FunctionError("at least one argument is required")
    for i, arg in enumerate(args):
        if not isinstance(arg.type, (ListType, TupleType)):
            raise FunctionError(
                f"all arguments must be lists or tuples; got {arg.type.friendly()}", i
            )
        if not arg.is_known:
            return unknown(DYNAMIC)
        if arg.is_null:
            raise FunctionError("argument must not be null", i)
    if all(isinstance(a.type, ListType) for a in args):
        element_type = unify([a.type.element for a in args])  # type: ignore[attr-defined]
        if element_type is None:
            raise FunctionError("all arguments must have the same element type")
        elems = [e for a in args for e in a.elements()]
        try:
            return list_value(elems, element_type)
        except ConversionError as exc:
            raise FunctionError(exc.message) from None
    return tuple_value(e for a in args for e in a.elements())


def _contains(args: list[Value], fctx: FunctionContext) -> Value:
    collection, wanted = args
    if not (collection.type.is_sequence):
        raise FunctionError(
            f"argument must be list, tuple, or set, not {collection.type.friendly()}", 0
        )
    if not collection.is_known:
        return unknown(BOOL)
    saw_unknown = False
    for elem in collection.elements():
        equal = _equal(elem, wanted)
        if equal is None:
            saw_unknown = True
        elif equal:
            return boolean(True)
    return unknown(BOOL) if saw_unknown else boolean(False)


def _distinct(args: list[Value], fctx: FunctionContext) -> Value:
    lst = args[0]
    out: list[Value] = []
    for elem in lst.elements():
        if not elem.is_wholly_known:
            return unknown(lst.type)
        if not any(_equal(elem, seen) for seen in out):
            out.append(elem)
    return list_value(out, lst.type.element)  # type: ignore[attr-defined]


def _element(args: list[Value], fctx: FunctionContext) -> Value:
    lst, index_value = args
    if not isinstance(lst.type, (ListType, TupleType)):
        raise FunctionError(f"cannot read elements from {lst.type.friendly()}", 0)
    index = whole_number(index_value, "the index", 1)
    if index < 0:
        raise FunctionError("cannot use element function with a negative index", 1)
    if not lst.is_known:
        return unknown(DYNAMIC)
    elems = lst.elements()
    if not elems:
        raise FunctionError("cannot use element function with an empty list", 0)
    return elems[index % len(elems)]


def _flatten_into(value: Value, out: list[Value]) -> bool:
    for elem in value.elements():
        if elem.type.is_sequence and not elem.is_null:
            if not elem.is_known:
                return False
            if not _flatten_into(elem, out):
                return False
        else:
            out.append(elem)
    return True


def _flatten(args: list[Value], fctx: FunctionContext) -> Value:
    value = args[0]
    if not value.type.is_sequence:
        raise FunctionError("can only flatten lists, sets and tuples", 0)
    if not value.is_known:
        return unknown(DYNAMIC)
    out: list[Value] = []
    if not _flatten_into(value, out):
        return unknown(DYNAMIC)
    return tuple_value(out)


def _index(args: list[Value], fctx: FunctionContext) -> Value:
    lst, wanted = args
    if not isinstance(lst.type, (ListType, TupleType)):
        raise FunctionError("argument must be a list or tuple", 0)
    if not lst.is_known:
        return unknown(NUMBER)
    elems = lst.elements()
    if not elems:
        raise FunctionError("cannot search an empty list", 0)
    for position, elem in enumerate(elems):
        equal = _equal(elem, wanted)
        if equal is None:
            return unknown(NUMBER)
        if equal:
            return number(position)
    raise FunctionError("item not found")


def _mapping(value: Value, index: int = 0) -> dict[str, Value]:
    if not value.type.is_mapping:
        raise FunctionError(f"must have map or object type, not {value.type.friendly()}", index)
    return value.items()


def _keys(args: list[Value], fctx: FunctionContext) -> Value:
    value = args[0]
    from bakehouse.hcl.values import string

    if isinstance(value.type, ObjectType):
        return tuple_value(string(k) for k in value.type.attributes)
    if not value.is_known:
        return unknown(ListType(STRING))
    return list_value([string(k) for k in _mapping(value)], STRING)


def _values(args: list[Value], fctx: FunctionContext) -> Value:
    value = args[0]
    if isinstance(value.type, ObjectType):
        if not value.is_known:
            return unknown(TupleType(value.type.attributes.values()))
        return tuple_value(value.items().values())
    if isinstance(value.type, MapType):
        if not value.is_known:
            return unknown(ListType(value.type.element))
        return list_value(list(value.items().values()), value.type.element)
    raise FunctionError(f"values() requires a map or object, not {value.type.friendly()}", 0)


def _lookup(args: list[Value], fctx: FunctionContext) -> Value:
    mapping, key_value, default = args[0], args[1], args[2]
    if not mapping.type.is_mapping:
        raise FunctionError("lookup() requires a map as the first argument", 0)
    is_map = isinstance(mapping.type, MapType)
    if is_map and default.is_known:
        # cty checks the default against the map's element type before looking.
        try:
            converted_default = convert(default, mapping.type.element)  # type: ignore[attr-defined]
        except ConversionError:
            raise FunctionError(
                "the default value must have the same type as the map elements", 2
            ) from None
    else:
        # An object's attributes need not share a type: the default keeps its own.
        converted_default = default
    if not mapping.is_known or not key_value.is_known:
        return unknown(DYNAMIC)
    found = mapping.items().get(key_value.as_str())
    return found if found is not None else converted_default


def _merge(args: list[Value], fctx: FunctionContext) -> Value:
    merged: dict[str, Value] = {}
    all_maps = True
    for i, arg in enumerate(args):
        if arg.is_null:
            continue
        if not arg.type.is_mapping:
            raise FunctionError(f"arguments must be maps or objects, got {arg.type.friendly()}", i)
        if not arg.is_known:
            return unknown(DYNAMIC)
        if not isinstance(arg.type, MapType):
            all_maps = False
        merged.update(arg.items())
    # As cty: maps that all have the same type merge into a map; anything else is an object.
    map_types = {a.type for a in args if not a.is_null}
    if all_maps and len(map_types) == 1:
        (map_type,) = map_types
        return map_value(merged, map_type.element)  # type: ignore[attr-defined]
    return object_value(merged)


def _range(args: list[Value], fctx: FunctionContext) -> Value:
    nums = [a.as_number() for a in args]
    if len(nums) == 0:
        raise FunctionError("no arguments provided")
    if len(nums) > 3:
        raise FunctionError("too many arguments")
    if len(nums) == 1:
        start, end = Decimal(0), nums[0]
        step = Decimal(1) if end >= start else Decimal(-1)
    elif len(nums) == 2:
        start, end = nums
        step = Decimal(1) if end >= start else Decimal(-1)
    else:
        start, end, step = nums
    if step == 0:
        raise FunctionError("step must not be zero", 2)
    if start < end and step < 0:
        raise FunctionError("step must be positive when start is less than limit", 2)
    if start > end and step > 0:
        raise FunctionError("step must be negative when start is greater than limit", 2)
    out: list[Value] = []
    current = start
    while (current < end) if step > 0 else (current > end):
        if len(out) >= _MAX_RANGE:
            raise FunctionError(
                f"more than {_MAX_RANGE} values were generated; either decrease the difference "
                "between start and end or use a smaller step"
            )
        out.append(number(current))
        current += step
    return list_value(out, NUMBER)


def _reverse(args: list[Value], fctx: FunctionContext) -> Value:
    value = args[0]
    elems = _sequence(value, "the argument")
    reversed_elems = list(reversed(elems))
    if isinstance(value.type, TupleType):
        return tuple_value(reversed_elems)
    return list_value(reversed_elems, value.type.element)  # type: ignore[attr-defined]


def _set_args(args: list[Value]) -> tuple[Type, list[Value]]:
    element_type = unify([a.type.element for a in args])  # type: ignore[attr-defined]
    if element_type is None:
        raise FunctionError("given sets must all have compatible element types")
    try:
        return element_type, [convert(a, SetType(element_type)) for a in args]
    except ConversionError as exc:
        raise FunctionError(exc.message) from None


def _setintersection(args: list[Value], fctx: FunctionContext) -> Value:
    element_type, sets = _set_args(args)
    if not all(s.is_wholly_known for s in sets):
        return unknown(SetType(element_type))
    result = [
        e
        for e in sets[0].elements()
        if all(any(_equal(e, o) for o in other.elements()) for other in sets[1:])
    ]
    return set_value(result, element_type)


def _setunion(args: list[Value], fctx: FunctionContext) -> Value:
    element_type, sets = _set_args(args)
    if not all(s.is_wholly_known for s in sets):
        return unknown(SetType(element_type))
    return set_value([e for s in sets for e in s.elements()], element_type)


def _setproduct(args: list[Value], fctx: FunctionContext) -> Value:
    if len(args) < 2:
        raise FunctionError("at least two arguments are required")
    element_types: list[Type] = []
    any_set = False
    for i, arg in enumerate(args):
        t = arg.type
        if isinstance(t, SetType):
            any_set = True
            element_types.append(t.element)
        elif isinstance(t, ListType):
            element_types.append(t.element)
        elif isinstance(t, TupleType):
            unified = unify(t.elements) if t.elements else DYNAMIC
            if unified is None:
                raise FunctionError("all elements of a tuple must have the same type", i)
            element_types.append(unified)
        else:
            raise FunctionError(f"a set or a list is required, not {t.friendly()}", i)
    product_type = TupleType(element_types)
    if not all(a.is_wholly_known for a in args):
        return unknown(SetType(product_type) if any_set else ListType(product_type))
    columns: list[list[Value]] = []
    for arg, et in zip(args, element_types, strict=False):
        try:
            columns.append([convert(e, et) for e in arg.elements()])
        except ConversionError as exc:
            raise FunctionError(exc.message) from None
    total = 1
    for column in columns:
        total *= len(column)
    if total > _MAX_PRODUCT:
        raise FunctionError(
            f"the product would have {total} elements; at most {_MAX_PRODUCT} are allowed"
        )
    rows: list[list[Value]] = [[]]
    for column in columns:
        rows = [row + [e] for row in rows for e in column]
    tuples = [tuple_value(row) for row in rows] if all(columns) else []
    if any_set:
        return set_value(tuples, product_type)
    return list_value(tuples, product_type)


def _slice(args: list[Value], fctx: FunctionContext) -> Value:
    value = args[0]
    if not isinstance(value.type, (ListType, TupleType)):
        raise FunctionError("must be a list or tuple value", 0)
    start = whole_number(args[1], "start index", 1)
    end = whole_number(args[2], "end index", 2)
    if start < 0:
        raise FunctionError("from index must be greater than or equal to 0", 1)
    if not value.is_known:
        return unknown(value.type if isinstance(value.type, ListType) else DYNAMIC)
    elems = value.elements()
    if end > len(elems):
        raise FunctionError("end index must not be greater than the length of the list", 2)
    if start > end:
        raise FunctionError("from index must be less than or equal to end index", 1)
    if isinstance(value.type, TupleType):
        return tuple_value(elems[start:end])
    return list_value(elems[start:end], value.type.element)


def _sort(args: list[Value], fctx: FunctionContext) -> Value:
    elems = args[0].elements()
    texts: list[str] = []
    for elem in elems:
        if not elem.is_known:
            return unknown(ListType(STRING))
        if elem.is_null:
            raise FunctionError("given list element is null; a null value cannot be sorted", 0)
        texts.append(elem.as_str())
    from bakehouse.hcl.values import string

    return list_value([string(t) for t in sorted(texts)], STRING)


def _sum(args: list[Value], fctx: FunctionContext) -> Value:
    value = args[0]
    if not (value.type.is_sequence or value.type.is_mapping):
        raise FunctionError("cannot sum noniterable", 0)
    if not value.type.is_sequence:
        raise FunctionError(
            f"argument must be list, set, or tuple. Received {value.type.friendly()}", 0
        )
    elems = value.elements()
    if not elems:
        raise FunctionError("cannot sum an empty list", 0)
    total = Decimal(0)
    for elem in elems:
        if not elem.is_known:
            return unknown(NUMBER)
        try:
            if elem.is_null:
                raise ConversionError("null")
            addend = convert(elem, NUMBER).as_number()
        except ConversionError:
            raise FunctionError(
                "argument must be list, set, or tuple of number values", 0
            ) from None
        if total.is_infinite() and addend.is_infinite() and total != addend:
            raise FunctionError("can't compute sum of opposing infinities")
        total = DecimalContext.add(total, addend)
    return number(total)


def _zipmap(args: list[Value], fctx: FunctionContext) -> Value:
    keys, values = args
    if not isinstance(values.type, (ListType, TupleType)):
        raise FunctionError("values must be a list or tuple", 1)
    if not keys.is_wholly_known or not values.is_known:
        return unknown(DYNAMIC)
    key_elems, value_elems = keys.elements(), values.elements()
    if len(key_elems) != len(value_elems):
        raise FunctionError(
            f"number of keys ({len(key_elems)}) does not match number of values ({len(value_elems)})"
        )
    pairs: dict[str, Value] = {}
    for k, v in zip(key_elems, value_elems, strict=False):
        if k.is_null:
            raise FunctionError("keys list has null value", 0)
        pairs[k.as_str()] = v
    if isinstance(values.type, TupleType):
        return object_value(pairs)
    return map_value(pairs, values.type.element)


ANY_LIST = ListType(DYNAMIC)
FUNCTIONS: dict[str, Function] = {
    "alltrue": define([p("list", ListType(BOOL))], _alltrue, returns=BOOL),
    "anytrue": define([p("list", ListType(BOOL))], _anytrue, returns=BOOL),
    "chunklist": define([p("list", ANY_LIST), p("size", NUMBER)], _chunklist),
    "coalesce": define([], _coalesce, var_param=p("vals", null=True, unknown_ok=True)),
    "coalescelist": define([], _coalescelist, var_param=p("vals", null=True, unknown_ok=True)),
    "compact": define([p("list", ListType(STRING))], _compact, returns=ListType(STRING)),
    "concat": define([], _concat, var_param=p("seqs", unknown_ok=True)),
    "contains": define(
        [p("list", unknown_ok=True), p("value", unknown_ok=True, null=True)],
        _contains,
        returns=BOOL,
    ),
    "distinct": define([p("list", ANY_LIST)], _distinct),
    "element": define([p("list", unknown_ok=True), p("index", NUMBER)], _element),
    "flatten": define([p("list", unknown_ok=True)], _flatten),
    "index": define([p("list", unknown_ok=True), p("value", null=True)], _index, returns=NUMBER),
    "keys": define([p("inputMap", unknown_ok=True)], _keys),
    "lookup": define(
        [
            p("inputMap", unknown_ok=True),
            p("key", STRING, unknown_ok=True),
            p("default", null=True, unknown_ok=True),
        ],
        _lookup,
    ),
    "merge": define([], _merge, var_param=p("maps", null=True, unknown_ok=True)),
    "range": define([], _range, var_param=p("params", NUMBER), returns=ListType(NUMBER)),
    "reverse": define([p("list")], _reverse),
    "setintersection": define(
        [p("first_set", SetType(DYNAMIC))],
        _setintersection,
        var_param=p("other_sets", SetType(DYNAMIC)),
    ),
    "setproduct": define([], _setproduct, var_param=p("sets")),
    "setunion": define(
        [p("first_set", SetType(DYNAMIC))], _setunion, var_param=p("other_sets", SetType(DYNAMIC))
    ),
    "slice": define(
        [p("list", unknown_ok=True), p("start_index", NUMBER), p("end_index", NUMBER)], _slice
    ),
    "sort": define([p("list", ListType(STRING))], _sort, returns=ListType(STRING)),
    "sum": define([p("list")], _sum, returns=NUMBER),
    "values": define([p("mapping", unknown_ok=True)], _values),
    "zipmap": define([p("keys", ListType(STRING)), p("values", unknown_ok=True)], _zipmap),
}
