"""Entry point of the bakehouse-plugin-aws executable."""

from bakehouse.sdk import serve

from bakehouse_plugin_aws import __version__


def main() -> None:
    serve(plugin="bakehouse-plugin-aws", version=__version__)


if __name__ == "__main__":
    main()
