"""A component's config_schema cannot define an argument the core keeps for
itself in that block (it would never receive it): rejected at class definition."""

from __future__ import annotations

import pydantic
import pytest
from bakehouse.sdk import Builder, Config, PostProcessor, Provisioner


class NamedConfig(Config):
    name: str = ""


class AliasedConfig(Config):
    label: str = pydantic.Field(default="", alias="timeout")


@pytest.mark.parametrize("base", [Builder, Provisioner, PostProcessor])
def test_a_field_named_name_is_rejected_naming_the_class(base: type) -> None:
    with pytest.raises(TypeError, match=r"Named: config_schema NamedConfig defines 'name', which the core reserves"):
        type("Named", (base,), {"config_schema": NamedConfig, "__module__": "myplugin"})


def test_an_alias_counts_and_reservations_depend_on_the_block() -> None:
    with pytest.raises(TypeError, match="defines 'timeout'"):
        type("Aliased", (Provisioner,), {"config_schema": AliasedConfig})
    # a builder block has no timeout argument of its own: the builder may have one
    builder = type("Aliased", (Builder,), {"config_schema": AliasedConfig})
    assert builder.config_schema is AliasedConfig
