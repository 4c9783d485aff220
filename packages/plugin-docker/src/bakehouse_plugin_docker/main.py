"""Entry point of the bakehouse-plugin-docker executable."""

from bakehouse.sdk import serve

from bakehouse_plugin_docker import __version__


def main() -> None:
    serve(plugin="bakehouse-plugin-docker", version=__version__)


if __name__ == "__main__":
    main()
