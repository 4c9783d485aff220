"""The docker builder run in-process against the real engine.

A ``FunctionHook`` plays the core: it runs provisioner-like functions against
the builder's communicator. End-to-end runs through the ``bakehouse`` CLI live
in ``tests/e2e/test_docker_*.py``.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest
from bakehouse.sdk import Cancelled, Communicator, Context, FileInfo, Journal, StateBag
from bakehouse.sdk.journal import cleaner_for, journal_root, load_entries
from bakehouse_plugin_docker import cleanup
from bakehouse_plugin_docker.artifact import BUILDER_ID, IMPORT_BUILDER_ID
from bakehouse_plugin_docker.builder import DockerBuilder
from bakehouse_plugin_docker.engine import DockerEngineError
from bakehouse_plugin_docker.steps import StepCommit, StepRunContainer, StepTempDir
from dockerplugin_support import FunctionHook, RecordingUi, build_info, run_shell


def leftover_temp_dirs(directory: Path) -> list[str]:
    """The plugin's temporary directories left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("bakehouse-docker-"))


pytestmark = pytest.mark.docker

ALL_CHANGES = [
    'ENTRYPOINT ["/bin/sh", "-c"]',
    'CMD ["cat /opt/app/hello.txt"]',
    "ENV GREETING=hello BAKED=yes",
    "EXPOSE 8080/tcp",
    "LABEL org.example.baked=by-bakehouse",
    "ONBUILD RUN echo child",
    "USER builder",
    'VOLUME ["/data"]',
    "WORKDIR /opt/app",
]


def make_builder(run_id: str, on_error: str = "cleanup", **options: Any) -> DockerBuilder:
    builder = DockerBuilder()
    builder.prepare(options, build_info(run_id, on_error))
    return builder


def provision_files(tmp_path: Path):
    """A provisioner-like function: file upload, directory upload, shell commands."""
    tree = tmp_path / "site"
    (tree / "sub").mkdir(parents=True)
    (tree / "index.html").write_text("<h1>baked</h1>\n")
    (tree / "sub" / "page.txt").write_text("page\n")

    def provision(communicator: Communicator, data: dict[str, Any], ctx: Context) -> None:
        communicator.upload("/opt/app/hello.txt", io.BytesIO(b"hello from bakehouse\n"), FileInfo(size=21, mode=0o644))
        communicator.upload_dir("/srv/www", str(tree) + "/")
        status, out, err = run_shell(communicator, "echo provisioned > /opt/app/by-shell.txt && echo done && echo warn >&2", ctx)
        assert (status, out, err) == (0, "done\n", "warn\n")

    return provision


