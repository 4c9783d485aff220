"""The ``sleep`` provisioner: waits, and can be interrupted."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from bakehouse.sdk.communicator import Communicator
from bakehouse.sdk.components import Provisioner
from bakehouse.sdk.config import Config, parse_duration
from bakehouse.sdk.context import Context
from bakehouse.sdk.ui import Ui


class SleepConfig(Config):
    duration: str | int | float

    @field_validator("duration")
    @classmethod
    def _valid(cls, value: str | int | float) -> str | int | float:
        if parse_duration(value) < 0:
            raise ValueError("duration must not be negative")
        return value


class SleepProvisioner(Provisioner):
    """Sleeps ``duration`` (a Go duration such as ``"10s"``)."""

    config_schema = SleepConfig
    config: SleepConfig

    def provision(
        self, ui: Ui, communicator: Communicator | None, generated: dict[str, Any], ctx: Context
    ) -> None:
        if ctx.wait(parse_duration(self.config.duration)):
            ctx.check()
