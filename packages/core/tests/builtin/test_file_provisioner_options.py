"""The ``file`` provisioner checks plainly valid options without pydantic (the
core runs it in-process); the model ``plugins docs`` shows and mistakes are
reported with must accept and refuse the same."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from bakehouse.builtin._file_provisioner_config import FileProvisionerConfig
from bakehouse.builtin.file_provisioner import FileOptions, FileProvisioner
from bakehouse.sdk.config import ConfigError, parse_config
from bakehouse.sdk.plain import plain_mismatches


def test_options_checked_without_pydantic_match_the_documented_model() -> None:
    assert plain_mismatches(FileOptions, FileProvisionerConfig) == []
    assert FileProvisioner.documented_schema() is FileProvisionerConfig


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
    try:
        expected: Any = parse_config(FileProvisionerConfig, dict(raw)).model_dump()
    except ConfigError as exc:
        expected = exc.problems
    try:
        got: Any = dataclasses.asdict(FileProvisioner()._parse(dict(raw)))
    except ConfigError as exc:
        got = exc.problems
    assert got == expected
