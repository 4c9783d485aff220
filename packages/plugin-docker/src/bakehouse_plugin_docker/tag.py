"""``docker-tag``: tag the build's image, as Packer's post-processor does.

Apart from the other docker post-processors (post_processors.py, which
re-exports it): a docker build with a ``docker-tag`` prepares it before its
container is created, and its options are checked without pydantic when they
are plainly valid (:class:`DockerTagOptions`, made from the model
:class:`~bakehouse_plugin_docker.post_processors.DockerTagConfig`, which
documents them and reports mistakes; a test keeps it current).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
from bakehouse.sdk.artifact import Artifact
from bakehouse.sdk.components import PostProcessor
from bakehouse.sdk.context import Context
from bakehouse.sdk.plain import parse_plain
from bakehouse.sdk.ui import Ui

from bakehouse_plugin_docker import engine
from bakehouse_plugin_docker.artifact import IMPORT_BUILDER_ID, TAG_BUILDER_ID, ImageArtifact
from bakehouse_plugin_docker.engine import DockerEngineError, explain

if TYPE_CHECKING:
    from bakehouse_plugin_docker.post_processors import DockerTagConfig

IMAGE_BUILDER_IDS = (IMPORT_BUILDER_ID, TAG_BUILDER_ID)


def _copied_state(artifact: Artifact) -> dict[str, Any]:
    state = {}
    for name in ("docker_tags", "docker_digest", "generated_data"):
        value = artifact.state(name)
        if value is not None:
            state[name] = value
    return state


def _require_image_artifact(artifact: Artifact, what: str) -> None:
    if artifact.builder_id not in IMAGE_BUILDER_IDS:
        raise ValueError(
            f"Unknown artifact type: {artifact.builder_id}\nCan only {what} from Docker builder "
            "artifacts made with commit = true, docker-import or docker-tag."
        )


# Made from the model by bakehouse.sdk.plain.dataclass_source (tests check it is current).
@dataclass(kw_only=True)
class DockerTagOptions:
    """DockerTagConfig's options, made by bakehouse.sdk.plain.dataclass_source: do not edit."""

    repository: str
    tags: list[str] = field(default_factory=list)
    tag: list[str] = field(default_factory=list)
    force: bool = False


def repository_problem(repository: str) -> str | None:
    """Why ``repository`` cannot be tagged, or None."""
    # The engine parses the repository again: "name:a" tagged "b" becomes "name:b",
    # so a tag or digest here would name an image nobody asked for.
    if "@" in repository or ":" in repository.rsplit("/", 1)[-1]:
        return f"{repository!r} must be a repository without a tag or digest; put tags in tags"
    if not repository or repository != repository.lower() or any(c.isspace() for c in repository):
        return f"{repository!r} is not a valid repository name (lowercase, no spaces)"
    return None


def tag_problem(tags: list[str]) -> str | None:
    """Why the first invalid one of ``tags`` is not a tag, or None."""
    for tag in tags:
        if not _TAG.fullmatch(tag):
            return (f"{tag!r} is not a valid tag: letters, digits, '_', '.' and '-', "
                    "at most 128, not starting with '.' or '-'")
    return None


def _valid_names(options: DockerTagOptions) -> bool:
    return repository_problem(options.repository) is None and tag_problem([*options.tags, *options.tag]) is None


_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _normalized(reference: str) -> str:
    """A reference as the engine lists it: default registry dropped, ``:latest`` added."""
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if reference.startswith(prefix):
            reference = reference[len(prefix):]
            break
    repository, tag = engine.split_reference(reference)
    return f"{repository}:{tag or 'latest'}"


def _created_reference(client: docker.DockerClient, source: str, reference: str) -> str:
    """The name the engine gave ``source`` for ``reference``, read back from the engine.

    The artifact reports what exists, not what was asked for; a tag that does not
    point at ``source`` afterwards is an error.
    """
    wanted = _normalized(reference)
    image = client.api.inspect_image(source)
    for name in image.get("RepoTags") or []:
        if _normalized(name) == wanted:
            return str(name)
    raise DockerEngineError(
        f"Error tagging image {source}: the engine did not create {reference!r} "
        f"(the image is tagged {', '.join(image.get('RepoTags') or []) or 'nothing'})"
    )


class DockerTagPostProcessor(PostProcessor):
    """Tag the image: ``repository:tag`` for each of ``tags`` (or just ``repository``)."""

    config: DockerTagOptions

    @classmethod
    def documented_schema(cls) -> type[DockerTagConfig]:
        from bakehouse_plugin_docker.post_processors import DockerTagConfig

        return DockerTagConfig

    def _parse(self, raw: dict[str, Any]) -> DockerTagOptions:
        self.config = parse_plain(DockerTagOptions, raw, self.documented_schema, accept=_valid_names)
        return self.config

    def post_process(self, ui: Ui, artifact: Artifact, ctx: Context) -> tuple[Artifact | None, bool, bool]:
        _require_image_artifact(artifact, "tag")
        config = self.config
        client = engine.shared_client()  # the build's connection: tagging needs no login
        source = artifact.id
        references = [f"{config.repository}:{tag}" for tag in [*config.tags, *config.tag]] or [config.repository]
        created: list[str] = []
        try:
            for reference in references:
                ctx.check()
                ui.message(f"Tagging image: {source}")
                ui.message(f"Repository: {reference}")
                repository, tag = engine.split_reference(reference)
                client.api.tag(source, repository, tag=tag, force=config.force)
                created.append(_created_reference(client, source, reference))
        except docker.errors.APIError as exc:
            raise DockerEngineError(f"Error tagging image {source}: {explain(exc)}") from None
        state = _copied_state(artifact)
        state["docker_tags"] = created
        tagged = ImageArtifact(created[-1], TAG_BUILDER_ID, state)
        # Tagging an image and then deleting it would make the tag pointless.
        return tagged, True, True
