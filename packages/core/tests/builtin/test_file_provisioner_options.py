"""The ``file`` provisioner checks plainly valid options without pydantic (the
core runs it in-process); the model ``plugins docs`` shows and mistakes are
reported with must accept and refuse the same."""

from __future__ import annotations

from typing import Any

import pytest
from bakehouse.builtin.file_provisioner import FileProvisioner
from bakehouse.sdk.config import ConfigError, parse_config
from bakehouse.testing import parsed_both_ways


def test_the_documented_model_has_the_options_and_their_rule() -> None:
    model = FileProvisioner.documented_schema()
    assert model is FileProvisioner.documented_schema()  # made once
    assert list(model.model_fields) == ["destination", "source", "sources", "content", "direction", "generated"]
    assert model.model_fields["destination"].is_required()
    assert model.model_fields["direction"].default == "upload"
    with pytest.raises(ConfigError) as info:  # the rule across inputs is the model's too
        parse_config(model, {"destination": "/x"})
    assert "one of source, sources or content must be set" in info.value.problems[0].message.lower()


@pytest.mark.parametrize(
    "raw",
    [
        {"source": "a.txt", "destination": "/x"},
        {"sources": ["a", "b"], "destination": "/dir/", "generated": True},
        {"content": "text", "destination": "/x"},
        {"source": "/var/log/", "destination": "logs", "direction": "download"},
        {"source": "a", "destination": "/x", "direction": "sideways"},
        {"source": "a", "destination": "/x", "direction": 1},
        {"source": "a"},
        {"destination": "/x"},
        {"source": "a", "content": "b", "destination": "/x"},
        {"sources": ["a"], "destination": "/not-a-dir"},
        {"content": "x", "destination": "/x", "direction": "download"},
        {"source": "a", "destination": "/x", "generated": "true"},  # the model converts
        {"source": "a", "destination": "/x", "destinaton": "/y"},
        {"source": None, "destination": "/x"},
    ],
)
def test_plain_options_and_the_model_agree(raw: dict[str, Any]) -> None:
    got, expected = parsed_both_ways(FileProvisioner()._parse, FileProvisioner.documented_schema(), raw)
    assert got == expected
