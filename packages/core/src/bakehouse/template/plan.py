"""The template model as the orchestrator sees it: builds to run.

This is the contract between :mod:`bakehouse.template` (which produces it from
HCL) and :mod:`bakehouse.orchestrator` (which runs it). Configuration values
are plain Python data (str, int, float, bool, None, list, dict); values that
are only known at build time (``build.ID``) are filled in by calling
:meth:`ComponentSpec.config` with the generated data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bakehouse.hcl.diagnostics import SourcePos

#: Produces the decoded config. Called with ``None`` at prepare time (build
#: values are then the string "<unknown>") and with the builder's generated data
#: (``{"ID": ..., "Host": ...}``) right before the component runs. Raises
#: :class:`~bakehouse.hcl.diagnostics.Diagnostics` (with positions) when an
#: expression fails with that data. Safe to call from several build threads.
#: The loader's is a :class:`~bakehouse.template.components.DeferredConfig`.
ConfigThunk = Callable[[dict[str, Any] | None], dict[str, Any]]


@dataclass
class ComponentSpec:
    """One builder, provisioner or post-processor block."""

    kind: str  #: "builder" | "provisioner" | "post-processor" | "datasource"
    type: str  #: component type, e.g. "shell", "docker", "amazon-ebs"
    config: ConfigThunk
    pos: SourcePos  #: the block's position
    #: attribute path (joined with ".") -> position, for mapping ConfigProblem.path
    positions: dict[str, SourcePos] = field(default_factory=dict)
    name: str = ""  #: the block's `name` (provisioners/post-processors) or label
    # provisioner / post-processor meta-arguments (already removed from config)
    only: list[str] = field(default_factory=list)
    except_: list[str] = field(default_factory=list)
    pause_before: float = 0.0  #: seconds
    max_retries: int = 0
    timeout: float = 0.0  #: seconds, 0 = none
    continue_on_error: bool = False
    keep_input_artifact: bool | None = None

    def position_of(self, path: tuple[str | int, ...]) -> SourcePos:
        """The closest known position for a config attribute path. A component
        that takes a nested block as one object (``build { ... }`` read as
        ``build``, not ``build[0]``) names ``build.path``: the first block of
        that type is where it is."""
        parts = [str(p) for p in path]
        while parts:
            for candidate in (parts, _first_blocks(parts)):
                found = self.positions.get(".".join(candidate))
                if found is not None:
                    return found
            parts.pop()
        return self.pos


def _first_blocks(parts: list[str]) -> list[str]:
    """``build.path`` -> ``build.0.path``: an index after every name followed by a name."""
    out: list[str] = []
    for index, part in enumerate(parts):
        out.append(part)
        if index + 1 < len(parts) and not part.isdigit() and not parts[index + 1].isdigit():
            out.append("0")
    return out


@dataclass
class BuildPlan:
    """One build: a source inside a build block (``[build.]type.name``)."""

    name: str  #: full build name, e.g. "app.docker.ubuntu" or "docker.ubuntu"
    build_block_name: str  #: the build block's `name` ("" when unnamed)
    source_type: str
    source_name: str  #: effective name (after `name =` renames inside the build)
    builder: ComponentSpec
    provisioners: list[ComponentSpec] = field(default_factory=list)
    error_cleanup_provisioner: ComponentSpec | None = None
    #: each `post-processor` block is a chain of one; `post-processors {}` a longer chain
    post_processor_chains: list[list[ComponentSpec]] = field(default_factory=list)
    #: position of the build block in the template (0-based), to group builds by block
    build_block_index: int = 0
    #: the source block's own name, which Packer passes as ``packer_build_name``
    #: (PACKER_BUILD_NAME, {{.BuildName}}, the manifest's name) even when the
    #: build renames the source; "" means the same as ``source_name``
    source_label: str = ""
    #: other names -only/-except select this build by, exactly: a legacy JSON
    #: template's builder name (``b`` for build ``null.b``), as Packer names it
    aliases: tuple[str, ...] = ()


@dataclass
class Template:
    """A loaded, evaluated template."""

    path: str  #: the file or directory given on the command line
    root: str  #: path.root
    builds: list[BuildPlan] = field(default_factory=list)
    #: plain strings to replace by "<sensitive>" in every output
    sensitive_values: list[str] = field(default_factory=list)
    sensitive_names: list[str] = field(default_factory=list)
    required_plugins: dict[str, dict[str, str]] = field(default_factory=dict)
