"""docker-tag, docker-save, docker-import and docker-push in-process, on the
real engine and a real local registry (Debian's docker-registry)."""

from __future__ import annotations

import json
import tarfile
import urllib.request
import uuid
from pathlib import Path

import docker
import pytest
from bakehouse.sdk import BuildInfo, Context
from bakehouse.testing import busybox_rootfs_tar
from bakehouse_plugin_docker.artifact import (
    BUILDER_ID,
    IMPORT_BUILDER_ID,
    TAG_BUILDER_ID,
    ExportArtifact,
    ImageArtifact,
)
from bakehouse_plugin_docker.post_processors import (
    DockerImportPostProcessor,
    DockerPushPostProcessor,
    DockerSavePostProcessor,
    DockerTagPostProcessor,
)
from dockerplugin_support import RecordingUi

pytestmark = pytest.mark.docker

BUILD = BuildInfo(name="pp", builder_type="docker")


def configured(component, **options):
    component.prepare(options, BUILD)
    return component


def test_docker_tag_tags_every_tag_and_forces_keeping_the_input(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources
) -> None:
    source = ImageArtifact(bakehouse_docker.images.get(bakehouse_base_image).id)
    repository = bakehouse_docker_resources.name("tagged")
    for tag in ("1.0", "latest"):
        bakehouse_docker_resources.image(f"{repository}:{tag}")
    ui = RecordingUi()
    result, keep, force = configured(DockerTagPostProcessor(), repository=repository, tags=["1.0", "latest"]).post_process(
        ui, source, Context()
    )
    assert (keep, force) == (True, True)
    assert result is not None and result.builder_id == TAG_BUILDER_ID
    assert result.id == f"{repository}:latest"
    assert result.state("docker_tags") == [f"{repository}:1.0", f"{repository}:latest"]
    assert result.string() == f"Imported Docker image: {repository}:latest"
    assert bakehouse_docker.images.get(f"{repository}:1.0").id == source.id
    assert f"Repository: {repository}:1.0" in ui.text("message")
    result.destroy()
    with pytest.raises(docker.errors.ImageNotFound):
        bakehouse_docker.images.get(f"{repository}:latest")
    assert bakehouse_docker.images.get(f"{repository}:1.0").id == source.id


