"""The ``null`` data source: returns its ``input`` as ``output`` (for tests and wiring)."""

from __future__ import annotations

from typing import Any

from bakehouse.sdk.components import Datasource
from bakehouse.sdk.config import Config


class NullDatasourceConfig(Config):
    input: Any = None


class NullDatasource(Datasource):
    """``data "null" "x" { input = ... }`` -> ``data.null.x.output``."""

    config_schema = NullDatasourceConfig
    config: NullDatasourceConfig

    def execute(self) -> dict[str, Any]:
        return {"output": self.config.input}
