"""templatefile through the evaluator's render hook, with real files."""

from __future__ import annotations

from pathlib import Path

from bakehouse.hcl.function import FunctionContext
from fnsupport import error_of


def test_templatefile_renders_with_only_its_variables(ev, tmp_path: Path) -> None:
    (tmp_path / "greeting.tmpl").write_text(
        "Hello ${name}!\n%{ for item in items ~}\n- ${upper(item)}\n%{ endfor ~}\n",
        encoding="utf-8",
    )
    result = ev(
        'templatefile("greeting.tmpl", {name = "world", items = ["a", "b"]})', base_dir=tmp_path
    )
    assert result.as_str() == "Hello world!\n- A\n- B\n"


def test_templatefile_errors_are_clean(ev, call, tmp_path: Path) -> None:
    (tmp_path / "t.tmpl").write_text("${missing}", encoding="utf-8")
    error_of(ev, 'templatefile("t.tmpl", {})', base_dir=tmp_path)
    error_of(ev, 'templatefile("absent.tmpl", {})', base_dir=tmp_path)
    assert "map or object" in error_of(ev, 'templatefile("t.tmpl", "x")', base_dir=tmp_path)
    assert "not available" in error_of(
        call, "templatefile", "t.tmpl", {}, fctx=FunctionContext(base_dir=str(tmp_path))
    )