def test_docker_tag_refuses_an_export_artifact(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Unknown artifact type: packer.docker"):
        configured(DockerTagPostProcessor(), repository="x").post_process(
            RecordingUi(), ExportArtifact(str(tmp_path / "x.tar")), Context()
        )


def test_docker_save_writes_a_loadable_archive_and_hands_the_image_on(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, tmp_path: Path
) -> None:
    reference = bakehouse_docker_resources.image(f"{bakehouse_docker_resources.name('saved')}:v1")
    bakehouse_docker.images.get(bakehouse_base_image).tag(reference)
    path = tmp_path / "out" / "image.tar"
    ui = RecordingUi()
    result, keep, force = configured(DockerSavePostProcessor(), path=str(path)).post_process(
        ui, ImageArtifact(reference, TAG_BUILDER_ID, {"docker_tags": [reference]}), Context()
    )
    size = path.stat().st_size
    assert ui.transfers == {f"Saving {reference}": (size, size)}  # byte progress, ending complete
    assert (keep, force) == (True, False)
    assert result is not None and result.id == reference and result.builder_id == TAG_BUILDER_ID
    assert result.state("docker_tags") == [reference]
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [reference]


def test_docker_import_makes_an_image_from_an_exported_tar_with_changes(
    bakehouse_docker: docker.DockerClient, bakehouse_docker_resources, tmp_path: Path
) -> None:
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(busybox_rootfs_tar())
    repository = bakehouse_docker_resources.name("imported")
    bakehouse_docker_resources.image(f"{repository}:base")
    ui = RecordingUi()
    result, keep, force = configured(
        DockerImportPostProcessor(), repository=repository, tag="base",
        changes=['CMD ["/bin/echo", "imported"]', "ENV FROM_IMPORT=1"],
    ).post_process(ui, ExportArtifact(str(tarball)), Context())
    size = tarball.stat().st_size
    assert ui.transfers == {"Importing rootfs.tar": (size, size)}
    assert (keep, force) == (False, False)
    assert result is not None and result.builder_id == IMPORT_BUILDER_ID
    assert result.id == f"{repository}:base"
    image = bakehouse_docker.images.get(f"{repository}:base")
    assert image.attrs["Config"]["Cmd"] == ["/bin/echo", "imported"]
    assert "FROM_IMPORT=1" in image.attrs["Config"]["Env"]
    assert bakehouse_docker.containers.run(image.id, remove=True) == b"imported\n"


def test_docker_import_refuses_a_committed_image() -> None:
    with pytest.raises(ValueError, match="image is already imported"):
        configured(DockerImportPostProcessor(), repository="x").post_process(
            RecordingUi(), ImageArtifact("sha256:abc"), Context()
        )


def test_docker_push_pushes_every_tag_to_a_local_registry(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_registry: str
) -> None:
    name = f"bakehouse-test/pushed-{uuid.uuid4().hex[:6]}"
    references = [bakehouse_docker_resources.image(f"{bakehouse_registry}/{name}:{tag}") for tag in ("1", "2")]
    for reference in references:
        bakehouse_docker.images.get(bakehouse_base_image).tag(reference)
    artifact = ImageArtifact(references[-1], TAG_BUILDER_ID, {"docker_tags": references})
    ui = RecordingUi()
    result, keep, force = configured(DockerPushPostProcessor()).post_process(ui, artifact, Context())
    assert (keep, force) == (True, False)
    assert result is not None and result.builder_id == IMPORT_BUILDER_ID
    assert result.state("docker_tags") == references
    assert str(result.state("docker_digest")).startswith("sha256:")
    assert result.state("generated_data")["Digest"] == f"{bakehouse_registry}/{name}@{result.state('docker_digest')}"
    with urllib.request.urlopen(f"http://{bakehouse_registry}/v2/{name}/tags/list", timeout=10) as response:
        assert sorted(json.load(response)["tags"]) == ["1", "2"]
    assert f"Pushing: {references[0]}" in ui.text("message")


def test_push_and_pull_report_their_bytes(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_registry: str
) -> None:
    """A layer of random bytes neither the registry nor the engine has yet: the
    push uploads it and the builder's pull downloads it, both as byte progress."""
    from bakehouse_plugin_docker.builder import DockerBuilder
    from dockerplugin_support import FunctionHook, build_info

    container = bakehouse_docker.containers.run(
        bakehouse_base_image, ["sh", "-c", "head -c 2000000 /dev/urandom > /blob"], detach=True)
    bakehouse_docker_resources.container(container.id)
    assert container.wait(timeout=60)["StatusCode"] == 0
    reference = bakehouse_docker_resources.image(f"{bakehouse_registry}/bakehouse-test/bytes-{uuid.uuid4().hex[:6]}:1")
    image = container.commit(*reference.rsplit(":", 1))
    ui = RecordingUi()
    configured(DockerPushPostProcessor()).post_process(ui, ImageArtifact(reference, TAG_BUILDER_ID), Context())
    done, total = ui.transfers[f"Pushing {reference}"]
    assert done == total >= 2_000_000, ui.transfers

    bakehouse_docker.images.remove(image.id, force=True)
    builder = DockerBuilder()
    builder.prepare({"image": reference, "pull": True, "discard": True}, build_info("t-" + uuid.uuid4().hex[:8]))
    ui = RecordingUi()
    assert builder.run(ui, FunctionHook(), Context()) is None
    done, total = ui.transfers[f"Pulling {reference}"]
    assert done == total >= 2_000_000, ui.transfers


def test_docker_push_of_a_bare_image_id_says_to_tag_first(bakehouse_docker: docker.DockerClient, bakehouse_base_image: str) -> None:
    artifact = ImageArtifact(bakehouse_docker.images.get(bakehouse_base_image).id)
    with pytest.raises(ValueError, match="Put a docker-tag post-processor"):
        configured(DockerPushPostProcessor()).post_process(RecordingUi(), artifact, Context())


def test_docker_push_to_an_unreachable_registry_is_an_error_naming_the_image(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources
) -> None:
    from bakehouse_plugin_docker.engine import DockerEngineError

    reference = bakehouse_docker_resources.image(f"127.0.0.1:9/bakehouse-test/nowhere-{uuid.uuid4().hex[:6]}:1")
    bakehouse_docker.images.get(bakehouse_base_image).tag(reference)
    with pytest.raises(DockerEngineError, match=f"Error pushing Docker image {reference}"):
        configured(DockerPushPostProcessor()).post_process(
            RecordingUi(), ImageArtifact(reference, TAG_BUILDER_ID), Context()
        )


def test_docker_push_for_another_platform_than_the_image_is_refused_before_pushing(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources
) -> None:
    from bakehouse_plugin_docker.engine import DockerEngineError

    # Nothing listens on port 9: reaching the push would fail differently.
    reference = bakehouse_docker_resources.image(f"127.0.0.1:9/bakehouse-test/platform-{uuid.uuid4().hex[:6]}:1")
    bakehouse_docker.images.get(bakehouse_base_image).tag(reference)
    actual = "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(
        bakehouse_docker.info()["Architecture"], bakehouse_docker.info()["Architecture"])
    other = "linux/s390x" if actual != "linux/s390x" else "linux/amd64"
    with pytest.raises(DockerEngineError) as caught:
        configured(DockerPushPostProcessor(), platform=other).post_process(
            RecordingUi(), ImageArtifact(reference, TAG_BUILDER_ID), Context()
        )
    assert str(caught.value) == (f"Cannot push {reference} for platform {other}: the image is {actual} "
                                 "(the engine keeps one platform per image)")


