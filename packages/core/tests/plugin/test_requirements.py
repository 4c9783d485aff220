"""required_plugins entries mapped to distributions and pip specifiers."""

import pytest
from bakehouse.plugin.discovery import PluginDescription
from bakehouse.plugin.requirements import RequirementError, requirement_from
from bakehouse.template.versions import pip_specifier, satisfies


@pytest.mark.parametrize(
    ("constraint", "specifier"),
    [
        (">= 1.2, < 2", ">=1.2,<2"),
        ("~> 1.2", "~=1.2"),
        ("~> 1.2.3", "~=1.2.3"),
        ("~> 1", ">=1,<2"),
        ("= 0.1.0", "==0.1.0"),
        ("0.1.0", "==0.1.0"),
        ("v1.0.0", "==1.0.0"),
        ("!= 1.1", "!=1.1"),
    ],
)
def test_constraints_become_pip_specifiers_with_the_same_meaning(constraint, specifier):
    assert pip_specifier(constraint) == specifier


def test_satisfies_follows_hashicorp_semantics():
    assert satisfies("1.9.0", "~> 1.2") and not satisfies("2.0.0", "~> 1.2")
    assert satisfies("1.2.9", "~> 1.2.3") and not satisfies("1.3.0", "~> 1.2.3")
    assert satisfies("0.1.0", ">= 0.1, < 1") and not satisfies("1.0.0", ">= 0.1, < 1")
    with pytest.raises(ValueError):
        satisfies("1.0", ">= banana")


def _plugin(name: str, version: str) -> PluginDescription:
    return PluginDescription(plugin=name, version=version, protocol_version="1.0", path=f"/x/{name}")


def test_pypi_and_packer_sources_map_to_distributions():
    pypi = requirement_from("shell", {"source": "pypi/bakehouse-plugin-shell", "version": ">= 0.1"})
    assert pypi.pip_requirement == "bakehouse-plugin-shell>=0.1"
    assert pypi.met_by(_plugin("bakehouse-plugin-shell", "0.1.3"))
    assert not pypi.met_by(_plugin("bakehouse-plugin-shell", "0.0.9"))
    assert not pypi.met_by(_plugin("bakehouse-plugin-docker", "0.1.3"))

    packer = requirement_from("docker", {"source": "github.com/hashicorp/docker", "version": ">= 1.0.8"})
    # Packer's plugin versions are not ours: the constraint is not applied.
    assert packer.distribution == "bakehouse-plugin-docker" and packer.pip_requirement == "bakehouse-plugin-docker"
    assert packer.met_by(_plugin("bakehouse-plugin-docker", "0.1.0"))
    assert requirement_from("aws", {"source": "github.com/hashicorp/amazon"}).distribution == "bakehouse-plugin-aws"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"version": ">= 1"}, "has no source"),
        ({"source": "github.com/someone/else"}, 'no plugin for the source "github.com/someone/else"'),
        ({"source": "pypi/bad name"}, "is not a distribution name"),
        ({"source": "pypi/x", "version": "soon"}, "is not a valid version constraint"),
        ({"source": "pypi/x", "extra": "1"}, 'only "source" and "version"'),
    ],
)
def test_entries_that_cannot_be_mapped_say_why(entry, message):
    with pytest.raises(RequirementError, match=message):
        requirement_from("p", entry)
