"""Entry point of the ``bakehouse-plugin-docker`` executable."""

from __future__ import annotations

from bakehouse.sdk import serve

from bakehouse_plugin_docker import __version__, cleanup
from bakehouse_plugin_docker.builder import PLUGIN_NAME, DockerBuilder
from bakehouse_plugin_docker.post_processors import (
    DockerImportPostProcessor,
    DockerPushPostProcessor,
    DockerSavePostProcessor,
    DockerTagPostProcessor,
)

BUILDERS = {"docker": DockerBuilder}
POST_PROCESSORS = {
    "docker-tag": DockerTagPostProcessor,
    "docker-import": DockerImportPostProcessor,
    "docker-save": DockerSavePostProcessor,
    "docker-push": DockerPushPostProcessor,
}


def main() -> None:
    # `bakehouse cleanup` asks this process to remove leftovers by journal kind.
    cleanup.register()
    serve(
        plugin=PLUGIN_NAME,
        version=__version__,
        builders=BUILDERS,
        post_processors=POST_PROCESSORS,
    )


if __name__ == "__main__":
    main()