def test_export_artifact_ids() -> None:
    artifact = ExportArtifact("/x/y.tar")
    assert artifact.builder_id == BUILDER_ID and artifact.id == "/x/y.tar"


def test_docker_push_and_pull_with_login_options(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_registry_with_login,
    bakehouse_tmpdir, tmp_path: Path,
) -> None:
    """login/login_server/login_username/login_password on a registry that demands them."""
    import base64

    from bakehouse_plugin_docker.builder import DockerBuilder
    from bakehouse_plugin_docker.engine import DockerEngineError
    from dockerplugin_support import FunctionHook, build_info, run_shell

    registry = bakehouse_registry_with_login
    name = f"bakehouse-test/private-{uuid.uuid4().hex[:6]}"
    reference = bakehouse_docker_resources.image(f"{registry.address}/{name}:1")
    bakehouse_docker.images.get(bakehouse_base_image).tag(reference)
    artifact = ImageArtifact(reference, TAG_BUILDER_ID, {"docker_tags": [reference]})
    login = {"login": True, "login_server": registry.address, "login_username": registry.username}

    with pytest.raises(DockerEngineError, match=f"Error pushing Docker image {reference}"):
        configured(DockerPushPostProcessor()).post_process(RecordingUi(), artifact, Context())
    with pytest.raises(DockerEngineError, match=f"Error logging in to {registry.address}"):
        configured(DockerPushPostProcessor(), **login, login_password="wrong").post_process(
            RecordingUi(), artifact, Context()
        )
    configured(DockerPushPostProcessor(), **login, login_password=registry.password).post_process(
        RecordingUi(), artifact, Context()
    )
    request = urllib.request.Request(f"http://{registry.address}/v2/{name}/tags/list")
    token = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["tags"] == ["1"]

    # The builder pulls it back with the same options.
    bakehouse_docker.images.remove(reference)
    builder = DockerBuilder()
    builder.prepare({"image": reference, "pull": True, "discard": True, **login,
                     "login_password": registry.password}, build_info("t-" + uuid.uuid4().hex[:8]))
    seen: list[str] = []
    hook = FunctionHook(provision=[lambda comm, data, ctx: seen.append(run_shell(comm, "echo pulled", ctx)[1])])
    ui = RecordingUi()
    assert builder.run(ui, hook, Context()) is None
    assert seen == ["pulled\n"]
    assert f"Pulling Docker image: {reference}" in ui.text("say")

    # A Dockerfile whose FROM is in that registry: build.pull (true by default)
    # needs the login too, sent with the build request.
    bakehouse_docker.images.remove(reference)
    (tmp_path / "Dockerfile").write_text(f"FROM {reference}\nRUN echo built > /built\n")
    options = {"build": {"path": str(tmp_path / "Dockerfile"), "build_dir": str(tmp_path)}, "discard": True}
    builder = DockerBuilder()
    builder.prepare(options, build_info("t-" + uuid.uuid4().hex[:8]))
    with pytest.raises(DockerEngineError, match="Error building the image"):
        builder.run(RecordingUi(), FunctionHook(), Context())
    builder = DockerBuilder()
    builder.prepare({**options, **login, "login_password": registry.password}, build_info("t-" + uuid.uuid4().hex[:8]))
    seen.clear()
    hook = FunctionHook(provision=[lambda comm, data, ctx: seen.append(run_shell(comm, "cat /built", ctx)[1])])
    assert builder.run(RecordingUi(), hook, Context()) is None
    assert seen == ["built\n"]
