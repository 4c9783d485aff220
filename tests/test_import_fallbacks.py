"""No ``except ImportError`` fallback guards an import of the same distribution.

A module of the distribution that is installed is always importable; a fallback
for it only hides a real bug (a typo, a circular import) behind degraded
behaviour. Fallbacks stay legitimate for optional third-party packages and for
other distributions (an extra such as ``bakehouse-plugin-aws[local-ec2]``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parent.parent / "packages"


IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return any(isinstance(name, ast.Name) and name.id in IMPORT_ERRORS for name in names)


def own_module_fallbacks(path: Path, own: set[str]) -> list[str]:
    """``line: module`` for each import of a top-level package in ``own`` (or a
    relative import) made inside a ``try`` that catches ImportError."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try) or not any(map(_catches_import_error, node.handlers)):
            continue
        for statement in node.body:
            for inner in ast.walk(statement):
                if isinstance(inner, ast.Import):
                    modules = [alias.name for alias in inner.names]
                elif isinstance(inner, ast.ImportFrom):
                    modules = ["." * inner.level + (inner.module or "")]
                else:
                    continue
                found += [
                    f"{inner.lineno}: {module}"
                    for module in modules
                    if module.startswith(".") or module.split(".")[0] in own
                ]
    return found


def distributions() -> list[Path]:
    return sorted(path.parent for path in PACKAGES.glob("*/src"))


@pytest.mark.parametrize("distribution", distributions(), ids=lambda path: path.name)
def test_no_import_fallback_for_a_module_of_the_same_distribution(distribution: Path) -> None:
    src = distribution / "src"
    own = {child.name for child in src.iterdir() if (child / "__init__.py").exists()}
    assert own, f"no package under {src}"
    offenders = [
        f"{path.relative_to(PACKAGES)}:{where}"
        for path in sorted(src.rglob("*.py"))
        for where in own_module_fallbacks(path, own)
    ]
    assert offenders == []


def test_the_check_finds_a_fallback_for_an_own_module_and_allows_a_third_party_one(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "try:\n"
        "    from bakehouse.builtin.registry import BUILTINS\n"
        "except ImportError:\n"
        "    BUILTINS = {}\n"
        "def f():\n"
        "    try:\n"
        "        import boto3\n"
        "        from . import sibling\n"
        "    except (OSError, ModuleNotFoundError):\n"
        "        pass\n"
        "try:\n"
        "    import bakehouse.sdk\n"
        "except ValueError:\n"
        "    pass\n"
    )
    assert sorted(own_module_fallbacks(sample, {"bakehouse"})) == [
        "2: bakehouse.builtin.registry",
        "8: .",
    ]
