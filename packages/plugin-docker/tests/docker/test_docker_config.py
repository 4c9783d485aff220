"""The docker builder's option checking (no engine needed): Packer's names and
defaults, and every mistake reported with the path of the attribute."""

from __future__ import annotations

import pytest
from bakehouse.sdk import BuildInfo, ConfigError
from bakehouse_plugin_docker.builder import DockerBuilder
from bakehouse_plugin_docker.post_processors import (
    DockerImportPostProcessor,
    DockerPushPostProcessor,
    DockerTagPostProcessor,
)
from bakehouse_plugin_docker.run_command import DEFAULT_RUN_COMMAND, parse_run_command
from bakehouse_plugin_docker.steps import container_spec

BUILD = BuildInfo(name="t", builder_type="docker")


def prepare(**options: object) -> DockerBuilder:
    builder = DockerBuilder()
    builder.prepare(dict(options), BUILD)
    return builder


def problems(**options: object) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ConfigError) as caught:
        prepare(**options)
    return [(problem.path, problem.message) for problem in caught.value.problems]


def test_defaults_are_packers() -> None:
    config = prepare(image="alpine", commit=True).config
    assert config.pull is True
    assert config.run_command == DEFAULT_RUN_COMMAND
    assert config.fix_upload_owner is True
    spec = container_spec(config, "alpine", "/tmp/x")
    assert spec.binds == ["/tmp/x:/packer-files"]
    assert spec.entrypoint == ["/bin/sh"] and spec.tty and spec.stdin_open
    assert spec.image == "alpine" and spec.command == []


def test_unknown_option_is_reported_with_its_name() -> None:
    found = problems(image="alpine", commit=True, imagee="x")
    assert found == [
        (("imagee",), "An argument named 'imagee' is not expected here. Did you mean 'image'?")
    ]


def test_wrong_type_is_reported_at_the_attribute() -> None:
    found = problems(image="alpine", commit=True, changes="CMD x")
    assert found[0][0] == ("changes",)


@pytest.mark.parametrize(
    "options, path",
    [
        ({"commit": True, "discard": True}, ("discard",)),
        ({"commit": True, "export_path": "x.tar"}, ("export_path",)),
        ({"discard": True, "export_path": "x.tar"}, ("export_path",)),
    ],
)
def test_exactly_one_of_commit_discard_export_path(options: dict[str, object], path: tuple[str]) -> None:
    found = problems(image="alpine", **options)
    assert found[0][0] == path
    assert "Only one of commit, discard and export_path" in found[0][1]


def test_none_of_commit_discard_export_path_is_an_error() -> None:
    found = problems(image="alpine")
    assert found[0][0] == ()
    assert "One of commit, discard or export_path must be set" in found[0][1]


def test_image_is_required() -> None:
    assert problems(commit=True)[0][0] == ("image",)


def test_every_commit_instruction_is_accepted_and_others_are_not() -> None:
    changes = [
        'CMD ["/bin/sh"]', 'ENTRYPOINT ["/bin/sh", "-c"]', "ENV A=1", "EXPOSE 80",
        "LABEL a=b", "ONBUILD RUN true", "USER nobody", 'VOLUME ["/data"]', "WORKDIR /srv",
    ]
    prepare(image="alpine", commit=True, changes=changes)
    found = problems(image="alpine", commit=True, changes=["ENV A=1", "RUN echo no"])
    assert found[0][0] == ("changes", 1)
    assert "RUN is not allowed in changes" in found[0][1]


