"""Options checked without pydantic (bakehouse.sdk.plain) against their model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from bakehouse.sdk.config import Config, ConfigError, parse_config, unsupported
from bakehouse.sdk.plain import dataclass_source, options_model, parse_plain
from pydantic import Field


@dataclass
class Options:
    name: str = "x"
    sizes: list[int] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    note: str | None = None


Model = options_model(Options)


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


def test_the_model_of_a_dataclass_has_its_fields_types_and_defaults() -> None:
    model = Model
    assert {name: (info.annotation, info.get_default(call_default_factory=True))
            for name, info in model.model_fields.items()} == {
        "name": (str, "x"), "sizes": (list[int], []), "labels": (dict[str, str], {}), "note": (str | None, None)}
    assert issubclass(model, Config) and model.model_config.get("extra") == "forbid"
    with pytest.raises(ConfigError) as info:
        parse_config(model, {"sizes": "nope"})
    assert [p.path for p in info.value.problems] == [("sizes",)]


@dataclass
class Transfer:
    destination: str
    direction: Literal["up", "down"] = "up"
    source: str = ""


def transfer_rule(transfer: Transfer) -> str | None:
    return "a download needs a source" if transfer.direction == "down" and not transfer.source else None


TransferModel = options_model(Transfer, checks={"source": lambda value: value.strip() if isinstance(value, str) else value},
                              rule=transfer_rule)


def test_required_fields_choices_and_rules_across_options() -> None:
    asked: list[str] = []

    def model() -> type[Config]:
        asked.append("model")
        return TransferModel

    assert TransferModel.model_fields["destination"].is_required()
    assert parse_plain(Transfer, {"destination": "/x", "direction": "down", "source": "s"}, model) == \
        Transfer("/x", "down", "s")
    assert asked == []
    with pytest.raises(ConfigError) as info:
        parse_plain(Transfer, {"direction": "down"}, model)  # the required one is missing
    assert [p.path for p in info.value.problems] == [("destination",)]
    with pytest.raises(ConfigError) as info:
        parse_plain(Transfer, {"destination": "/x", "direction": "sideways"}, model)
    assert [p.path for p in info.value.problems] == [("direction",)]
    # A rule across options the plain way does not accept: the model decides, with the same rule.
    accept = lambda t: transfer_rule(t) is None  # noqa: E731
    with pytest.raises(ConfigError) as info:
        parse_plain(Transfer, {"destination": "/x", "direction": "down"}, model, accept=accept)
    assert "A download needs a source" in info.value.problems[0].message
    # A check converts what the plain way does not take (here: never plain, a padded source still is).
    assert parse_config(TransferModel, {"destination": "/x", "source": " s "}).source == "s"
    assert asked == ["model", "model", "model"]


class HandDeclared(Config):
    """A model declared by hand: a note, a refused option, a nested block."""

    name: str = Field("x", description="a note for the docs")
    mode: Literal["a", "b"] = "a"
    sizes: list[int] = Field(default_factory=lambda: [1, 2])
    refused: Any = unsupported("not here")
    nested: Model | None = None
    required: str


# What dataclass_source(HandDeclared, "Made") writes, as a component keeps it.
MADE = '''@dataclass(kw_only=True)
class Made:
    """HandDeclared's options, made by bakehouse.sdk.plain.dataclass_source: do not edit."""

    name: str = "x"
    mode: Literal["a", "b"] = "a"
    sizes: list[int] = field(default_factory=lambda: [1, 2])
    refused: Any = None
    nested: Any = None
    required: str
'''

# The class itself, from that source: what the test runs is what the function writes.
_made: dict[str, Any] = {"dataclass": dataclass, "field": field, "Any": Any, "Literal": Literal}
exec(compile(MADE, "<dataclass_source>", "exec", dont_inherit=True), _made)  # own __future__ flags
Made = _made["Made"]


def test_a_dataclass_made_from_a_hand_declared_model() -> None:
    """Any fields (a refused option, a nested block) take only None plainly;
    anything else goes through the model, which refuses or converts it."""
    assert dataclass_source(HandDeclared, "Made") == MADE
    asked: list[str] = []

    def model() -> type[Config]:
        asked.append("model")
        return HandDeclared

    assert parse_plain(Made, {"required": "r", "refused": None, "nested": None}, model) == Made(required="r")
    assert asked == []
    with pytest.raises(ConfigError) as info:
        parse_plain(Made, {"required": "r", "refused": "on"}, model)
    assert "not supported by Bakehouse: not here" in info.value.problems[0].message
    made = parse_plain(Made, {"required": "r", "nested": {"name": "n"}}, model)
    assert made.nested.name == "n" and asked == ["model", "model"]
