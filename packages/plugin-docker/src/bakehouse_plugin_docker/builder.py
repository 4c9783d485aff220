"""The ``docker`` builder: a container from an image, provisioned, then kept or exported.

The story of a build, step by step (each step undoes its own work):

1. (``build`` block) build the base image from a Dockerfile (with
   ``build_only``, that image is the result and nothing else runs);
2. create a temporary directory shared with the container (``container_dir``);
3. pull the image (``pull = true``) or check that it is present;
4. start the container, labelled ``io.bakehouse.run-id=<run id>``;
5. connect the docker communicator;
6. run the provision hook (the template's provisioners);
7. commit it to an image, export its filesystem, or discard it.

Then the cleanups run in reverse: the container is killed and removed and the
temporary directory deleted, on success, failure and cancellation alike
(unless ``-on-error=abort`` keeps them for inspection).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bakehouse.sdk import (
    Artifact,
    Builder,
    BuildInfo,
    Cancelled,
    Context,
    Hook,
    Journal,
    PrepareResult,
    Runner,
    StateBag,
    Step,
    Ui,
)

from bakehouse_plugin_docker import engine
from bakehouse_plugin_docker.artifact import ExportArtifact, ImageArtifact
from bakehouse_plugin_docker.options import (
    DockerOptions,
    describe_for_log,
    parse_docker_options,
    validate,
)
from bakehouse_plugin_docker.steps import (
    StepBuildImage,
    StepCommit,
    StepConnect,
    StepExport,
    StepProvision,
    StepPull,
    StepRunContainer,
    StepTempDir,
)

if TYPE_CHECKING:
    from bakehouse_plugin_docker.config import DockerBuilderConfig

log = logging.getLogger("bakehouse.plugin.docker")

PLUGIN_NAME = "bakehouse-plugin-docker"

#: What provisioners can read as ``build.<name>`` (Packer's docker builder set).
GENERATED_NAMES = [
    "ID", "ConnType", "PackerRunUUID", "Host", "Port", "User", "Password",
    "SSHPublicKey", "SSHPrivateKey", "WinRMPassword",
    "PackerHTTPIP", "PackerHTTPPort", "PackerHTTPAddr", "ImageSha256", "SourceImageDigest",
]


class DockerBuilder(Builder):
    """Builds Docker images (``source "docker"``), option-compatible with Packer's."""

    config: DockerOptions | DockerBuilderConfig

    @classmethod
    def documented_schema(cls) -> type[DockerBuilderConfig]:
        from bakehouse_plugin_docker.config import DockerBuilderConfig

        return DockerBuilderConfig

    def _parse(self, raw: dict[str, Any]) -> DockerOptions | DockerBuilderConfig:
        self.config = parse_docker_options(raw)
        return self.config

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> PrepareResult:
        self.build = build
        self._parse(config)
        warnings = validate(self.config, given=config.keys())
        log.debug("docker builder config: %s", describe_for_log(self.config))
        return PrepareResult(generated_names=list(GENERATED_NAMES), warnings=warnings)

    def steps(self) -> list[Step]:
        config = self.config
        steps: list[Step] = []
        if config.build is not None:
            steps.append(StepBuildImage())
        if config.build_only:
            return steps  # the Dockerfile's image is the result: no container
        steps += [StepTempDir(), StepPull(), StepRunContainer(), StepConnect(), StepProvision()]
        if config.commit:
            steps.append(StepCommit())
        elif config.export_path:
            steps.append(StepExport())
        return steps

    def run(self, ui: Ui, hook: Hook, ctx: Context) -> Artifact | None:
        config = self.config
        on_error = self.build.on_error
        state = StateBag(
            ui=ui,
            hook=hook,
            ctx=ctx,
            config=config,
            build=self.build,
            journal=Journal(run_id=self.build.run_id or None, plugin=PLUGIN_NAME),
            image=config.image,
        )
        # A registry login stays in the client that made it (pulls and Dockerfile
        # builds send it): such a build gets a client of its own, closed after.
        own_client = config.login or config.ecr_login
        state["client"] = engine.connect() if own_client else engine.shared_client()
        steps = self.steps()
        # run-cleanup-provisioner: the runner keeps everything as for abort but
        # still cleans up the provisioning step, which runs the error-cleanup provisioner.
        runner = Runner(steps, on_error=on_error)
        try:
            runner.run(state)
        finally:
            if own_client:
                state["client"].close()
        failed = state.get("error") is not None or state["halted"] or state["cancelled"]
        if failed and on_error in ("abort", "run-cleanup-provisioner"):
            _explain_kept_resources(ui, state)
        # A cancel during the last step (the commit) is seen here: the step's
        # cleanup has removed the image, so there is no artifact to return.
        if state["cancelled"] or ctx.cancelled:
            raise Cancelled(ctx.reason or "build was cancelled")
        error = state.get("error")
        if error is not None:
            raise error
        if state["halted"]:
            raise RuntimeError("the build halted")

        generated = {"generated_data": dict(state.get("generated_data") or {})}
        if config.commit:
            return ImageArtifact(state["image"] if config.build_only else state["image_id"], state=generated)
        if config.export_path:
            return ExportArtifact(state["export_path"], state=generated)
        return None  # discard: nothing to show for it, by design


def _explain_kept_resources(ui: Ui, state: StateBag) -> None:
    """``-on-error=abort`` kept the container: say what it is and how to remove it."""
    container = state.get("container_id") or state.get("container_name")
    if container:
        ui.error(
            f"The build container {state.get('container_name', '')} ({str(container)[:12]}) was kept "
            f"for inspection: docker exec -it {str(container)[:12]} /bin/sh"
        )
        ui.error(f"Remove it with: docker rm -f {container}")
    temp_dir = state.get("temp_dir")
    if temp_dir:
        ui.error(f"Its shared temporary directory was kept too; remove it with: rm -rf {temp_dir}")
    if container or temp_dir:
        ui.error("Or run `bakehouse cleanup` once this build has exited: it removes both.")
