"""The orchestrator is a library the commands drive: it never reaches back into
``bakehouse.cli`` (UI helpers and options live in neutral modules or are passed in)."""

from __future__ import annotations

import ast
from pathlib import Path

import bakehouse.orchestrator

ORCHESTRATOR = Path(bakehouse.orchestrator.__file__).parent


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` or ``from … import`` names in ``path``, at any depth
    (function-local imports included), with its line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the orchestrator package
                base = "bakehouse.orchestrator".rsplit(".", node.level - 1)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return sorted(found)


def test_no_orchestrator_module_imports_the_cli():
    files = sorted(ORCHESTRATOR.rglob("*.py"))
    assert files, f"no modules found under {ORCHESTRATOR}"
    offenders = [
        f"{path.relative_to(ORCHESTRATOR.parent)}:{line}: {module}"
        for path in files
        for line, module in imported_modules(path)
        if module == "bakehouse.cli" or module.startswith("bakehouse.cli.")
    ]
    assert offenders == []


def test_the_import_walk_sees_function_local_and_relative_imports(tmp_path):
    # The guard must not pass just because the walk misses an import form.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f():\n"
        "    from bakehouse.cli.common import make_ui\n"
        "import bakehouse.cli\n"
        "from ..cli import main\n"
    )
    assert imported_modules(sample) == [
        (2, "bakehouse.cli.common"),
        (3, "bakehouse.cli"),
        (4, "bakehouse.cli"),
    ]
