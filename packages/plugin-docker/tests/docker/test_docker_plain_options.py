"""The docker builder and docker-tag take plainly valid options without pydantic
(a docker build prepares both before its container is created): their
dataclasses are made from the models ``plugins docs`` shows and mistakes are
reported with, and both ways accept and refuse the same, with the same values."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from bakehouse.sdk import BuildInfo, SSHConfig
from bakehouse.sdk.plain import dataclass_source
from bakehouse.testing import parsed_both_ways
from bakehouse_plugin_docker import options, tag
from bakehouse_plugin_docker.builder import DockerBuilder
from bakehouse_plugin_docker.config import DockerBuilderConfig
from bakehouse_plugin_docker.options import (
    describe_for_log,
    over_ssh,
    parse_docker_options,
)
from bakehouse_plugin_docker.post_processors import DockerTagConfig
from bakehouse_plugin_docker.tag import DockerTagOptions, DockerTagPostProcessor

BUILD = BuildInfo(name="t", builder_type="docker")


def test_the_dataclasses_are_made_from_the_documented_models() -> None:
    """Regenerate with dataclass_source(Model, "Name") when a model changes."""
    assert dataclass_source(DockerBuilderConfig, "DockerOptions") in inspect.getsource(options)
    assert dataclass_source(DockerTagConfig, "DockerTagOptions") in inspect.getsource(tag)
    assert DockerBuilder.documented_schema() is DockerBuilderConfig
    assert DockerTagPostProcessor.documented_schema() is DockerTagConfig
    # Every SSH option (their checks are the SDK's) sends the block through the model.
    assert all(over_ssh(name) for name in SSHConfig.model_fields if name != "communicator")


@pytest.mark.parametrize(
    "raw",
    [
        {"image": "busybox", "pull": False, "commit": True},
        {"image": "busybox", "discard": True, "changes": ["CMD [\"sh\"]"], "volumes": {"/a": "/b"},
         "run_command": ["-d", "--", "{{.Image}}"], "communicator": "none", "docker_path": "docker"},
        {"image": "busybox", "commit": True, "communicator": "ssh"},
        {"image": "busybox", "commit": True, "communicator": "winrm"},
        {"image": "busybox", "commit": True, "ssh_port": 0},
        {"image": "busybox", "commit": True, "ssh_username": "u", "ssh_wait_timeout": "1m"},
        {"image": "busybox", "commit": True, "pause_before_connecting": "soon"},
        {"image": "busybox", "commit": "yes"},
        {"image": "busybox", "commit": True, "pull": "false"},
        {"image": "busybox", "commit": True, "winrm_username": "admin"},
        {"image": "busybox", "commit": True, "winrm_username": None, "windows_container": False},
        {"image": "busybox", "commit": True, "aws_force_use_public_ecr": True},
        {"commit": True, "build": [{"path": "Dockerfile", "pull": False}]},
        {"commit": True, "build": None},
        {"image": "busybox", "commit": True, "cap_add": ["NET_ADMIN", 1]},
        {"image": "busybox", "commit": True, "volumes": {"/a": 1}},
        {"image": "busybox", "commit": True, "imgae": "typo"},
        {"image": 3},
    ],
)
def test_builder_options_either_way_agree(raw: dict[str, Any]) -> None:
    """Dumped as the build's log shows them: the build block too (it stays the
    model's DockerfileBuild), the model itself for a build over SSH; the log
    hides the password."""
    got, expected = parsed_both_ways(
        parse_docker_options, DockerBuilderConfig, raw,
        dump=lambda options: {**describe_for_log(options), "login_password": raw.get("login_password", "")})
    assert got == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"repository": "bench/x", "tags": ["a", "b.1"], "force": True},
        {"repository": "bench/x"},
        {"repository": "bench/x", "tag": "old"},  # the model makes it a list
        {"repository": "bench/x:v1"},
        {"repository": "Bench/x"},
        {"repository": "bench/x", "tags": ["-bad"]},
        {"repository": "bench/x", "tag": ["ok", ".bad"]},
        {"tags": ["a"]},
        {"repository": "bench/x", "tags": "a"},
        {"repository": "bench/x", "forse": True},
    ],
)
def test_tag_options_either_way_agree(raw: dict[str, Any]) -> None:
    def plain(raw: dict[str, Any]) -> DockerTagOptions:
        post_processor = DockerTagPostProcessor()
        post_processor.prepare(raw, BUILD)
        return post_processor.config

    got, expected = parsed_both_ways(plain, DockerTagConfig, raw)
    assert got == expected