def test_ecr_login_needs_an_ecr_login_server() -> None:
    prepare(image="alpine", commit=True, ecr_login=True, login_server="123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    assert problems(image="alpine", commit=True, ecr_login=True)[0][0] == ("login_server",)
    found = problems(image="alpine", commit=True, ecr_login=True, login_server="registry.example:5000")
    assert found[0][0] == ("login_server",)
    assert "<account>.dkr.ecr.<region>.amazonaws.com" in found[0][1]


def test_options_that_cannot_work_here_are_refused_by_name() -> None:
    found = problems(image="alpine", commit=True, aws_force_use_public_ecr=True)
    assert found[0][0] == ("aws_force_use_public_ecr",) and "not supported" in found[0][1]
    # Set to their empty value (as Packer templates often leave them), they pass.
    found = problems(image="alpine", commit=True, winrm_username="admin", winrm_use_ssl=False, winrm_port=5986)
    assert [path for path, _ in found] == [("winrm_username",), ("winrm_port",)]
    assert "Linux containers only" in found[0][1]
    found = problems(image="alpine", commit=True, communicator="winrm")
    assert found[0][0] == ("communicator",) and "Windows containers" in found[0][1]
    found = problems(image="alpine", commit=True, windows_container=True)
    assert found[0][0] == ("windows_container",)


def test_docker_path_and_aws_keys_are_accepted_with_a_note() -> None:
    builder = DockerBuilder()
    result = builder.prepare(
        {"image": "alpine", "commit": True, "docker_path": "podman", "aws_profile": "ci", "pty": True}, BUILD
    )
    assert any("docker_path = 'podman' is not run" in w and "Engine API" in w for w in result.warnings)
    assert any("aws_profile is only used with ecr_login" in w for w in result.warnings)
    result = DockerBuilder().prepare(
        {"image": "alpine", "commit": True, "ecr_login": True, "aws_profile": "ci",
         "login_server": "123456789012.dkr.ecr.eu-west-1.amazonaws.com"}, BUILD
    )
    assert result.warnings == []
    assert problems(image="alpine", commit=True, aws_access_key="AKIA")[0][0] == ("aws_secret_key",)


@pytest.fixture
def dockerfile(tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:  # type: ignore[no-untyped-def]
    """``Dockerfile`` in the current directory (a temporary one)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    return "Dockerfile"


def test_build_block_paths_are_checked_when_the_template_is_prepared(dockerfile: str) -> None:
    # As Packer's prepare: a missing Dockerfile or build_dir is named at its line.
    found = problems(build={"path": "missing/Dockerfile", "build_dir": "no-such-dir"}, commit=True)
    assert found == [
        (("build", "path"), "The Dockerfile 'missing/Dockerfile' does not exist or is not a file."),
        (("build", "build_dir"), "build_dir 'no-such-dir' is not a directory."),
    ]
    assert problems(build={"path": "."}, commit=True)[0][0] == ("build", "path")
    prepare(build={"path": dockerfile, "build_dir": "."}, commit=True)


def test_build_block_pulls_by_default_and_top_level_pull_is_replaced(dockerfile: str) -> None:
    builder = DockerBuilder()
    result = builder.prepare({"build": {"path": "Dockerfile", "compress": True}, "commit": True, "pull": True}, BUILD)
    assert builder.config.build is not None
    assert builder.config.build.pull is True and builder.config.build.compress is True
    assert any("replaced by `build.pull`" in w for w in result.warnings)


def test_platform_with_a_build_block_is_build_platform(dockerfile: str) -> None:
    # Packer's rule: the Dockerfile's image is built for build.platform, and the
    # container runs on it.
    found = problems(build={"path": "Dockerfile"}, commit=True, platform="linux/amd64")
    assert found == [(("platform",), "platform cannot be set with a build block: set build.platform instead.")]
    config = prepare(build={"path": "Dockerfile", "platform": "linux/arm64"}, commit=True).config
    assert container_spec(config, "sha256:x", None).platform == "linux/arm64"


def test_build_only_needs_a_build_block_and_no_export(dockerfile: str) -> None:
    assert problems(image="alpine", commit=True, build_only=True)[0][0] == ("build_only",)
    found = problems(build={"path": "Dockerfile"}, export_path="x.tar", build_only=True)
    assert found[0][0] == ("export_path",)


def test_ssh_communicator_needs_a_user_and_credentials() -> None:
    found = problems(image="alpine", commit=True, communicator="ssh")
    assert [path for path, _ in found] == [("ssh_username",), ("communicator",)]
    config = prepare(image="alpine", commit=True, communicator="ssh", ssh_username="admin", ssh_password="pw").config
    assert config.ssh_port == 22 and config.ssh_timeout == "5m"


def test_docker_push_platform_must_be_os_and_arch() -> None:
    DockerPushPostProcessor().prepare({"platform": "linux/arm64/v8"}, BUILD)
    with pytest.raises(ConfigError) as caught:
        DockerPushPostProcessor().prepare({"platform": "amd64"}, BUILD)
    assert caught.value.problems[0].path == ("platform",)


def test_login_needs_credentials() -> None:
    assert problems(image="alpine", commit=True, login=True)[0][0] == ("login",)


def test_unsupported_run_command_flag_points_at_the_item() -> None:
    found = problems(image="alpine", commit=True, run_command=["-d", "--pid=host", "{{.Image}}"])
    assert found[0][0] == ("run_command", 1)
    assert "--pid=host" in found[0][1]


def test_run_command_without_image_is_an_error() -> None:
    assert problems(image="alpine", commit=True, run_command=["-d", "-i"])[0][0] == ("run_command",)


def test_run_command_flags_translate_to_the_engine_request() -> None:
    spec = parse_run_command(
        ["-dit", "-e", "A=1", "--env=B=2", "-u", "1000", "-w/srv", "--label", "x=y",
         "--tmpfs", "/run:size=1m", "--cap-add=NET_ADMIN", "--", "{{ .Image }}", "sleep", "9"],
        "busybox:1",
    )
    assert spec.tty and spec.stdin_open
    assert spec.environment == ["A=1", "B=2"]
    assert spec.user == "1000" and spec.working_dir == "/srv"
    assert spec.labels == {"x": "y"} and spec.tmpfs == {"/run": "size=1m"}
    assert spec.cap_add == ["NET_ADMIN"]
    assert spec.image == "busybox:1" and spec.command == ["sleep", "9"]


def test_builder_options_merge_into_the_run_request() -> None:
    config = prepare(
        image="alpine", commit=True, volumes={"/host": "/in:ro"}, privileged=True,
        cap_add=["SYS_ADMIN"], cap_drop=["MKNOD"], tmpfs=["/scratch"], device=["/dev/null:/dev/nil"],
        platform="linux/amd64", runtime="runc", container_dir="/share",
    ).config
    spec = container_spec(config, "alpine", "/tmp/t")
    assert spec.binds == ["/tmp/t:/share", "/host:/in:ro"]
    assert spec.privileged and spec.cap_add == ["SYS_ADMIN"] and spec.cap_drop == ["MKNOD"]
    assert spec.tmpfs == {"/scratch": ""} and spec.devices == ["/dev/null:/dev/nil"]
    assert spec.platform == "linux/amd64" and spec.runtime == "runc"


def test_post_processor_options() -> None:
    with pytest.raises(ConfigError) as caught:
        DockerTagPostProcessor().prepare({"tags": ["x"]}, BUILD)
    assert caught.value.problems[0].path == ("repository",)
    with pytest.raises(ConfigError) as caught:
        DockerImportPostProcessor().prepare({"repository": "r", "changes": ["RUN x"]}, BUILD)
    assert caught.value.problems[0].path[0] == "changes"
    with pytest.raises(ConfigError) as caught:
        DockerPushPostProcessor().prepare({"ecr_login": True}, BUILD)
    assert caught.value.problems[0].path == ("login_server",)
    tag = DockerTagPostProcessor()
    tag.prepare({"repository": "r", "tag": "old"}, BUILD)
    assert tag.config.tag == ["old"]
