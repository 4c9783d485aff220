"""The component contract: what a plugin implements.

Each component type is a class; the core creates one instance per use in a
build (a builder per build, a provisioner per provisioner block, ...), calls
``prepare`` (or ``configure``) once with the decoded template configuration,
then the run method. Instances never serve two builds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from bakehouse.sdk.artifact import Artifact
from bakehouse.sdk.communicator import Communicator
from bakehouse.sdk.context import Context
from bakehouse.sdk.ui import Ui

if TYPE_CHECKING:  # pydantic is imported when a component is configured, not at start-up
    from bakehouse.sdk.config import Config

#: Hook names dispatched by builders, as in Packer.
HOOK_PROVISION = "packer_provision"
HOOK_CLEANUP_PROVISION = "packer_cleanup_provision"


@dataclass(frozen=True)
class BuildInfo:
    """Facts about the build a component takes part in (Packer's ``packer_*`` keys)."""

    #: Packer's ``packer_build_name``: the source block's name (PACKER_BUILD_NAME,
    #: ``{{.BuildName}}``). As in Packer it stays the block's own name when a build
    #: renames the source (``source.name`` and the build name use the new one).
    name: str
    builder_type: str  #: source type (``source.type``), e.g. ``docker``
    build_name: str = ""  #: full build name, e.g. ``app.docker.ubuntu``
    core_version: str = ""
    debug: bool = False
    force: bool = False
    on_error: str = "cleanup"  #: ``cleanup``, ``abort``, ``ask`` or ``run-cleanup-provisioner``
    run_id: str = ""  #: unique per ``bakehouse build`` run; used by the journal
    sensitive_variables: tuple[str, ...] = ()
    template_dir: str = ""  #: ``path.root``


@dataclass
class PrepareResult:
    """What ``Builder.prepare`` returns."""

    #: Names of the values the builder will generate for provisioners (``build.NAME``).
    generated_names: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Hook(ABC):
    """The core's provisioning hook, called by a builder from its provision step."""

    @abstractmethod
    def run(
        self,
        name: str,
        ui: Ui,
        communicator: Communicator | None,
        data: dict[str, Any],
        ctx: Context,
    ) -> None:
        """Run every provisioner of hook ``name``; ``data`` is the generated data
        (``build.ID``, ``build.Host``, ...). Raises when a provisioner fails."""


#: Arguments the core takes for itself in each kind of block: a component
#: never receives them, so its ``config_schema`` may not define them.
BUILDER_META = frozenset({"name"})
PROVISIONER_META = frozenset(
    {"name", "only", "except", "pause_before", "max_retries", "timeout", "continue_on_error", "override"}
)
POST_PROCESSOR_META = frozenset({"name", "only", "except", "keep_input_artifact"})


class _Configurable:
    """Shared ``prepare`` plumbing: validate against ``config_schema``."""

    config_schema: ClassVar[type[Config] | None] = None
    config: Any = None
    #: The block arguments the core keeps (see ``*_META``).
    core_arguments: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        schema = cls.__dict__.get("config_schema")
        if schema is None:
            return
        fields = getattr(schema, "model_fields", {})
        taken = sorted(
            (field.alias or name) for name, field in fields.items() if (field.alias or name) in cls.core_arguments
        )
        if taken:
            raise TypeError(
                f"{cls.__module__}.{cls.__qualname__}: config_schema {schema.__name__} defines "
                f"{', '.join(repr(t) for t in taken)}, which the core reserves in this block "
                f"({', '.join(sorted(cls.core_arguments))}); rename the field "
                f"(pydantic: Field(alias=...) cannot reuse the name either)"
            )

    @classmethod
    def documented_schema(cls) -> type[Config] | None:
        """The options ``bakehouse plugins docs`` lists: ``config_schema``. A
        component that checks its arguments without a model (to keep pydantic
        out of a fast path) returns an equivalent model here instead."""
        return cls.config_schema

    def _parse(self, raw: dict[str, Any]) -> Any:
        if self.config_schema is None:
            self.config = dict(raw)
        else:
            from bakehouse.sdk.config import parse_config

            self.config = parse_config(self.config_schema, raw)
        return self.config


class Builder(_Configurable, ABC):
    """Creates a machine, lets the provisioners work on it, and produces an artifact."""

    core_arguments = BUILDER_META

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> PrepareResult:
        """Validate configuration; raise :class:`ConfigError` on mistakes."""
        self.build = build
        self._parse(config)
        return PrepareResult()

    @abstractmethod
    def run(self, ui: Ui, hook: Hook, ctx: Context) -> Artifact | None:
        """Build; return the artifact, or None when nothing was produced."""


class Provisioner(_Configurable, ABC):
    """Changes the machine being built through its communicator."""

    core_arguments = PROVISIONER_META

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> None:
        self.build = build
        self._parse(config)

    @abstractmethod
    def provision(
        self,
        ui: Ui,
        communicator: Communicator | None,
        generated: dict[str, Any],
        ctx: Context,
    ) -> None:
        """Do the work; raise an exception (its message is shown) on failure."""


class PostProcessor(_Configurable, ABC):
    """Turns an artifact into another one."""

    core_arguments = POST_PROCESSOR_META

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> None:
        self.build = build
        self._parse(config)

    @abstractmethod
    def post_process(
        self, ui: Ui, artifact: Artifact, ctx: Context
    ) -> tuple[Artifact | None, bool, bool]:
        """Return ``(new_artifact, keep_input, force_override)`` as Packer does:
        ``keep_input`` keeps the input artifact, ``force_override`` makes that
        choice win over the user's ``keep_input_artifact``."""


class Datasource(_Configurable, ABC):
    """Fetches data at template evaluation time (``data.TYPE.NAME.attr``)."""

    def configure(self, config: dict[str, Any]) -> None:
        self._parse(config)

    @abstractmethod
    def execute(self) -> dict[str, Any]:
        """Return the outputs as plain values (str, int, float, bool, list, dict, None)."""