def test_commit_with_provisioning_and_every_change(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path, tmp_path: Path
) -> None:
    run_id = "t-" + uuid.uuid4().hex[:10]
    builder = make_builder(
        run_id, image=bakehouse_base_image, pull=False, commit=True, changes=ALL_CHANGES,
        author="Bakehouse Tests <tests@example.invalid>", message="baked in a test",
    )
    hook = FunctionHook(provision=[provision_files(tmp_path)])
    ui = RecordingUi()
    artifact = builder.run(ui, hook, Context())
    assert artifact is not None
    bakehouse_docker_resources.image(artifact.id)

    assert artifact.builder_id == IMPORT_BUILDER_ID
    assert artifact.id.startswith("sha256:")
    assert artifact.string() == f"Imported Docker image: {artifact.id}"
    generated = artifact.state("generated_data")
    container_id = hook.calls[0][1]["ID"]
    assert generated["ImageSha256"] == artifact.id and generated["ID"] == container_id
    assert hook.calls[0][1]["ConnType"] == "docker"

    image = bakehouse_docker.images.get(artifact.id)
    config = image.attrs["Config"]
    assert config["Entrypoint"] == ["/bin/sh", "-c"]
    assert config["Cmd"] == ["cat /opt/app/hello.txt"]
    assert "GREETING=hello" in config["Env"] and "BAKED=yes" in config["Env"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Labels"]["org.example.baked"] == "by-bakehouse"
    assert config["OnBuild"] == ["RUN echo child"]
    assert config["User"] == "builder"
    assert "/data" in config["Volumes"]
    assert config["WorkingDir"] == "/opt/app"
    assert image.attrs["Author"] == "Bakehouse Tests <tests@example.invalid>"
    assert image.attrs["Comment"] == "baked in a test"
    assert image.attrs["Container"] == container_id
    # The run markers are emptied so containers of the image are not build containers.
    assert config["Labels"]["io.bakehouse.managed"] == "" and config["Labels"]["io.bakehouse.run-id"] == ""

    # The image runs as its changes say: CMD through the ENTRYPOINT, as USER, in WORKDIR.
    output = bakehouse_docker.containers.run(artifact.id, remove=True, labels={"test": run_id})
    assert output == b"hello from bakehouse\n"
    output = bakehouse_docker.containers.run(
        artifact.id, ["id -u; pwd; cat by-shell.txt /srv/www/index.html /srv/www/sub/page.txt; ls -ld /opt/app/hello.txt"],
        remove=True,
    ).decode()
    lines = output.splitlines()
    assert lines[:5] == ["1000", "/opt/app", "provisioned", "<h1>baked</h1>", "page"]
    assert " root " in lines[5]  # uploaded as the exec user (root): fix_upload_owner

    assert bakehouse_docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(bakehouse_tmpdir) == []
    assert load_entries(journal_root() / run_id) == []
    says = ui.text("say")
    assert "Committing the container" in says and "Killing the container" in says


def test_export_path_writes_the_provisioned_filesystem(
    bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path, tmp_path: Path
) -> None:
    run_id = "t-" + uuid.uuid4().hex[:10]
    export = tmp_path / "out" / "rootfs.tar"
    builder = make_builder(run_id, image=bakehouse_base_image, pull=False, export_path=str(export))
    artifact = builder.run(RecordingUi(), FunctionHook(provision=[provision_files(tmp_path)]), Context())
    assert artifact is not None
    assert artifact.builder_id == BUILDER_ID
    assert artifact.files == [str(export)]
    assert artifact.string() == f"Exported Docker file: {export}"
    with tarfile.open(export) as tar:
        names = set(tar.getnames())
        assert {"opt/app/hello.txt", "opt/app/by-shell.txt", "srv/www/sub/page.txt", "bin/busybox"} <= names
        hello = tar.extractfile("opt/app/hello.txt")
        assert hello is not None and hello.read() == b"hello from bakehouse\n"
    assert bakehouse_docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(bakehouse_tmpdir) == []
    artifact.destroy()
    assert not export.exists()


def test_discard_leaves_no_image(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path, tmp_path: Path
) -> None:
    run_id = "t-" + uuid.uuid4().hex[:10]
    hook = FunctionHook(provision=[provision_files(tmp_path)])
    artifact = make_builder(run_id, image=bakehouse_base_image, pull=False, discard=True).run(RecordingUi(), hook, Context())
    assert artifact is None
    container_id = hook.calls[0][1]["ID"]
    committed_from_it = [i for i in bakehouse_docker.images.list(all=True) if i.attrs.get("Container") == container_id]
    assert committed_from_it == []
    assert bakehouse_docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(bakehouse_tmpdir) == []


def test_failing_provisioner_removes_container_and_temp_dir_and_runs_cleanup_provisioner(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path
) -> None:
    run_id = "t-" + uuid.uuid4().hex[:10]
    seen_by_cleanup: list[str] = []

    def failing(communicator: Communicator, data: dict[str, Any], ctx: Context) -> None:
        status, _, _ = run_shell(communicator, "exit 7", ctx)
        raise RuntimeError(f"Script exited with non-zero exit status: {status}")

    def cleanup_provisioner(communicator: Communicator, data: dict[str, Any], ctx: Context) -> None:
        seen_by_cleanup.append(run_shell(communicator, "echo cleaning", ctx)[1])

    ui = RecordingUi()
    with pytest.raises(RuntimeError, match="non-zero exit status: 7"):
        make_builder(run_id, image=bakehouse_base_image, pull=False, commit=True).run(
            ui, FunctionHook(provision=[failing], on_cleanup=[cleanup_provisioner]), Context()
        )
    assert seen_by_cleanup == ["cleaning\n"]
    assert "Provisioning step had errors" in ui.text("say")
    assert bakehouse_docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(bakehouse_tmpdir) == []
    assert load_entries(journal_root() / run_id) == []


def test_cancel_mid_provision_stops_the_command_and_removes_everything(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path
) -> None:
    run_id = "t-" + uuid.uuid4().hex[:10]
    ctx = Context()
    started = threading.Event()

    def long_running(communicator: Communicator, data: dict[str, Any], ctx_: Context) -> None:
        started.set()
        run_shell(communicator, "sleep 120", ctx_)

    def cancel_when_sleeping() -> None:
        started.wait(30)
        time.sleep(1.0)
        ctx.cancel("interrupted")

    threading.Thread(target=cancel_when_sleeping, daemon=True).start()
    begin = time.monotonic()
    with pytest.raises(Cancelled):
        make_builder(run_id, image=bakehouse_base_image, pull=False, commit=True).run(
            RecordingUi(), FunctionHook(provision=[long_running]), ctx
        )
    assert time.monotonic() - begin < 30
    assert bakehouse_docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(bakehouse_tmpdir) == []
    assert load_entries(journal_root() / run_id) == []


def test_on_error_abort_keeps_the_container_and_says_how_to_remove_it(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path
) -> None:
    run_id = "t-" + uuid.uuid4().hex[:10]

    def failing(communicator: Communicator, data: dict[str, Any], ctx: Context) -> None:
        run_shell(communicator, "echo evidence > /tmp/evidence", ctx)
        raise RuntimeError("provisioner failed")

    ui = RecordingUi()
    with pytest.raises(RuntimeError, match="provisioner failed"):
        make_builder(run_id, on_error="abort", image=bakehouse_base_image, pull=False, commit=True).run(
            ui, FunctionHook(provision=[failing]), Context()
        )
    kept = bakehouse_docker_resources.build_containers(run_id)
    assert len(kept) == 1
    container = kept[0]
    bakehouse_docker_resources.container(container.id)
    assert container.status == "running"
    assert container.exec_run("cat /tmp/evidence").output == b"evidence\n"
    errors = ui.text("error")
    assert f"docker rm -f {container.id}" in errors
    assert 'Step "StepProvision" failed, aborting...' in errors
    # The journal still lists both, so `bakehouse cleanup` can remove them later.
    kinds = sorted(entry.kind for entry in load_entries(journal_root() / run_id))
    assert kinds == ["docker-container", "docker-temp-dir"]
    cleanup.register()
    for entry in load_entries(journal_root() / run_id):
        cleaner = cleaner_for(entry.kind)
        assert cleaner is not None
        cleaner(entry)
    assert bakehouse_docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(bakehouse_tmpdir) == []


def test_missing_local_image_with_pull_false_is_a_clear_error(bakehouse_docker_resources, bakehouse_tmpdir: Path) -> None:
    run_id = "t-" + uuid.uuid4().hex[:10]
    missing = "bakehouse-test-missing:" + uuid.uuid4().hex[:8]
    with pytest.raises(DockerEngineError, match=f"Image '{missing}' is not on the local Docker engine and pull = false"):
        make_builder(run_id, image=missing, pull=False, commit=True).run(RecordingUi(), FunctionHook(), Context())
    assert leftover_temp_dirs(bakehouse_tmpdir) == []


def test_pull_of_an_unreachable_image_is_an_error_naming_it(bakehouse_docker_resources, bakehouse_tmpdir: Path) -> None:
    run_id = "t-" + uuid.uuid4().hex[:10]
    # Port 9 (discard) on loopback: nothing listens, the pull fails fast.
    reference = "127.0.0.1:9/bakehouse/nothing:1"
    with pytest.raises(DockerEngineError, match="Error pulling Docker image 127.0.0.1:9/bakehouse/nothing:1"):
        make_builder(run_id, image=reference, commit=True).run(RecordingUi(), FunctionHook(), Context())
    assert leftover_temp_dirs(bakehouse_tmpdir) == []


def test_pull_by_default_of_a_local_only_image_says_to_set_pull_false(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path
) -> None:
    # pull is true unless the template says otherwise (Packer's default); an image
    # that exists only on this engine cannot be pulled, and the error says so.
    run_id = "t-" + uuid.uuid4().hex[:10]
    repository = "127.0.0.1:9/bakehouse/local-only"
    tag = uuid.uuid4().hex[:8]
    bakehouse_docker.images.get(bakehouse_base_image).tag(repository, tag)
    bakehouse_docker_resources.image(f"{repository}:{tag}")
    with pytest.raises(DockerEngineError) as caught:
        make_builder(run_id, image=f"{repository}:{tag}", commit=True).run(RecordingUi(), FunctionHook(), Context())
    message = str(caught.value)
    assert message.startswith(f"Error pulling Docker image {repository}:{tag}: "), message
    assert message.endswith(f"(image {repository}:{tag} is present on the engine: set pull = false to build "
                            "from it as it is)"), message
    assert bakehouse_docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(bakehouse_tmpdir) == []


@pytest.mark.parametrize("script", ["echo bye; exit 3", "sleep 0.5; exit 3"], ids=["at-once", "later"])
def test_run_command_that_does_not_keep_the_container_running_is_explained(
    script: str, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path
) -> None:
    run_id = "t-" + uuid.uuid4().hex[:10]

    def late_command(communicator: Communicator, data: dict[str, Any], ctx: Context) -> None:
        time.sleep(1)  # whether the start check or the exec sees it stopped depends on timing
        run_shell(communicator, "true", ctx)

    with pytest.raises(DockerEngineError, match="exit code 3.*run_command must keep it running"):
        make_builder(
            run_id, image=bakehouse_base_image, pull=False, commit=True,
            run_command=["-d", "--entrypoint=/bin/sh", "{{.Image}}", "-c", script],
        ).run(RecordingUi(), FunctionHook(provision=[late_command]), Context())
    assert bakehouse_docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(bakehouse_tmpdir) == []


def test_journal_cleaners_remove_what_a_killed_build_left(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path
) -> None:
    """What `bakehouse cleanup` relies on: entries written before use, cleaners by kind."""
    run_id = "t-" + uuid.uuid4().hex[:10]
    builder = make_builder(run_id, image=bakehouse_base_image, pull=False, commit=True)
    state = StateBag(
        ui=RecordingUi(), ctx=Context(), config=builder.config, build=builder.build,
        journal=Journal(run_id=run_id, plugin="bakehouse-plugin-docker"), image=bakehouse_base_image,
        client=bakehouse_docker,
    )
    # Run the resource-creating steps and never their cleanups, as if killed.
    StepTempDir().run(state)
    StepRunContainer().run(state)
    assert len(bakehouse_docker_resources.build_containers(run_id)) == 1
    assert leftover_temp_dirs(bakehouse_tmpdir) != []

    cleanup.register()
    entries = load_entries(journal_root() / run_id)
    assert sorted(entry.kind for entry in entries) == ["docker-container", "docker-temp-dir"]
    assert all(entry.plugin == "bakehouse-plugin-docker" for entry in entries)
    for entry in entries:
        cleaner = cleaner_for(entry.kind)
        assert cleaner is not None
        cleaner(entry)
        cleaner(entry)  # a second pass finds nothing and does not fail
    assert bakehouse_docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(bakehouse_tmpdir) == []


def test_journal_cleaners_reach_the_engine_the_build_used(
    bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build against DOCKER_HOST=tcp://... killed after its commit: `bakehouse
    cleanup` run where DOCKER_HOST names no engine still removes the container and
    the committed image from the engine that has them (the journal keeps the
    DOCKER_* variables), and the temporary directory from this machine."""
    from bakehouse.testing.servers import docker_engine_relay
    from bakehouse_plugin_docker import engine

    run_id = "t-" + uuid.uuid4().hex[:10]
    with docker_engine_relay() as relay:
        monkeypatch.setenv("DOCKER_HOST", relay.docker_host)
        builder = make_builder(run_id, image=bakehouse_base_image, pull=False, commit=True)
        client = engine.connect()
        state = StateBag(
            ui=RecordingUi(), ctx=Context(), config=builder.config, build=builder.build,
            journal=Journal(run_id=run_id, plugin="bakehouse-plugin-docker"), image=bakehouse_base_image,
            client=client,
        )
        # The resource-creating steps and never their cleanups, as if killed.
        StepTempDir().run(state)
        StepRunContainer().run(state)
        StepCommit().run(state)
        client.close()
        image_id = bakehouse_docker_resources.image(state["image_id"])
        assert len(bakehouse_docker_resources.build_containers(run_id)) == 1

        monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")  # nothing there
        cleanup.register()
        entries = {entry.kind: entry for entry in load_entries(journal_root() / run_id)}
        assert sorted(entries) == ["docker-committed-image", "docker-container", "docker-temp-dir"]
        for kind in ("docker-container", "docker-committed-image"):
            assert entries[kind].details["engine"] == {"DOCKER_HOST": relay.docker_host}
        for entry in entries.values():
            cleaner = cleaner_for(entry.kind)
            assert cleaner is not None
            cleaner(entry)
        assert relay.saw(rf"^DELETE /v[\d.]+/images/{image_id}"), "the image was not removed through its engine"
        assert relay.saw(r"^DELETE /v[\d.]+/containers/"), "the container was not removed through its engine"
    assert bakehouse_docker_resources.build_containers(run_id) == []
    with pytest.raises(docker.errors.ImageNotFound):
        bakehouse_docker_resources.client.images.get(image_id)
    assert leftover_temp_dirs(bakehouse_tmpdir) == []


def test_container_cleaner_refuses_containers_it_did_not_start(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources
) -> None:
    from bakehouse.sdk import JournalEntry

    other = bakehouse_docker.containers.create(bakehouse_base_image, name=bakehouse_docker_resources.name("foreign"))
    bakehouse_docker_resources.container(other.id)
    entry = JournalEntry("bakehouse-plugin-docker", "docker-container", other.name, run_id="t-forged")
    with pytest.raises(DockerEngineError, match="refusing to remove"):
        cleanup.remove_leftover_container(entry)
    other.reload()
    assert other.status == "created"


def test_builder_reads_environment_independent_temp_dir(bakehouse_tmpdir: Path) -> None:
    # The fixture points TMPDIR at a directory of the test's own, which the
    # builder's temporary directory must honour (tests count leftovers there).
    import tempfile

    assert tempfile.gettempdir() == str(bakehouse_tmpdir)
    assert os.environ["TMPDIR"] == str(bakehouse_tmpdir)


def test_build_block_makes_the_base_image_from_a_dockerfile(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_id = "t-" + uuid.uuid4().hex[:10]
    # As Packer's `docker build -f PATH .`: without build_dir the context is the
    # current directory, not the Dockerfile's.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "note.txt").write_text("from the build context\n")
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text(
        f"FROM {bakehouse_base_image}\nARG FLAVOUR=plain\nCOPY note.txt /note.txt\nRUN echo $FLAVOUR > /flavour\n"
    )
    builder = make_builder(
        # as the template hands over `build { ... }`: a list of one object
        run_id, commit=True,
        build=[{"path": "docker/Dockerfile", "arguments": {"FLAVOUR": "spicy"}, "pull": False}],
    )
    seen: list[str] = []

    def read_back(communicator: Communicator, data: dict[str, Any], ctx: Context) -> None:
        seen.append(run_shell(communicator, "cat /note.txt /flavour", ctx)[1])

    ui = RecordingUi()
    artifact = builder.run(ui, FunctionHook(provision=[read_back]), Context())
    assert artifact is not None
    bakehouse_docker_resources.image(artifact.id)
    built = re.search(r"Built image: (sha256:[0-9a-f]+)", ui.text("message"))
    assert built is not None
    bakehouse_docker_resources.image(built.group(1))
    assert seen == ["from the build context\nspicy\n"]
    assert bakehouse_docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(bakehouse_tmpdir) == []


def test_build_only_makes_the_image_from_the_dockerfile_alone_and_discard_removes_it(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {bakehouse_base_image}\nRUN echo only > /only\n")
    build = {"path": str(tmp_path / "Dockerfile"), "build_dir": str(tmp_path), "pull": False}
    run_id = "t-" + uuid.uuid4().hex[:10]
    hook = FunctionHook()
    ui = RecordingUi()
    artifact = make_builder(run_id, commit=True, build_only=True, build=build).run(ui, hook, Context())
    assert artifact is not None
    bakehouse_docker_resources.image(artifact.id)
    assert re.search(r"Built image: (sha256:[0-9a-f]+)", ui.text("message")).group(1) == artifact.id  # type: ignore[union-attr]
    assert bakehouse_docker.containers.run(artifact.id, ["cat", "/only"], remove=True) == b"only\n"
    assert hook.calls == []  # no container, so nothing to provision
    assert leftover_temp_dirs(bakehouse_tmpdir) == []

    # With discard = true, Packer removes the image the Dockerfile made.
    (tmp_path / "Dockerfile").write_text(f"FROM {bakehouse_base_image}\nRUN echo {run_id} > /discarded\n")
    ui = RecordingUi()
    assert make_builder(run_id, discard=True, build=build).run(ui, FunctionHook(), Context()) is None
    built = re.search(r"Built image: (sha256:[0-9a-f]+)", ui.text("message"))
    assert built is not None
    bakehouse_docker_resources.image(built.group(1))
    with pytest.raises(docker.errors.ImageNotFound):
        bakehouse_docker.images.get(built.group(1))
    assert bakehouse_docker_resources.build_containers(run_id) == []


def test_build_block_and_image_are_exclusive() -> None:
    from bakehouse.sdk import ConfigError

    with pytest.raises(ConfigError) as caught:
        make_builder("t-x", image="busybox", commit=True, build={"path": "Dockerfile"})
    assert caught.value.problems[0].path == ("image",)


def test_build_block_form_is_what_templates_write(tmp_path: Path) -> None:
    import subprocess

    from bakehouse.testing import bakehouse_executable

    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    block = '  build {\n    path = "Dockerfile"\n  }\n'
    wrong = '  build {\n    path      = "Dockerfile"\n    arguments = "x"\n  }\n'
    for blocks, expected in (
        (block, "The configuration is valid."),
        (block * 2, "Only one build block is allowed, not 2."),
        # a mistake inside the block is reported at its own line
        (wrong, "on t.pkr.hcl line 4, column 5:\n   4 |     arguments = \"x\"\n"),
    ):
        (tmp_path / "t.pkr.hcl").write_text(
            'source "docker" "d" {\n' + blocks + '  discard = true\n}\nbuild { sources = ["source.docker.d"] }\n'
        )
        result = subprocess.run([bakehouse_executable(), "validate", "t.pkr.hcl"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        assert expected in result.stdout, result.stdout + result.stderr


def test_on_error_run_cleanup_provisioner_runs_it_and_keeps_the_container(
    bakehouse_docker: docker.DockerClient, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_tmpdir: Path
) -> None:
    run_id = "t-" + uuid.uuid4().hex[:10]
    cleaned: list[str] = []

    def failing(communicator: Communicator, data: dict[str, Any], ctx: Context) -> None:
        raise RuntimeError("provisioner failed")

    def cleanup_provisioner(communicator: Communicator, data: dict[str, Any], ctx: Context) -> None:
        cleaned.append(run_shell(communicator, "echo cleaned > /tmp/cleaned; cat /tmp/cleaned", ctx)[1])

    ui = RecordingUi()
    with pytest.raises(RuntimeError, match="provisioner failed"):
        make_builder(run_id, on_error="run-cleanup-provisioner", image=bakehouse_base_image, pull=False, commit=True).run(
            ui, FunctionHook(provision=[failing], on_cleanup=[cleanup_provisioner]), Context()
        )
    assert cleaned == ["cleaned\n"]
    kept = bakehouse_docker_resources.build_containers(run_id)
    assert len(kept) == 1
    bakehouse_docker_resources.container(kept[0].id)
    assert kept[0].exec_run("cat /tmp/cleaned").output == b"cleaned\n"
    assert f"docker rm -f {kept[0].id}" in ui.text("error")
    for path in leftover_temp_dirs(bakehouse_tmpdir):
        import shutil

        shutil.rmtree(bakehouse_tmpdir / path)
