"""Entry point of the bakehouse-plugin-aws executable."""

from bakehouse.sdk import serve

from bakehouse_plugin_aws import __version__
from bakehouse_plugin_aws.builder import AmazonEBSBuilder
from bakehouse_plugin_aws.datasource import AmazonAmiDatasource
from bakehouse_plugin_aws.resources import register_cleaners


def main() -> None:
    register_cleaners()
    serve(
        plugin="bakehouse-plugin-aws",
        version=__version__,
        builders={"amazon-ebs": AmazonEBSBuilder},
        datasources={"amazon-ami": AmazonAmiDatasource},
    )


if __name__ == "__main__":
    main()
