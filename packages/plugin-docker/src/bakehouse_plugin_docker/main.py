"""Entry point of the ``bakehouse-plugin-docker`` executable."""

from __future__ import annotations

from bakehouse.sdk import serve

from bakehouse_plugin_docker import __version__

# Named, not imported: the docker SDK and pydantic load when the core first
# creates a component (or asks for a cleanup), so the handshake does not wait.
_PACKAGE = "bakehouse_plugin_docker"

BUILDERS = {"docker": f"{_PACKAGE}.builder:DockerBuilder"}
POST_PROCESSORS = {
    "docker-tag": f"{_PACKAGE}.tag:DockerTagPostProcessor",
    "docker-import": f"{_PACKAGE}.post_processors:DockerImportPostProcessor",
    "docker-save": f"{_PACKAGE}.post_processors:DockerSavePostProcessor",
    "docker-push": f"{_PACKAGE}.post_processors:DockerPushPostProcessor",
}


def main() -> None:
    serve(
        plugin="bakehouse-plugin-docker",
        version=__version__,
        builders=BUILDERS,
        post_processors=POST_PROCESSORS,
        # `bakehouse cleanup` asks this process to remove leftovers by journal kind.
        cleaners=f"{_PACKAGE}.cleanup:register",
    )


if __name__ == "__main__":
    main()
