"""Entry point of the bakehouse-plugin-shell executable."""

from bakehouse.sdk import serve

from bakehouse_plugin_shell import __version__


def main() -> None:
    serve(plugin="bakehouse-plugin-shell", version=__version__)


if __name__ == "__main__":
    main()
