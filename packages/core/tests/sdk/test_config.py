"""Config schemas: every mistake becomes a ConfigProblem with a path and a
sentence, with a suggestion for a misspelt argument."""

from __future__ import annotations

import pytest
from bakehouse.sdk import Config, ConfigError, parse_config, parse_duration


class Inner(Config):
    volume_size: int = 8
    device_name: str


class Outer(Config):
    image: str
    changes: list[str] = []
    block_devices: list[Inner] = []


def test_unknown_argument_is_reported_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(Outer, {"image": "x", "chagnes": []})
    (problem,) = err.value.problems
    assert problem.path == ("chagnes",)
    assert problem.message == "An argument named 'chagnes' is not expected here. Did you mean 'changes'?"


def test_suggestion_comes_from_the_nested_block() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(Outer, {"image": "x", "block_devices": [{"device_name": "a", "volume_sise": 1}]})
    (problem,) = err.value.problems
    assert problem.path == ("block_devices", 0, "volume_sise")
    assert problem.message.endswith("Did you mean 'volume_size'?")


def test_no_suggestion_when_nothing_is_close() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(Outer, {"image": "x", "zzz": 1})
    assert "Did you mean" not in err.value.problems[0].message


def test_every_problem_is_collected() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(Outer, {"changes": "not-a-list", "extra": 1})
    paths = sorted(p.path for p in err.value.problems)
    assert paths == [("changes",), ("extra",), ("image",)]
    missing = next(p for p in err.value.problems if p.path == ("image",))
    assert missing.message == "The argument 'image' is required, but no definition was found."


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0), ("0", 0.0), (5, 5.0)],
)
def test_parse_duration_accepts_go_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["abc", "10x", "1m junk", "-"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)
