"""``bakehouse plugins docs``: option reference from the installed components'
config schemas (plugins answer ``EXE schema``), and the generated tables in the
repo's docs are current."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from bakehouse.plugin.docs import SECTION

from tests.support import REPO

#: Markdown files of the repo that embed generated option tables.
DOCS_WITH_TABLES = sorted(
    path for path in [*REPO.glob("docs/*.md"), *REPO.glob("packages/*/README.md")]
    if SECTION.search(path.read_text(encoding="utf-8"))
)


def test_the_docs_option_tables_are_generated_and_current(bakehouse) -> None:  # type: ignore[no-untyped-def]
    assert REPO / "docs" / "docker.md" in DOCS_WITH_TABLES
    args = [arg for path in DOCS_WITH_TABLES for arg in ("-check", str(path))]
    result = bakehouse("plugins", "docs", *args, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_names_a_stale_table_and_update_regenerates_it(bakehouse, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "docker.md"
    shutil.copy(REPO / "docs" / "docker.md", doc)
    text = doc.read_text()
    assert "| `privileged` | bool |" in text
    doc.write_text(text.replace("| `privileged` | bool |", "| `privileged_by_hand` | bool |", 1))

    stale = bakehouse("plugins", "docs", "-check", str(doc))
    assert stale.returncode == 1
    assert re.search(rf"{re.escape(str(doc))}: stale option tables: builder/docker\b", stale.stdout + stale.stderr), stale.stdout
    assert "bakehouse plugins docs -update" in stale.stdout + stale.stderr

    updated = bakehouse("plugins", "docs", "-update", str(doc))
    assert updated.returncode == 0, updated.stderr
    assert doc.read_text() == text


def test_a_section_naming_no_installed_component_is_an_error_at_its_line(bakehouse, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "x.md"
    doc.write_text("# X\n\n<!-- options:builder/no-such -->\n<!-- /options -->\n")
    result = bakehouse("plugins", "docs", "-check", str(doc))
    assert result.returncode == 1
    assert f"{doc}:3: no installed component is 'builder/no-such'" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_reference_lists_plugins_and_builtins_with_their_options(bakehouse) -> None:  # type: ignore[no-untyped-def]
    result = bakehouse("plugins", "docs", "-format", "json", "docker", "post-processor/manifest")
    assert result.returncode == 0, result.stderr
    components = {(c["kind"], c["type"]): c for c in json.loads(result.stdout)}
    assert set(components) == {("builder", "docker"), ("post-processor", "manifest")}
    docker = components[("builder", "docker")]
    assert docker["plugin"] == "bakehouse-plugin-docker"
    options = {o["name"]: o for o in docker["options"]}
    assert options["image"]["type"] == "string"
    assert options["privileged"]["default"] == "false"
    assert components[("post-processor", "manifest")]["plugin"] == "builtin"

    markdown = bakehouse("plugins", "docs", "shell")
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith('## provisioner "shell" (bakehouse-plugin-shell ')
    assert "| `inline` | list(string) |" in markdown.stdout

    unknown = bakehouse("plugins", "docs", "dokcer")
    assert unknown.returncode == 1
    assert "no installed component is named 'dokcer'" in unknown.stdout + unknown.stderr


def test_a_third_party_plugin_answers_schema(localdir_plugin_dir: Path, bakehouse) -> None:  # type: ignore[no-untyped-def]
    [executable] = localdir_plugin_dir.iterdir()
    schema = json.loads(subprocess.run(
        [str(executable), "schema"], capture_output=True, text=True, check=True).stdout)
    assert schema["plugin"] == "bakehouse-plugin-localdir"
    [output_dir] = [o for o in schema["components"]["builder"]["localdir"] if o["name"] == "output_dir"]
    assert output_dir["type"] == "string"

    result = bakehouse("plugins", "docs", "localdir", env={"BAKEHOUSE_PLUGIN_PATH": str(localdir_plugin_dir)})
    assert result.returncode == 0, result.stderr
    assert '## builder "localdir" (bakehouse-plugin-localdir' in result.stdout
    assert "| `output_dir` | string |" in result.stdout
