"""The ``null`` builder: no machine of its own, just a communicator.

With ``communicator = "none"`` (the default here) provisioners run without a
remote machine (``shell-local``, ``sleep``, the ``file`` provisioner's
download direction does not apply). With ``communicator = "ssh"`` it connects
to ``ssh_host`` with the ``ssh_*`` options, like Packer's null builder.
"""

from __future__ import annotations

from typing import Any, Literal

from bakehouse.builtin.steps import StepProvision
from bakehouse.sdk.artifact import SimpleArtifact
from bakehouse.sdk.components import Builder, BuildInfo, Hook, PrepareResult
from bakehouse.sdk.config import ConfigError
from bakehouse.sdk.context import Context
from bakehouse.sdk.multistep import CONTINUE, Action, Runner, StateBag, Step
from bakehouse.sdk.ssh import SSHConfig
from bakehouse.sdk.ui import Ui

BUILDER_ID = "fnoeding.null"


class NullConfig(SSHConfig):
    """Packer's null builder options: only the communicator ones."""

    communicator: Literal["ssh", "none"] = "none"


class StepConnect(Step):
    """Open the SSH connection (when asked for) and close it at the end."""

    name = "StepConnect"

    def __init__(self, config: NullConfig) -> None:
        self.config = config

    def run(self, state: StateBag) -> Action:
        if self.config.communicator == "none":
            return CONTINUE
        from bakehouse.sdk.ssh import connect_ssh

        communicator = connect_ssh(self.config, self.config.ssh_host, state.ctx, state.ui)
        state["communicator"] = communicator
        state["generated_data"] = {
            "Host": self.config.ssh_host,
            "Port": self.config.ssh_port,
            "User": self.config.ssh_username,
            "Password": self.config.ssh_password,
            "SSHPrivateKeyFile": self.config.ssh_private_key_file,
        }
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        communicator = state.get("communicator")
        if communicator is not None:
            communicator.close()


class NullBuilder(Builder):
    """Runs the provisioners; produces an artifact that stands for nothing."""

    config_schema = NullConfig
    config: NullConfig

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> PrepareResult:
        super().prepare(config, build)
        if self.config.communicator == "ssh" and not self.config.ssh_host:
            raise ConfigError.single(
                'ssh_host must be specified when communicator is "ssh"', "ssh_host"
            )
        return PrepareResult(
            generated_names=["Host", "Port", "User", "Password", "SSHPrivateKeyFile"]
        )

    def run(self, ui: Ui, hook: Hook, ctx: Context) -> SimpleArtifact | None:
        state = StateBag(ui=ui, hook=hook, ctx=ctx, config=self.config, build=self.build)
        Runner([StepConnect(self.config), StepProvision()], on_error=self.build.on_error).run(state)
        if state.get("error") is not None:
            raise state["error"]
        ctx.check()
        return SimpleArtifact(
            BUILDER_ID, "Null", "Did not export anything. This is the null builder"
        )
