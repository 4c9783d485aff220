"""Every module of the four distributions imports: in particular no component's
config_schema defines an argument the core keeps for itself (a TypeError at
class definition), which would break every template using it."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = ["bakehouse.builtin", "bakehouse_plugin_docker", "bakehouse_plugin_aws", "bakehouse_plugin_shell"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_imports(package: str) -> None:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(info.name)
