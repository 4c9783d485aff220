"""``packer { required_plugins { ... } }`` mapped to Python distributions.

A requirement's ``source`` names where the plugin comes from:

- ``pypi/<distribution>`` — a distribution on PyPI (or the index/wheel
  directory given to ``bakehouse init``), e.g. ``pypi/bakehouse-plugin-docker``;
- a Packer source Bakehouse has an equivalent for (:data:`PACKER_SOURCES`),
  e.g. ``github.com/hashicorp/docker`` -> ``bakehouse-plugin-docker``, so a
  Packer template's ``packer {}`` block works unchanged. Its ``version``
  numbers Packer's plugin releases, not ours, so it is not applied (a note
  says so).

``version`` is a HashiCorp constraint (``">= 0.1, < 1"``, ``"~> 0.1"``), turned
into a pip specifier for installing. A requirement is met when discovery finds
the distribution's executable (``bakehouse-plugin-<name>``, the distribution
name) and its ``describe`` version meets the constraint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bakehouse.plugin.discovery import PluginDescription
from bakehouse.template.versions import pip_specifier, satisfies

PYPI_PREFIX = "pypi/"

#: Packer plugin sources -> the Bakehouse distribution that provides the same components.
PACKER_SOURCES: dict[str, str] = {
    "github.com/hashicorp/docker": "bakehouse-plugin-docker",
    "github.com/hashicorp/amazon": "bakehouse-plugin-aws",
}

_DISTRIBUTION = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


class RequirementError(ValueError):
    """A ``required_plugins`` entry that cannot be mapped (the message says why)."""


@dataclass(frozen=True)
class PluginRequirement:
    accessor: str  #: the key in ``required_plugins`` (``docker = {...}``)
    source: str
    constraint: str  #: as written (``""`` when absent)
    distribution: str  #: the Python distribution to install
    applies_constraint: bool  #: False for a Packer source (Packer's version numbers)

    @property
    def executable(self) -> str:
        """The plugin executable the distribution installs (its normalised name)."""
        return re.sub(r"[-_.]+", "-", self.distribution).lower()

    @property
    def pip_requirement(self) -> str:
        """What to hand pip: ``bakehouse-plugin-docker>=0.1,<1``."""
        if self.applies_constraint and self.constraint:
            return self.distribution + pip_specifier(self.constraint)
        return self.distribution

    def describe(self) -> str:
        """``pypi/bakehouse-plugin-shell >= 0.1`` (as Packer lists missing plugins)."""
        return f"{self.source} {self.constraint}".strip()

    def met_by(self, plugin: PluginDescription) -> bool:
        if plugin.name != self.executable:
            return False
        if not self.applies_constraint or not self.constraint:
            return True
        try:
            return satisfies(plugin.version, self.constraint)
        except (ValueError, IndexError):
            return False


def requirement_from(accessor: str, entry: Mapping[str, str]) -> PluginRequirement:
    """One ``required_plugins`` entry as a requirement (RequirementError if it cannot be)."""
    unknown = sorted(set(entry) - {"source", "version"})
    if unknown:
        raise RequirementError(
            f'"{accessor}": only "source" and "version" are expected, not {", ".join(unknown)}'
        )
    source = str(entry.get("source", "")).strip()
    constraint = str(entry.get("version", "")).strip()
    if not source:
        raise RequirementError(
            f'"{accessor}" has no source: write source = "pypi/<distribution>" '
            '(for example "pypi/bakehouse-plugin-docker")'
        )
    if constraint:
        try:
            pip_specifier(constraint)
        except (ValueError, IndexError):
            raise RequirementError(
                f'"{accessor}": "{constraint}" is not a valid version constraint (example: ">= 0.1, < 1")'
            ) from None
    if source.startswith(PYPI_PREFIX):
        distribution = source[len(PYPI_PREFIX):]
        if not _DISTRIBUTION.match(distribution):
            raise RequirementError(f'"{accessor}": {distribution!r} is not a distribution name')
        return PluginRequirement(accessor, source, constraint, distribution, True)
    mapped = PACKER_SOURCES.get(source.lower().rstrip("/"))
    if mapped is not None:
        return PluginRequirement(accessor, source, constraint, mapped, False)
    known = ", ".join(sorted(PACKER_SOURCES))
    raise RequirementError(
        f'"{accessor}": Bakehouse has no plugin for the source "{source}". Plugins are Python '
        f'distributions: write source = "pypi/<distribution>"; the Packer sources it maps are {known}.'
    )


def requirements_of(required_plugins: Mapping[str, Mapping[str, str]]) -> list[PluginRequirement]:
    """Every entry as a requirement; RequirementError for the first one that cannot be."""
    return [requirement_from(accessor, entry) for accessor, entry in required_plugins.items()]


def find_installation(
    requirement: PluginRequirement, plugins: Iterable[PluginDescription]
) -> PluginDescription | None:
    """The first discovered plugin that meets ``requirement`` (discovery order wins)."""
    for plugin in plugins:
        if requirement.met_by(plugin):
            return plugin
    return None


def missing_message(missing: Sequence[PluginRequirement], target: str) -> str:
    """Packer's "Missing plugins" text, pointing at ``bakehouse init``."""
    listed = "\n".join(f"* {requirement.describe()}" for requirement in missing)
    return (
        "The following plugins are required, but not installed:\n\n"
        f"{listed}\n\n"
        f"Run `bakehouse init {target}` to install them (it uses pip; add --find-links DIR or "
        "--index-url URL to install from a wheel directory or another index)."
    )
