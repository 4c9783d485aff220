"""The docker post-processors: ``docker-tag``, ``docker-import``, ``docker-save``, ``docker-push``.

They chain as Packer's do: each accepts the artifact kinds Packer's accepts
(by builder id) and returns ``(artifact, keep_input, force_override)`` with
Packer's values, so ``keep_input_artifact`` behaves the same:

==============  =============================  ==========  ==============
post-processor  accepts                        keep input  force override
==============  =============================  ==========  ==============
docker-tag      committed/imported/tagged      yes         yes
docker-import   exported tar, artifice files   no          no
docker-save     committed/imported/tagged      yes         no
docker-push     committed/imported/tagged      yes         no
==============  =============================  ==========  ==============
"""

from __future__ import annotations

import os
import re
from typing import Any

import docker
import docker.errors
from bakehouse.sdk import Artifact, Config, ConfigError, ConfigProblem, Context, PostProcessor, Ui
from bakehouse.sdk.progress import ProgressReader, ProgressWriter, Throttle
from pydantic import Field, field_validator

from bakehouse_plugin_docker import engine
from bakehouse_plugin_docker.artifact import (
    ARTIFICE_BUILDER_ID,
    BUILDER_ID,
    IMPORT_BUILDER_ID,
    ImageArtifact,
)
from bakehouse_plugin_docker.config import RegistryLoginOptions
from bakehouse_plugin_docker.engine import DockerEngineError, explain
from bakehouse_plugin_docker.options import COMMIT_INSTRUCTIONS
from bakehouse_plugin_docker.registry_login import login_problems, registry_auth
from bakehouse_plugin_docker.tag import (
    IMAGE_BUILDER_IDS,
    _copied_state,
    _require_image_artifact,
    repository_problem,
    tag_problem,
)
from bakehouse_plugin_docker.tag import DockerTagPostProcessor as DockerTagPostProcessor
from bakehouse_plugin_docker.tarstream import CHUNK_SIZE

# ---------------------------------------------------------------- docker-tag
# The post-processor itself is in tag.py (a docker build prepares it before its
# container is created, without pydantic); its documented model is here.


