"""Parser adapter: structure, positions, references, the fixes over python-hcl2,
syntax errors as diagnostics, and the compiled-grammar cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bakehouse.hcl import ast
from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.hcl.parser import parse_expression, parse_file, parse_template, parse_text

TEMPLATE = '''\
variable "image" {
  type    = string
  default = "ubuntu:22.04"
}

source "docker" "base" {
  image  = var.image
  commit = true
}

build {
  sources = ["source.docker.base"]
  provisioner "shell" {
    inline = ["echo ${source.name} ${local.greeting}", data.amazon-ami.base.id]
  }
}
'''


def test_blocks_attributes_and_positions() -> None:
    body = parse_text(TEMPLATE, "main.pkr.hcl")
    assert [b.type for b in body.blocks] == ["variable", "source", "build"]
    source = body.blocks[1]
    assert source.labels == ["docker", "base"]
    assert (source.pos.line, source.pos.column) == (6, 1)
    image = source.body.attributes["image"]
    assert (image.pos.line, image.pos.column) == (7, 3)
    assert (image.expr.pos.line, image.expr.pos.column) == (7, 12)
    provisioner = body.blocks[2].body.blocks_of("provisioner")[0]
    assert provisioner.labels == ["shell"]


def test_references_are_static_traversals() -> None:
    body = parse_text(TEMPLATE, "main.pkr.hcl")
    inline = body.blocks[2].body.blocks[0].body.attributes["inline"].expr
    assert inline.references() == [("source", "name"), ("local", "greeting"), ("data", "amazon-ami", "base", "id")]


def test_references_skip_iteration_names() -> None:
    expr = parse_expression('[for k, v in var.m : "${k}-${v.x}-${local.y}" if v != null]')
    assert expr.references() == [("var", "m"), ("local", "y")]
    tmpl = parse_expression('"%{ for s in var.list }${s}${var.sep}%{ endfor }"')
    assert tmpl.references() == [("var", "list"), ("var", "sep")]


def test_references_inside_heredocs() -> None:
    body = parse_text("x = <<EOF\n${var.a}\n%{ if local.b }y%{ endif }\nEOF\n", "t.hcl")
    assert body.attributes["x"].expr.references() == [("var", "a"), ("local", "b")]


def test_parse_file_strips_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.pkr.hcl"
    path.write_bytes("\ufeffa = 1\n".encode())
    assert "a" in parse_file(path).attributes


def test_parse_file_missing_or_binary_is_a_diagnostic(tmp_path: Path) -> None:
    with pytest.raises(Diagnostics):
        parse_file(tmp_path / "nope.pkr.hcl")
    bad = tmp_path / "bad.pkr.hcl"
    bad.write_bytes(b"a = 1\nb = \"\xff\"\n")
    with pytest.raises(Diagnostics) as info:
        parse_file(bad)
    assert info.value.items[0].pos.line == 2  # type: ignore[union-attr]


def test_duplicate_attributes_are_an_error() -> None:
    with pytest.raises(Diagnostics) as info:
        parse_text("a = 1\nb {\n  x = 1\n  x = 2\n}\n", "t.hcl")
    d = info.value.items[0]
    assert d.summary == "Attribute redefined" and (d.pos.line, d.pos.column) == (4, 3)  # type: ignore[union-attr]
    assert "t.hcl:3" in d.detail


def test_duplicate_keys_in_an_object_constructor_are_fine() -> None:
    parse_text("a = {x = 1, x = 2}\n", "t.hcl")


@pytest.mark.parametrize(
    ("text", "summary", "line", "column"),
    [
        ("a = x.0.1\n", "Invalid legacy index", 1, 8),
        ("a = provider::p::f(1)\n", "Provider functions are not supported", 1, 5),
        ('a = "x\\qy"\n', "Invalid escape sequence", 1, 7),
        ("a = {for = 1}\n", "Invalid object key", 1, 6),
    ],
)
def test_constructs_python_hcl2_accepts_but_hcl_rejects(text: str, summary: str, line: int, column: int) -> None:
    with pytest.raises(Diagnostics) as info:
        parse_text(text, "t.hcl")
    d = info.value.items[0]
    assert d.summary == summary
    assert (d.pos.line, d.pos.column) == (line, column)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("a = 1\nb = \n", 2, 4),
        ('source "docker" "x"\n{\n}\n', 2, 1),
        ("a = [1, 2\nb = 3\n", 2, 1),
        ("a = 1 2\n", 1, 7),
        ("a = {\n", 1, 6),
        ('a = "abc\n', 1, 5),
        ("a = 1 +\n", 1, 8),
        ("x = $\n", 1, 5),
    ],
)
def test_syntax_errors_are_positioned_diagnostics(text: str, line: int, column: int) -> None:
    with pytest.raises(Diagnostics) as info:
        parse_text(text, "t.pkr.hcl")
    d = info.value.items[0]
    assert d.pos is not None and d.pos.filename == "t.pkr.hcl"
    assert d.pos.line == line, d.render()
    assert abs(d.pos.column - column) <= 2, d.render()
    assert d.detail and d.detail.endswith(".") and "Traceback" not in d.render()
    assert "Token(" not in d.render()


def test_interpolation_strip_markers_parse() -> None:
    expr = parse_expression('"a ${~ x ~} b"')
    assert isinstance(expr, ast.TemplateExpr)
    assert [type(p).__name__ for p in expr.parts] == ["TemplateLiteral", "TemplateInterp", "TemplateLiteral"]


def test_unary_chains_parse() -> None:
    assert isinstance(parse_expression("!!x"), ast.UnaryExpr)
    assert isinstance(parse_expression("- -1"), ast.UnaryExpr)


def test_negative_literals_and_subtraction() -> None:
    expr = parse_expression("5 -1")
    assert isinstance(expr, ast.BinaryExpr) and expr.op == "-"


def test_splat_nesting() -> None:
    full = parse_expression("a[*].b[*].c")
    assert isinstance(full, ast.SplatExpr) and isinstance(full.each, ast.SplatExpr)
    attr = parse_expression("a.*.b[0].c")
    assert isinstance(attr, ast.GetAttrExpr) and isinstance(attr.target, ast.IndexExpr)
    assert isinstance(attr.target.target, ast.SplatExpr)


def test_multiline_expressions() -> None:
    body = parse_text('a = [\n  1,\n  2,\n]\nb = {\n  x = 1\n  y = 2\n}\nc = (1\n  + 2)\nd = true ? 1 : 2\n', "t.hcl")
    assert set(body.attributes) == {"a", "b", "c", "d"}


def test_comments_are_ignored() -> None:
    body = parse_text("# c\n// d\n/* e\n*/ a = 1 # tail\n", "t.hcl")
    assert set(body.attributes) == {"a"}


def test_grammar_cache_is_written_and_reused(tmp_path: Path) -> None:
    """Lark's tables (for syntax errors and fmt) are compiled once into the cache."""
    cache = tmp_path / "cache"
    env = dict(os.environ, BAKEHOUSE_CACHE_DIR=str(cache))
    code = (
        "from bakehouse.hcl.diagnostics import Diagnostics\n"
        "from bakehouse.hcl.parser import parse_text\n"
        "try:\n"
        "    parse_text('a = \\n')\n"
        "except Diagnostics:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('no syntax error')\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    files = list(cache.glob("hcl-grammar-*.lark"))
    assert len(files) == 1 and files[0].stat().st_size > 10_000
    mtime = files[0].stat().st_mtime_ns
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert files[0].stat().st_mtime_ns == mtime
    assert {p.suffix for p in cache.iterdir()} == {".lark", ".lock", ".marshal"}


def test_a_template_that_parses_needs_neither_lark_nor_its_cache(tmp_path: Path) -> None:
    """Valid input goes through the generated tables only (start-up cost, issue 9)."""
    cache = tmp_path / "cache"
    env = dict(os.environ, BAKEHOUSE_CACHE_DIR=str(cache))
    code = (
        "import sys\n"
        "from bakehouse.hcl.parser import parse_expression, parse_text\n"
        "parse_text('a = \"${upper(var.x)}\"\\nb { c = [for v in d : v if v != 1] }\\n')\n"
        "parse_expression('1 + 2')\n"
        "print(sorted(m for m in ('lark', 'hcl2') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120,
                            capture_output=True, text=True)
    assert result.stdout.strip() == "[]"
    assert not cache.exists() or not list(cache.glob("hcl-grammar-*"))


def test_the_tables_are_read_from_a_marshal_copy_once_it_exists(tmp_path: Path) -> None:
    """Decoding the JSON tables is paid once: later runs load a marshal copy
    from the cache directory; a damaged copy is replaced, never trusted."""
    cache = tmp_path / "cache"
    env = dict(os.environ, BAKEHOUSE_CACHE_DIR=str(cache))
    code = ("from bakehouse.hcl.parser import fast_tables, parse_text\n"
            "assert fast_tables() is not None\n"
            "parse_text('a = 1\\n')\n")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    [copy] = cache.glob("lalr-tables-*.marshal")
    mtime = copy.stat().st_mtime_ns
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert copy.stat().st_mtime_ns == mtime  # read, not written again
    copy.write_bytes(b"not marshal data")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert copy.read_bytes() != b"not marshal data"


def test_generated_lalr_tables_are_up_to_date() -> None:
    """_lalr_tables.json is what `python -m bakehouse.hcl._lalr_gen` writes now."""
    from bakehouse.hcl import _lalr_gen

    assert _lalr_gen.TABLES_PATH.read_text(encoding="ascii") == _lalr_gen.generate(), (
        "regenerate with: python -m bakehouse.hcl._lalr_gen"
    )


@pytest.mark.parametrize("text", ["(" * 3000 + "1" + ")" * 3000, "[" * 3000 + "]" * 3000, "-" * 3000 + "1"])
def test_absurd_nesting_is_a_diagnostic(text: str) -> None:
    with pytest.raises(Diagnostics) as info:
        parse_expression(text)
    assert info.value.items[0].summary == "Expression too deeply nested"


def test_unicode_identifiers_and_keyword_names() -> None:
    body = parse_text("ñame = 1\nin = 2\nfor_each = 3\nvariable \"x\" { default = [for ü in [1] : ü] }\n", "t.hcl")
    assert list(body.attributes) == ["ñame", "in", "for_each"]


def test_crlf_files_parse_like_lf_files(tmp_path: Path) -> None:
    from bakehouse.hcl.evaluator import EvalContext, evaluate
    from bakehouse.hcl.values import string

    path = tmp_path / "crlf.pkr.hcl"
    path.write_bytes(b'a = "x"\r\nb = <<EOF\r\nline1\r\n  ${a}\r\nEOF\r\nc {\r\n  d = [1,\r\n    2]\r\n}\r\n')
    body = parse_file(path)
    assert evaluate(body.attributes["b"].expr, EvalContext({"a": string("v")})) == string("line1\n  v\n")
    assert body.blocks[0].body.attributes["d"].pos.line == 7


def test_quoted_strings_cannot_span_lines() -> None:
    with pytest.raises(Diagnostics) as info:
        parse_text('a = "abc\ndef"\n', "t.hcl")
    assert info.value.items[0].summary == "Invalid multi-line string"
    parse_text('a = "abc\\ndef"\n', "t.hcl")


REPO = Path(__file__).resolve().parents[4]
EXAMPLES = sorted(p for p in (REPO / "examples").rglob("*.pkr*.hcl")) if (REPO / "examples").is_dir() else []


@pytest.mark.parametrize("path", EXAMPLES, ids=[str(p.relative_to(REPO)) for p in EXAMPLES])
def test_every_example_template_parses(path: Path) -> None:
    body = parse_file(path)
    assert body.blocks or body.attributes
    for block in body.blocks:
        for attribute in block.body.attributes.values():
            assert attribute.expr.pos.filename == str(path)


def test_examples_exist() -> None:
    assert EXAMPLES, "examples/ should hold templates for the parser to read"


@pytest.mark.parametrize(
    ("text", "line", "columns"),
    [
        # 5,000 nested directives, one per line: the 129th (line 131) crosses the limit.
        ("\n\nx = <<EOT\n" + "%{ if true }\n" * 5000 + "x" + "%{ endif }\n" * 5000 + "EOT\n", 132, range(1, 2)),
        # ... or all on one line: the position is within the 128th/129th directive.
        ("x = 1\ny = <<EOT\n" + "%{ for i in [1] }" * 500 + "x" + "%{ endfor }" * 500 + "\nEOT\n", 3, range(17 * 127 + 1, 17 * 129 + 1)),
        ("a = 1\n\n\nb = " + "[" * 3000 + "]" * 3000 + "\n", 4, None),
        ("a = 1\nb = \"" + "%{ if true }" * 300 + "%{ endif }" * 300 + "\"\n", 2, None),
    ],
    ids=["heredoc-if-lines", "heredoc-for-one-line", "brackets", "quoted-if"],
)
def test_deep_nesting_is_a_diagnostic_at_its_line(text: str, line: int, columns: range | None) -> None:
    with pytest.raises(Diagnostics) as info:
        parse_text(text, "deep.pkr.hcl")
    [diagnostic] = info.value.items
    assert diagnostic.summary == "Expression too deeply nested"
    assert diagnostic.pos is not None and diagnostic.pos.line == line
    if columns is not None:
        assert diagnostic.pos.column in columns


def test_nesting_up_to_the_limit_parses_and_evaluates() -> None:
    from bakehouse.hcl.ast import MAX_NESTING
    from bakehouse.hcl.evaluator import EvalContext, evaluate

    depth = MAX_NESTING - 1  # the heredoc itself is one level
    body = parse_text("x = <<EOT\n" + "%{ if true }" * depth + "ok" + "%{ endif }" * depth + "\nEOT\n", "t")
    assert evaluate(body.attributes["x"].expr, EvalContext()).as_str() == "ok\n"
    assert body.attributes["x"].expr.references() == []


def test_templatefile_nesting_is_a_diagnostic() -> None:
    with pytest.raises(Diagnostics) as info:
        parse_template("a\n" + "%{ if true }" * 1000 + "%{ endif }" * 1000, "t.tpl")
    assert info.value.items[0].pos is not None and info.value.items[0].pos.line == 2
