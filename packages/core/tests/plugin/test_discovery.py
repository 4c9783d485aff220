"""Discovery order, describe parsing and the describe cache (real executables)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from bakehouse.plugin.discovery import (
    DescribeCache,
    discover,
    find_executables,
    parse_description,
    plugin_directories,
    run_describe,
)
from bakehouse.plugin.errors import PluginError


def make_plugin(directory: Path, name: str, builders: list[str], *, counter: Path | None = None,
                protocol: str = "1.0", output: str | None = None) -> Path:
    """A tiny executable answering ``describe`` (and counting its starts)."""
    directory.mkdir(parents=True, exist_ok=True)
    description = {"plugin": name, "version": "1.0.0", "protocol_version": protocol,
                   "builders": builders, "provisioners": [], "post_processors": [],
                   "datasources": []}
    text = output if output is not None else json.dumps(description)
    count = f"open({str(counter)!r}, 'a').write('x')\n" if counter else ""
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{count}print({text!r})\n")
    path.chmod(0o755)
    return path


def test_directories_in_documented_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         bakehouse_home: Path) -> None:
    first, second = tmp_path / "p1", tmp_path / "p2"
    monkeypatch.setenv("BAKEHOUSE_PLUGIN_PATH", f"{first}{os.pathsep}{second}")
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "bin" / "bakehouse")])
    dirs = plugin_directories([str(tmp_path / "explicit")])
    assert dirs == [tmp_path / "explicit", tmp_path / "bin", Path(sys.executable).parent,
                    bakehouse_home / "plugins", first, second]


def test_first_hit_per_executable_name_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            bakehouse_home: Path) -> None:
    home_copy = make_plugin(bakehouse_home / "plugins", "bakehouse-plugin-dup", ["from-home"])
    make_plugin(tmp_path / "path", "bakehouse-plugin-dup", ["from-path"])
    make_plugin(tmp_path / "path", "bakehouse-plugin-other", ["other"])
    (tmp_path / "path" / "bakehouse-plugin-notexec").write_text("")
    (tmp_path / "path" / "unrelated").write_text("")
    monkeypatch.setenv("BAKEHOUSE_PLUGIN_PATH", str(tmp_path / "path"))
    found = {p.name: p for p in find_executables()}
    assert found["bakehouse-plugin-dup"] == home_copy
    assert "bakehouse-plugin-other" in found
    assert "bakehouse-plugin-notexec" not in found and "unrelated" not in found


def test_explicit_executable_path_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = make_plugin(tmp_path / "explicit", "bakehouse-plugin-dup", ["explicit"])
    make_plugin(tmp_path / "path", "bakehouse-plugin-dup", ["from-path"])
    monkeypatch.setenv("BAKEHOUSE_PLUGIN_PATH", str(tmp_path / "path"))
    catalog = discover([str(explicit)])
    assert catalog.components[("builder", "explicit")].path == str(explicit)
    assert ("builder", "from-path") not in catalog.components


def test_plugins_shadow_builtins_and_builtins_fill_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_plugin(tmp_path / "path", "bakehouse-plugin-nullish", ["null"])
    monkeypatch.setenv("BAKEHOUSE_PLUGIN_PATH", str(tmp_path / "path"))
    catalog = discover()
    assert catalog.components[("builder", "null")].plugin_name == "bakehouse-plugin-nullish"
    builtin_sources = [s for s in catalog.components.values() if s.path is None]
    assert builtin_sources and all(s.plugin_name == "builtin" for s in builtin_sources)


def test_describe_cache_is_keyed_by_size_and_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   bakehouse_home: Path) -> None:
    counter = tmp_path / "starts"
    path = make_plugin(tmp_path / "path", "bakehouse-plugin-counted", ["counted"], counter=counter)
    monkeypatch.setenv("BAKEHOUSE_PLUGIN_PATH", str(tmp_path / "path"))
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "nowhere" / "bakehouse")])
    assert ("builder", "counted") in discover().components
    assert ("builder", "counted") in discover().components
    assert counter.read_text() == "x"  # described once
    assert (bakehouse_home / "describe-cache.json").exists()
    path.write_text(path.read_text() + "\n# grown\n")
    discover()
    assert counter.read_text() == "xx"  # size changed: described again
    cached = DescribeCache().get(path)
    assert cached is not None and cached.builders == ("counted",)


def test_broken_describe_is_reported_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_plugin(tmp_path / "path", "bakehouse-plugin-broken", [], output="this is not json")
    make_plugin(tmp_path / "path", "bakehouse-plugin-fine", ["fine"])
    monkeypatch.setenv("BAKEHOUSE_PLUGIN_PATH", str(tmp_path / "path"))
    catalog = discover()
    assert ("builder", "fine") in catalog.components
    assert len(catalog.problems) == 1
    assert "bakehouse-plugin-broken" in catalog.problems[0] and "not JSON" in catalog.problems[0]


def test_incompatible_protocol_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_plugin(tmp_path / "path", "bakehouse-plugin-future", ["future"], protocol="2.0")
    monkeypatch.setenv("BAKEHOUSE_PLUGIN_PATH", str(tmp_path / "path"))
    catalog = discover()
    assert not catalog.components[("builder", "future")].description.compatible  # type: ignore[union-attr]
    assert any("speaks protocol '2.0'" in p for p in catalog.problems)


def test_parse_description_errors_name_the_executable() -> None:
    with pytest.raises(PluginError, match="/x/bakehouse-plugin-y: describe output lacks a plugin name"):
        parse_description(Path("/x/bakehouse-plugin-y"), "{}")
    with pytest.raises(PluginError, match="is not a list of names"):
        parse_description(Path("/x/p"), json.dumps({"plugin": "p", "builders": "docker"}))


def test_describe_of_a_failing_executable(tmp_path: Path) -> None:
    path = tmp_path / "bakehouse-plugin-fails"
    path.write_text(f"#!{sys.executable}\nimport sys\nprint('boom', file=sys.stderr)\nsys.exit(4)\n")
    path.chmod(0o755)
    with pytest.raises(PluginError) as caught:
        run_describe(path, 30)
    assert str(caught.value) == f"plugin {path}: describe failed (exit status 4): boom"
