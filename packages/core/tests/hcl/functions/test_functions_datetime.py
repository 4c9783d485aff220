"""Date and time functions; clocks are injected through FunctionContext.extra."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bakehouse.hcl.function import FunctionContext
from bakehouse.hcl.values import to_python
from fnsupport import error_of

REF = "2006-01-02T15:04:05Z"


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("YYYY-MM-DD", "2006-01-02"),
        ("EEE, MMM D ''YY", "Mon, Jan 2 '06"),
        ("EEEE MMMM", "Monday January"),
        ("h:m:s hh:mm:ss", "15:4:5 15:04:05"),
        ("H HH AA aa", "3 03 PM pm"),
        ("ZZZ ZZZZ ZZZZZ Z", "UTC +0000 +00:00 Z"),
        ("YYYY-MM-DD'T'hh:mm:ssZ", "2006-01-02T15:04:05Z"),
        ("'it''s' D", "it's 2"),
        ("[YYYY]", "[2006]"),
    ],
)
def test_formatdate(call, spec: str, want: str) -> None:
    assert call("formatdate", spec, REF).as_str() == want


def test_formatdate_keeps_the_offset(call) -> None:
    assert (
        call("formatdate", "h:mm AA ZZZZZ Z ZZZ", "2006-01-02T00:04:05-07:30").as_str()
        == "0:04 AM -07:30 -07:30 -0730"
    )


@pytest.mark.parametrize(
    ("spec", "stamp", "reason"),
    [
        ("Y", REF, "year must"),
        ("X", REF, "invalid date format verb"),
        ("'open", REF, "unterminated literal"),
        ("YYYY", "2017-01-02", "time introducer 'T'"),
        ("YYYY", "2017-02-31T00:00:00Z", "day out of range"),
        ("YYYY", "2017-01-02T25:00:00Z", "hour out of range"),
        ("YYYY", "2017-01-02T00:00:00", "not a valid RFC3339"),
    ],
)
def test_formatdate_errors(call, spec: str, stamp: str, reason: str) -> None:
    assert reason in error_of(call, "formatdate", spec, stamp)


def test_timeadd_uses_go_durations(call) -> None:
    assert call("timeadd", "2017-11-22T00:00:00Z", "1m").as_str() == "2017-11-22T00:01:00Z"
    assert call("timeadd", "2017-11-22T00:00:00Z", "-1h30m").as_str() == "2017-11-21T22:30:00Z"
    assert (
        call("timeadd", "2017-11-22T00:00:00+05:00", "1.5h").as_str() == "2017-11-22T01:30:00+05:00"
    )
    assert call("timeadd", "2017-11-22T00:00:00.5Z", "500ms").as_str() == "2017-11-22T00:00:01Z"
    assert call("timeadd", "2017-11-22T00:00:00Z", "1µs").as_str() == "2017-11-22T00:00:00Z"
    assert 'unknown unit "d"' in error_of(call, "timeadd", "2017-11-22T00:00:00Z", "1d")
    assert "invalid duration" in error_of(call, "timeadd", "2017-11-22T00:00:00Z", "")
    assert "invalid duration" in error_of(call, "timeadd", "2017-11-22T00:00:00Z", "h")


def test_timestamp_reads_the_injected_clock(call) -> None:
    clock = lambda: datetime(2024, 2, 29, 23, 59, 58, 999999, tzinfo=UTC)  # noqa: E731
    assert (
        call("timestamp", fctx=FunctionContext(extra={"clock": clock})).as_str()
        == "2024-02-29T23:59:58Z"
    )
    assert len(call("timestamp").as_str()) == 20


def test_legacy_time_functions_use_the_start_time(call) -> None:
    start = datetime(2023, 7, 25, 23, 43, 16, 123000, tzinfo=UTC)
    fctx = FunctionContext(extra={"start_time": start})
    assert call("legacy_isotime", fctx=fctx).as_str() == "2023-07-25T23:43:16Z"
    assert call(
        "legacy_isotime", "2006-01-02 15:04:05.000 Mon Jan _2 3PM MST", fctx=fctx
    ).as_str() == ("2023-07-25 23:43:16.123 Tue Jul 25 11PM UTC")
    assert call("legacy_strftime", "%Y-%m-%d %H:%M", fctx=fctx).as_str() == "2023-07-25 23:43"
    assert call("legacy_strftime", fctx=fctx).as_str() == "2023-07-25T23:43:16Z"
    assert call("legacy_strftime", "%H:%M:%S%L %a %b %e %j %p %Z %z", fctx=fctx).as_str() == (
        "23:43:16.123 Tue Jul 25 206 PM UTC +0000"
    )
    assert call("legacy_strftime", "%0%1%%%2", fctx=fctx).as_str() == "%0%1%%2"
    assert "too many values" in error_of(call, "legacy_isotime", "a", "b")


def test_rfc3339_parse(call) -> None:
    parsed = to_python(call("rfc3339_parse", "2023-07-25 23:43:16.5+02:00"))
    assert parsed == {
        "year": 2023, "year_day": 206, "day": 25, "month": 7, "month_name": "July", "weekday": 2,
        "weekday_name": "Tuesday", "hour": 23, "minute": 43, "second": 16, "unix": 1690321396,
        "iso_year": 2023, "iso_week": 30,
    }  # fmt: skip
    assert to_python(call("rfc3339_parse", "1996-12-19T16:39:57-08:00"))["unix"] == 851042397
    assert "not a valid RFC3339" in error_of(call, "rfc3339_parse", "2023-07-25")


def test_unix_timestamp_parse(call) -> None:
    parsed = to_python(call("unix_timestamp_parse", 1690328596))
    assert (
        parsed["rfc3339"] == "2023-07-25T23:43:16Z"
        and parsed["iso_week"] == 30
        and parsed["weekday"] == 2
    )
    assert to_python(call("unix_timestamp_parse", 0))["weekday_name"] == "Thursday"
    assert "whole number" in error_of(call, "unix_timestamp_parse", 1.5)
    assert "out of range" in error_of(call, "unix_timestamp_parse", 10**20)
