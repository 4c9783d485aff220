"""The ``null`` builder: no machine of its own, just a communicator.

With ``communicator = "none"`` (the default here) provisioners run without a
remote machine (``shell-local``, ``sleep``, the ``file`` provisioner's
download direction does not apply). With ``communicator = "ssh"`` it connects
to ``ssh_host`` with the ``ssh_*`` options, like Packer's null builder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bakehouse.builtin.steps import StepProvision
from bakehouse.sdk.artifact import SimpleArtifact
from bakehouse.sdk.components import Builder, BuildInfo, Hook, PrepareResult
from bakehouse.sdk.context import Context
from bakehouse.sdk.multistep import CONTINUE, Action, Runner, StateBag, Step
from bakehouse.sdk.problems import ConfigError, ConfigProblem
from bakehouse.sdk.ui import Ui

if TYPE_CHECKING:
    from bakehouse.builtin._null_config import NullConfig
    from bakehouse.sdk.ssh import SSHConfig

BUILDER_ID = "fnoeding.null"


#: Option prefixes of Packer's communicators, accepted whatever the communicator
#: (Packer ignores them with ``communicator = "none"``).
_COMMUNICATOR_OPTION_PREFIXES = ("ssh_", "winrm_", "pause_before_connecting")


_COMMUNICATORS = ("ssh", "none")


@dataclass
class NullOptions:
    """The null builder's arguments, checked by hand (:meth:`NullBuilder._parse`):
    a model would import pydantic into every null build, the commonest quick
    test. :class:`~bakehouse.builtin._null_config.NullConfig` documents them.

    The ``ssh_*`` options are validated by :class:`bakehouse.sdk.ssh.SSHConfig`
    when ``communicator = "ssh"``; importing it (paramiko) is skipped otherwise,
    which keeps the common ``none`` case fast.
    """

    communicator: str = "none"
    #: Every other argument, as given (the ``ssh_*`` ones, or mistakes).
    extra: dict[str, Any] = field(default_factory=dict)


class StepConnect(Step):
    """Open the SSH connection (when asked for) and close it at the end."""

    name = "StepConnect"

    def __init__(self, config: SSHConfig | None) -> None:
        self.config = config

    def run(self, state: StateBag) -> Action:
        if self.config is None or self.config.communicator == "none":
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

    config: NullOptions

    ssh_config: SSHConfig | None = None

    @classmethod
    def documented_schema(cls) -> type[NullConfig]:
        from bakehouse.builtin._null_config import NullConfig

        return NullConfig

    def _parse(self, raw: dict[str, Any]) -> NullOptions:
        extra = dict(raw)
        communicator = extra.pop("communicator", "none")
        # The message and path pydantic gives for the documented model's Literal.
        if not isinstance(communicator, str) or communicator not in _COMMUNICATORS:
            raise ConfigError([ConfigProblem(("communicator",), "Input should be 'ssh' or 'none'.")])
        self.config = NullOptions(communicator, extra)
        return self.config

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> PrepareResult:
        super().prepare(config, build)
        unexpected = [
            key for key in self.config.extra if not key.startswith(_COMMUNICATOR_OPTION_PREFIXES)
        ]
        if unexpected:
            raise ConfigError(
                [
                    ConfigProblem((key,), f"An argument named {key!r} is not expected here.")
                    for key in unexpected
                ]
            )
        self.ssh_config = None
        if self.config.communicator == "ssh":
            from bakehouse.sdk.config import parse_config
            from bakehouse.sdk.ssh import SSHConfig

            self.ssh_config = parse_config(SSHConfig, dict(config))
            if not self.ssh_config.ssh_host:
                raise ConfigError.single(
                    'ssh_host must be specified when communicator is "ssh"', "ssh_host"
                )
        return PrepareResult(
            generated_names=["Host", "Port", "User", "Password", "SSHPrivateKeyFile"]
        )

    def run(self, ui: Ui, hook: Hook, ctx: Context) -> SimpleArtifact | None:
        state = StateBag(ui=ui, hook=hook, ctx=ctx, config=self.config, build=self.build)
        Runner([StepConnect(self.ssh_config), StepProvision()], on_error=self.build.on_error).run(
            state
        )
        if state.get("error") is not None:
            raise state["error"]
        ctx.check()
        return SimpleArtifact(
            BUILDER_ID, "Null", "Did not export anything. This is the null builder"
        )
