"""Options checked without pydantic (bakehouse.sdk.plain) against their model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest
from bakehouse.sdk.config import Config, ConfigError, unsupported
from bakehouse.sdk.plain import parse_plain, plain_mismatches
from pydantic import Field


class Model(Config):
    name: str = "x"
    sizes: list[int] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    note: str | None = None


@dataclass
class Options:
    name: str = "x"
    sizes: list[int] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    note: str | None = None


def test_plainly_valid_arguments_do_not_go_through_the_model() -> None:
    asked: list[str] = []

    def model() -> type[Config]:
        asked.append("model")
        return Model

    options = parse_plain(Options, {"name": "a", "sizes": [1, 2], "labels": {"k": "v"}}, model)
    assert options == Options("a", [1, 2], {"k": "v"})
    assert asked == []
    # A value the model converts ("3" -> 3) or refuses goes through it.
    assert parse_plain(Options, {"sizes": ["3"]}, model) == Options(sizes=[3])
    with pytest.raises(ConfigError) as info:
        parse_plain(Options, {"nmae": "a"}, model)
    assert [p.path for p in info.value.problems] == [("nmae",)]
    assert "Did you mean 'name'?" in info.value.problems[0].message
    assert asked == ["model", "model"]


def test_mismatches_are_found() -> None:
    assert plain_mismatches(Options, Model) == []

    class Other(Config):
        name: int = 1
        sizes: list[int] = Field(default_factory=lambda: [1])
        labels: dict[str, str] = Field(default_factory=dict, alias="tags")
        extra_one: str = ""
        refused: str | None = unsupported("not here")

    problems = plain_mismatches(Options, Other)
    assert any(p.startswith("name: type") for p in problems), problems
    assert any(p.startswith("sizes: default") for p in problems), problems
    assert any(p.startswith("labels: aliased") for p in problems), problems
    assert "extra_one: only in the model" in problems
    assert "note: only in the dataclass" in problems
    assert "refused: only in the model" in problems


@dataclass
class Transfer:
    destination: str
    direction: Literal["up", "down"] = "up"
    source: str = ""


class TransferModel(Config):
    destination: str
    direction: Literal["up", "down"] = "up"
    source: str = ""


def test_required_fields_choices_and_rules_across_options() -> None:
    asked: list[str] = []

    def model() -> type[Config]:
        asked.append("model")
        return TransferModel

    assert plain_mismatches(Transfer, TransferModel) == []
    assert parse_plain(Transfer, {"destination": "/x", "direction": "down"}, model) == Transfer("/x", "down")
    assert asked == []
    with pytest.raises(ConfigError) as info:
        parse_plain(Transfer, {"direction": "down"}, model)  # the required one is missing
    assert [p.path for p in info.value.problems] == [("destination",)]
    with pytest.raises(ConfigError) as info:
        parse_plain(Transfer, {"destination": "/x", "direction": "sideways"}, model)
    assert [p.path for p in info.value.problems] == [("direction",)]
    # A rule across options the plain way does not accept: the model decides.
    assert parse_plain(Transfer, {"destination": "/x"}, model, accept=lambda t: bool(t.source)) == Transfer("/x")
    assert asked == ["model", "model", "model"]

    class Optional(Config):
        destination: str = ""
        direction: Literal["up", "down"] = "up"
        source: str = ""

    assert plain_mismatches(Transfer, Optional) == ["destination: required only in the dataclass"]
