"""The ``amazon-ami`` data source: look up one AMI (``data.amazon-ami.NAME.id``)."""

from __future__ import annotations

from typing import Any

from bakehouse.sdk import ConfigError, ConfigProblem, Datasource
from pydantic import Field

from bakehouse_plugin_aws.config import AccessConfig, AmiFilter, known_regions
from bakehouse_plugin_aws.ec2 import Connection
from bakehouse_plugin_aws.images import find_image, image_outputs


class AmazonAmiConfig(AccessConfig):
    """Packer's ``amazon-ami`` options."""

    filters: dict[str, str | list[str]] = Field(default_factory=dict)
    owners: list[str] = Field(default_factory=list)
    most_recent: bool = False
    include_deprecated: bool = False


class AmazonAmiDatasource(Datasource):
    """Finds the AMI matching ``filters``/``owners`` (newest with ``most_recent``)."""

    config_schema = AmazonAmiConfig
    config: AmazonAmiConfig

    def configure(self, config: dict[str, Any]) -> None:
        super().configure(config)
        problems = []
        if not self.config.filters and not self.config.owners:
            problems.append(ConfigProblem(("filters",), "At least one of filters or owners must be set."))
        if not self.config.region:
            import os

            self.config.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "")
            if not self.config.region:
                problems.append(ConfigProblem(("region",), "The argument 'region' is required "
                                              "(or set AWS_REGION)."))
        elif not self.config.skip_region_validation and self.config.region not in known_regions():
            problems.append(ConfigProblem(("region",), f"Unknown region {self.config.region!r}."))
        if problems:
            raise ConfigError(problems)

    def execute(self) -> dict[str, Any]:
        ec2 = Connection.from_config(self.config).client(self.config.region)
        image_filter = AmiFilter(filters=self.config.filters, owners=self.config.owners,
                                 most_recent=self.config.most_recent,
                                 include_deprecated=self.config.include_deprecated)
        return image_outputs(find_image(ec2, image_filter))
