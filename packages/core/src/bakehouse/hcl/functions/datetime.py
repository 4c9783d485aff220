"""Date and time functions.

The clock is injectable for tests: ``fctx.extra["clock"]`` is a callable
returning an aware ``datetime`` (default: now, UTC); ``fctx.extra["start_time"]``
overrides the process start time used by ``legacy_isotime``/``legacy_strftime``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bakehouse.hcl.function import Function, FunctionContext, FunctionError
from bakehouse.hcl.functions._gotime import (
    MONTHS,
    WEEKDAYS,
    GoTime,
    TimeError,
    format_date,
    format_go_layout,
    format_rfc3339,
    format_strftime,
    parse_duration,
    parse_rfc3339,
)
from bakehouse.hcl.functions._util import define, p, whole_number
from bakehouse.hcl.values import NUMBER, STRING, ObjectType, Value, number, object_value, string

# Packer evaluates legacy_isotime/legacy_strftime at the time it started.
PROCESS_START = datetime.now(UTC).replace(microsecond=0)


def _now(fctx: FunctionContext) -> datetime:
    clock: Callable[[], datetime] | None = fctx.extra.get("clock")
    return clock() if clock is not None else datetime.now(UTC)


def _start(fctx: FunctionContext) -> GoTime:
    when: datetime = fctx.extra.get("start_time", PROCESS_START)
    when = when.astimezone(UTC)
    return GoTime(when.replace(microsecond=0), when.microsecond * 1000)


def _formatdate(args: list[Value], fctx: FunctionContext) -> Value:
    try:
        when = parse_rfc3339(args[1].as_str())
    except TimeError as exc:
        raise FunctionError(str(exc), 1) from None
    try:
        return string(format_date(args[0].as_str(), when))
    except TimeError as exc:
        raise FunctionError(str(exc), 0) from None


def _timeadd(args: list[Value], fctx: FunctionContext) -> Value:
    try:
        when = parse_rfc3339(args[0].as_str())
    except TimeError as exc:
        raise FunctionError(str(exc), 0) from None
    try:
        delta = parse_duration(args[1].as_str())
    except TimeError as exc:
        raise FunctionError(str(exc), 1) from None
    return string(format_rfc3339(when.add_nanos(delta)))


def _timestamp(args: list[Value], fctx: FunctionContext) -> Value:
    now = _now(fctx).astimezone(UTC)
    return string(format_rfc3339(GoTime(now.replace(microsecond=0))))


def _legacy_isotime(args: list[Value], fctx: FunctionContext) -> Value:
    if len(args) > 1:
        raise FunctionError(f"too many values, 1 needed: got {len(args)}")
    start = _start(fctx)
    if not args:
        return string(format_rfc3339(start))
    return string(format_go_layout(args[0].as_str(), start))


def _legacy_strftime(args: list[Value], fctx: FunctionContext) -> Value:
    if len(args) > 1:
        raise FunctionError(f"too many values, 1 needed: got {len(args)}")
    start = _start(fctx)
    if not args:
        return string(format_rfc3339(start))
    return string(format_strftime(args[0].as_str(), start))


_FIELDS = {
    "year": NUMBER, "year_day": NUMBER, "day": NUMBER, "month": NUMBER, "month_name": STRING,
    "weekday": NUMBER, "weekday_name": STRING, "hour": NUMBER, "minute": NUMBER, "second": NUMBER,
    "iso_year": NUMBER, "iso_week": NUMBER,
}  # fmt: skip


def _time_object(t: GoTime, extra: dict[str, Value]) -> Value:
    w = t.when
    iso_year, iso_week, _ = w.isocalendar()
    fields = {
        "year": number(w.year),
        "year_day": number(w.timetuple().tm_yday),
        "day": number(w.day),
        "month": number(w.month),
        "month_name": string(MONTHS[w.month - 1]),
        "weekday": number(t.go_weekday),
        "weekday_name": string(WEEKDAYS[t.go_weekday]),
        "hour": number(w.hour),
        "minute": number(w.minute),
        "second": number(w.second),
        "iso_year": number(iso_year),
        "iso_week": number(iso_week),
    }
    fields.update(extra)
    return object_value(fields)


def _rfc3339_parse(args: list[Value], fctx: FunctionContext) -> Value:
    text = args[0].as_str()
    try:
        parsed = parse_rfc3339(text, allow_space=True)
    except TimeError:
        raise FunctionError(f"{text!r} is not a valid RFC3339 timestamp", 0) from None
    return _time_object(parsed, {"unix": number(parsed.unix)})


def _unix_timestamp_parse(args: list[Value], fctx: FunctionContext) -> Value:
    seconds = whole_number(args[0], "the unix timestamp", 0)
    try:
        when = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise FunctionError(f"the unix timestamp {seconds} is out of range", 0) from None
    t = GoTime(when)
    return _time_object(t, {"rfc3339": string(format_rfc3339(t))})


S = STRING
FUNCTIONS: dict[str, Function] = {
    "formatdate": define([p("format", S), p("time", S)], _formatdate, returns=S),
    "legacy_isotime": define([], _legacy_isotime, var_param=p("format", S), returns=S),
    "legacy_strftime": define([], _legacy_strftime, var_param=p("format", S), returns=S),
    "rfc3339_parse": define(
        [p("timestamp", S)], _rfc3339_parse, returns=ObjectType({**_FIELDS, "unix": NUMBER})
    ),
    "timeadd": define([p("timestamp", S), p("duration", S)], _timeadd, returns=S),
    "timestamp": define([], _timestamp, returns=S),
    "unix_timestamp_parse": define(
        [p("timestamp", NUMBER)],
        _unix_timestamp_parse,
        returns=ObjectType({**_FIELDS, "rfc3339": STRING}),
    ),
}
