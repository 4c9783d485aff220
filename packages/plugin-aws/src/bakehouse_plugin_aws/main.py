"""Entry point of the bakehouse-plugin-aws executable."""

from bakehouse.sdk import serve

from bakehouse_plugin_aws import __version__

# Named, not imported: boto3 and pydantic load when the core first creates a
# component (or asks for a cleanup), so the handshake does not wait for them.
_PACKAGE = "bakehouse_plugin_aws"


def main() -> None:
    serve(
        plugin="bakehouse-plugin-aws",
        version=__version__,
        builders={"amazon-ebs": f"{_PACKAGE}.builder:AmazonEBSBuilder"},
        datasources={
            "amazon-ami": f"{_PACKAGE}.datasource:AmazonAmiDatasource",
            "amazon-secretsmanager": f"{_PACKAGE}.datasource:SecretsManagerDatasource",
            "amazon-parameterstore": f"{_PACKAGE}.datasource:ParameterStoreDatasource",
        },
        cleaners=f"{_PACKAGE}.resources:register_cleaners",
    )


if __name__ == "__main__":
    main()