class DockerTagConfig(Config):
    repository: str
    tags: list[str] = Field(default_factory=list)
    tag: list[str] = Field(default_factory=list, description="Deprecated alias of tags.")
    force: bool = False

    @field_validator("tag", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("repository")
    @classmethod
    def _repository_without_tag(cls, repository: str) -> str:
        problem = repository_problem(repository)
        if problem:
            raise ValueError(problem)
        return repository

    @field_validator("tags", "tag")
    @classmethod
    def _valid_tags(cls, tags: list[str]) -> list[str]:
        problem = tag_problem(tags)
        if problem:
            raise ValueError(problem)
        return tags


# ------------------------------------------------------------- docker-import


class DockerImportConfig(Config):
    repository: str
    tag: str = ""
    changes: list[str] = Field(default_factory=list)
    platform: str = ""

    @field_validator("changes")
    @classmethod
    def _known_instructions(cls, changes: list[str]) -> list[str]:
        for change in changes:
            instruction = change.strip().split(None, 1)[0].upper() if change.strip() else ""
            if instruction not in COMMIT_INSTRUCTIONS:
                raise ValueError(
                    f"{change!r}: changes accept only " + ", ".join(sorted(COMMIT_INSTRUCTIONS)) + " instructions"
                )
        return changes


class DockerImportPostProcessor(PostProcessor):
    """Import an exported filesystem tar (docker builder ``export_path``, or artifice) as an image."""

    config_schema = DockerImportConfig
    config: DockerImportConfig

    def post_process(self, ui: Ui, artifact: Artifact, ctx: Context) -> tuple[Artifact | None, bool, bool]:
        if artifact.builder_id not in (BUILDER_ID, ARTIFICE_BUILDER_ID):
            raise ValueError(
                f"Unknown artifact type: {artifact.builder_id}\nCan only import from Docker builder "
                "(export_path) and artifice post-processor artifacts. With commit = true in the "
                "docker builder the image is already imported."
            )
        files = artifact.files
        if not files:
            raise ValueError("docker-import: the artifact has no file to import")
        tarball = files[0]
        config = self.config
        reference = config.repository + (f":{config.tag}" if config.tag else "")
        ui.message(f"Importing image: {artifact.id}")
        ui.message(f"Repository: {reference}")
        image_id = import_tarball(tarball, config.repository, config.tag, config.changes, config.platform, ui=ui)
        ui.message(f"Imported ID: {image_id}")
        return ImageArtifact(reference, IMPORT_BUILDER_ID), False, False


def import_tarball(
    path: str, repository: str, tag: str, changes: list[str], platform: str = "", ui: Ui | None = None
) -> str:
    """``docker import`` of a local tar file, streamed from disk; returns the image id."""
    client = engine.connect()
    api = client.api
    params: dict[str, Any] = {"fromSrc": "-", "repo": repository, "tag": tag or None}
    if changes:
        params["changes"] = changes
    if platform:
        params["platform"] = platform
    try:
        with open(path, "rb") as fh:
            body: Any = fh if ui is None else ProgressReader(fh, ui, f"Importing {os.path.basename(path)}",
                                                              os.fstat(fh.fileno()).st_size)
            # The SDK's import helpers take no platform; this is the same endpoint.
            response = api._post(
                api._url("/images/create"), params=params, data=body,
                headers={"Content-Type": "application/tar"}, timeout=None,
            )
            api._raise_for_status(response)
        image_id = ""
        for event in engine.follow_progress(response.iter_lines(), f"importing {path}"):
            status = str(event.get("status", ""))
            if status.startswith("sha256:"):
                image_id = status
        return image_id
    except OSError as exc:
        raise DockerEngineError(f"Error importing {path}: {exc}") from None
    except docker.errors.APIError as exc:
        raise DockerEngineError(f"Error importing {path}: {explain(exc)}") from None
    finally:
        client.close()


# --------------------------------------------------------------- docker-save


class DockerSaveConfig(Config):
    path: str


class DockerSavePostProcessor(PostProcessor):
    """``docker save`` the image to ``path`` (a tar loadable with ``docker load``)."""

    config_schema = DockerSaveConfig
    config: DockerSaveConfig

    def post_process(self, ui: Ui, artifact: Artifact, ctx: Context) -> tuple[Artifact | None, bool, bool]:
        _require_image_artifact(artifact, "save")
        path = os.path.abspath(self.config.path)
        image = artifact.id
        ui.message(f"Saving image: {image}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        client = engine.connect()
        try:
            with open(path, "wb") as fh:
                out = ProgressWriter(fh, ui, f"Saving {image}")  # type: ignore[arg-type]
                for chunk in client.api.get_image(image, chunk_size=CHUNK_SIZE):
                    ctx.check()
                    out.write(chunk)
                out.finish()
        except BaseException as exc:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            if isinstance(exc, docker.errors.APIError):
                raise DockerEngineError(f"Error saving image {image}: {explain(exc)}") from None
            raise
        finally:
            client.close()
        ui.message(f"Saved to: {path}")
        # Packer hands the input image on, so a push can follow the save.
        return ImageArtifact(image, artifact.builder_id, _copied_state(artifact)), True, False


# --------------------------------------------------------------- docker-push


class DockerPushConfig(RegistryLoginOptions):
    platform: str = Field("", description="Push only this platform (os/arch[/variant]) of the image.")

    @field_validator("platform")
    @classmethod
    def _platform_form(cls, platform: str) -> str:
        if platform and not _PLATFORM.fullmatch(platform):
            raise ValueError(f"{platform!r} is not a platform: expected os/arch[/variant], e.g. linux/amd64")
        return platform


_PLATFORM = re.compile(r"[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?")


def image_platform(client: docker.DockerClient, reference: str) -> str:
    """``os/arch[/variant]`` of an image on the engine."""
    try:
        attrs = client.api.inspect_image(reference)
    except docker.errors.APIError as exc:
        raise DockerEngineError(f"Error inspecting image {reference}: {explain(exc)}") from None
    parts = [str(attrs.get("Os") or ""), str(attrs.get("Architecture") or ""), str(attrs.get("Variant") or "")]
    return "/".join(part for part in parts if part)


def _same_platform(wanted: str, actual: str) -> bool:
    # "linux/arm64" matches "linux/arm64/v8"; a variant given must match.
    wanted_parts, actual_parts = wanted.split("/"), actual.split("/")
    return actual_parts[: len(wanted_parts)] == wanted_parts or wanted_parts[:2] == actual_parts


class DockerPushPostProcessor(PostProcessor):
    """Push every tag of the image (``docker_tags`` of docker-tag, else its id)."""

    config_schema = DockerPushConfig
    config: DockerPushConfig

    def prepare(self, config: dict[str, Any], build: Any) -> None:
        super().prepare(config, build)
        problems: list[ConfigProblem] = []
        login_problems(self.config, lambda message, option: problems.append(ConfigProblem((option,), message)))
        if problems:
            raise ConfigError(problems)

    def post_process(self, ui: Ui, artifact: Artifact, ctx: Context) -> tuple[Artifact | None, bool, bool]:
        if artifact.builder_id not in IMAGE_BUILDER_IDS:
            raise ValueError(
                f"Unknown artifact type: {artifact.builder_id}\nCan only push docker-import and docker-tag artifacts."
            )
        tags = artifact.state("docker_tags")
        names = [str(name) for name in tags] if tags else [artifact.id]
        for name in names:
            if name.startswith("sha256:"):
                raise ValueError(
                    f"Cannot push {name}: an image id has no repository. Put a docker-tag "
                    "post-processor (repository = \"registry:port/name\") before docker-push."
                )
        config = self.config
        client = engine.connect()
        try:
            if config.platform:
                # The engine's image store holds one platform per image: pushing
                # "that platform" means checking it is the image's.
                actual = image_platform(client, names[0])
                if not _same_platform(config.platform, actual):
                    raise DockerEngineError(
                        f"Cannot push {names[0]} for platform {config.platform}: the image is {actual} "
                        "(the engine keeps one platform per image)"
                    )
                ui.message(f"Platform: {actual}")
            auth_config = registry_auth(client, config, ui)
            digest = ""
            for name in names:
                ctx.check()
                ui.message(f"Pushing: {name}")
                progress = Throttle(ui, f"Pushing {name}")
                digest = engine.push_image(client, name, auth_config=auth_config, on_bytes=progress) or digest
            if auth_config is not None:
                # Credentials lived in this client only; nothing was stored to log out of.
                ui.message("Logging out...")
            repo_digest = engine.repo_digest(client, names[0])
        finally:
            client.close()
        state = _copied_state(artifact)
        state.update({"docker_tags": names, "docker_digest": digest})
        # Packer adds the pushed image's repository digest to the generated data.
        state["generated_data"] = {**dict(state.get("generated_data") or {}), "Digest": repo_digest}
        return ImageArtifact(names[0], IMPORT_BUILDER_ID, state), True, False
