"""Option rows generated from a config schema (``bakehouse plugins docs``)."""

from __future__ import annotations

import re
from typing import Literal

import pydantic
from bakehouse.sdk import Config
from bakehouse.sdk.docs import markdown_table, option_rows


class Inner(Config):
    path: str


class Example(Config):
    image: str = pydantic.Field(description="The image to start from.\n  Pulled first.")
    pull: bool = True
    changes: list[str] = []
    labels: dict[str, str] = {}
    mode: Literal["ssh", "none"] = "ssh"
    retries: int = 3
    build: Inner | None = None
    windows_container: bool = pydantic.Field(
        False, json_schema_extra={"status": "unsupported", "note": "Linux containers only."})
    tag: str = pydantic.Field("", alias="tag_name")


def test_rows_name_type_default_status_and_note_of_every_option() -> None:
    rows = {row["name"]: row for row in option_rows(Example)}
    assert list(rows) == sorted(rows)
    assert rows["image"] == {"name": "image", "type": "string", "required": True, "default": "required",
                             "status": "supported", "note": "The image to start from. Pulled first."}
    assert (rows["pull"]["type"], rows["pull"]["default"]) == ("bool", "true")
    assert (rows["changes"]["type"], rows["changes"]["default"]) == ("list(string)", "")
    assert rows["labels"]["type"] == "map(string)"
    assert (rows["mode"]["type"], rows["mode"]["default"]) == ('"ssh" | "none"', '"ssh"')
    assert (rows["retries"]["type"], rows["retries"]["default"]) == ("number", "3")
    assert rows["build"]["type"] == "block"
    # a block's own options follow it, named as a template nests them
    assert (rows["build.path"]["type"], rows["build.path"]["default"]) == ("string", "required")
    assert list(rows).index("build.path") == list(rows).index("build") + 1
    assert (rows["windows_container"]["status"], rows["windows_container"]["note"]) == (
        "unsupported", "Linux containers only.")
    assert "tag_name" in rows and "tag" not in rows  # templates spell the alias


def test_markdown_table_escapes_pipes_inside_cells() -> None:
    table = markdown_table(option_rows(Example))
    lines = table.splitlines()
    assert lines[0] == "| option | type | default | status | note |"
    assert '| `mode` | "ssh" \\| "none" | "ssh" | supported |  |' in lines
    assert all(len(re.split(r"(?<!\\)\|", line)) == 7 for line in lines), table
