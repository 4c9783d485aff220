"""Templates: quoted strings, heredocs, directives, strip markers, templatefile."""

from __future__ import annotations

from pathlib import Path

import pytest
from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.hcl.evaluator import EvalContext, evaluate
from bakehouse.hcl.parser import parse_expression, parse_template, parse_text
from bakehouse.hcl.values import STRING, Value, from_python, null, string, to_python, unknown


def ev(text: str, **variables: object) -> Value:
    ctx = EvalContext({k: from_python(v) for k, v in variables.items()})
    return evaluate(parse_expression(text), ctx)


def attr(source: str, name: str = "x", **variables: object) -> Value:
    body = parse_text(source, "t.pkr.hcl")
    ctx = EvalContext({k: from_python(v) for k, v in variables.items()})
    return evaluate(body.attributes[name].expr, ctx)


def test_interpolation_converts_to_string() -> None:
    assert ev('"n=${1.50} b=${true}"') == string("n=1.5 b=true")


def test_single_interpolation_is_unwrapped() -> None:
    assert to_python(ev('"${[1, 2]}"')) == [1, 2]
    assert ev('"${null}"').is_null


def test_literal_text_disables_unwrapping() -> None:
    assert ev('"%{for v in [true]}${v}%{endfor}"') == string("true")
    # a literal emptied by a strip marker still disables it
    assert ev('" ${~ 5}"') == string("5")
    assert ev('"${5}"') == from_python(5)


def test_escapes_in_quoted_strings() -> None:
    assert ev(r'"a\nb\t\"q\" \\ \u00e9 \U0001F600"').as_str() == 'a\nb\t"q" \\ é \U0001F600'
    assert ev('"$${not} %%{not}"').as_str() == "${not} %{not}"


def test_invalid_escape_is_a_positioned_error() -> None:
    with pytest.raises(Diagnostics) as info:
        parse_text('a = 1\nb = "x\\qy"\n', "t.pkr.hcl")
    d = info.value.items[0]
    assert d.summary == "Invalid escape sequence"
    assert (d.pos.line, d.pos.column) == (2, 7)


def test_strip_markers_on_interpolations() -> None:
    assert ev('"a  ${~ "b" ~}  c"') == string("abc")
    assert ev('"a  ${~ "b" }  c"') == string("ab  c")


def test_strip_markers_on_directives() -> None:
    assert ev('"[ %{~ if true ~} x %{~ endif ~} ]"') == string("[x]")
    assert ev('"%{ for x in ["a", "b"] ~}  ${x} %{~ endfor }"') == string("ab")


def test_strip_markers_never_strip_interpolated_values() -> None:
    assert ev('"${" a "}${~ "b"}"') == string(" a b")


def test_if_else_directive() -> None:
    assert ev('"%{ if x }yes%{ else }no%{ endif }"', x=False) == string("no")
    assert ev('"%{ if x == "a" }A%{ endif }"', x="a") == string("A")


def test_for_directive_with_key_and_value() -> None:
    assert ev('"%{for k, v in {b = 2, a = 1}}${k}=${v};%{endfor}"') == string("a=1;b=2;")
    assert ev('"%{for i, v in ["x", "y"]}${i}${v}%{endfor}"') == string("0x1y")


def test_nested_directives() -> None:
    text = '"%{for x in [1, 2, 3]}%{if x != 2}${x}%{else}-%{endif}%{endfor}"'
    assert ev(text) == string("1-3")


def test_directive_errors_name_the_problem() -> None:
    for text, summary in [
        ('"%{ if true }x"', "Unterminated template directive"),
        ('"x%{ endif }"', "Unexpected endif directive"),
        ('"%{ for x in [1] }x%{ endif }"', "Unexpected endif directive"),
    ]:
        with pytest.raises(Diagnostics) as info:
            parse_expression(text)
        assert info.value.items[0].summary == summary
        assert info.value.items[0].pos is not None


def test_heredoc_keeps_every_line_with_its_newline() -> None:
    assert attr("x = <<EOF\nhello\nEOF\n") == string("hello\n")
    assert attr("x = <<EOF\n  a\n    b\n  EOF\n") == string("  a\n    b\n")


def test_heredoc_is_raw_text_with_interpolation() -> None:
    assert attr('x = <<EOF\na\\nb ${v} $${lit}\nEOF\n', v="V") == string("a\\nb V ${lit}\n")


def test_indented_heredoc_removes_common_indent() -> None:
    assert attr("x = <<-EOF\n    a\n      b\n\n    c\n    EOF\n") == string("a\n  b\n\nc\n")


def test_indented_heredoc_with_for_directive_keeps_item_indent() -> None:
    # verified against Packer: the strip marker empties the rest of the
    # directive line, so the item line is not line-leading and keeps its indent
    source = "x = <<-EOT\n    %{ for t in xs ~}\n    - ${t}\n    %{ endfor ~}\n    EOT\n"
    assert attr(source, xs=["web", "db"]) == string("    - web\n    - db\n")


def test_heredoc_banner_with_strip_markers() -> None:
    source = "x = <<EOF\n%{~ if show ~}\nBANNER\n%{ endif ~}\nend\nEOF\n"
    assert attr(source, show=True) == string("BANNER\nend\n")
    assert attr(source, show=False) == string("end\n")


def test_heredoc_positions_point_into_the_body() -> None:
    with pytest.raises(Diagnostics) as info:
        attr("x = 1\ny = <<EOF\nline one\n  ${nope}\nEOF\n", "y")
    pos = info.value.items[0].pos
    assert (pos.line, pos.column) == (4, 5)


def test_unknown_interpolation_makes_an_unknown_string() -> None:
    ctx = EvalContext({"build": from_python({"ID": None}).__class__(STRING, None, is_known=False)})
    value = evaluate(parse_expression('"id=${build}"'), ctx)
    assert not value.is_known and value.type == STRING


def test_sensitive_interpolation_marks_the_result() -> None:
    ctx = EvalContext({"secret": string("hunter2").with_sensitive()})
    assert evaluate(parse_expression('"pw=${secret}"'), ctx).sensitive


def test_interpolating_a_collection_is_an_error() -> None:
    with pytest.raises(Diagnostics) as info:
        ev('"x${[1]}"')
    assert "Cannot include a tuple" in info.value.items[0].detail


def test_standalone_template_uses_per_line_literals() -> None:
    template = parse_template("Hello ${name}!\n%{ for x in xs ~}\n- ${x}\n%{ endfor ~}\nbye\n", "t.tpl")
    ctx = EvalContext({"name": string("you"), "xs": from_python(["a", "b"])})
    assert evaluate(template, ctx) == string("Hello you!\n- a\n- b\nbye\n")


def test_templatefile_hook_renders_with_only_given_variables(tmp_path: Path) -> None:
    (tmp_path / "t.tpl").write_text("name=${name} up=${upper(name)}\n", encoding="utf-8")
    ctx = EvalContext({"var": from_python({"x": 1})}, base_dir=str(tmp_path))
    render = ctx.function_context().render_template
    assert render is not None
    assert render("t.tpl", {"name": string("web")}) == string("name=web up=WEB\n")


def test_templatefile_missing_variable_points_into_the_template(tmp_path: Path) -> None:
    (tmp_path / "t.tpl").write_text("ok\n  ${missing}\n", encoding="utf-8")
    ctx = EvalContext(base_dir=str(tmp_path))
    with pytest.raises(Exception) as info:
        ctx.function_context().render_template("t.tpl", {})  # type: ignore[misc]
    err = info.value
    assert getattr(err, "pos", None) is not None
    assert err.pos.filename.endswith("t.tpl") and err.pos.line == 2  # type: ignore[attr-defined]


def test_templatefile_through_the_function_table(tmp_path: Path) -> None:
    from bakehouse.hcl.functions import FUNCTIONS

    if "templatefile" not in FUNCTIONS:
        pytest.xfail("function not implemented: templatefile")
    (tmp_path / "t.tpl").write_text("%{ for s in servers ~}\nserver ${s}\n%{ endfor ~}\n", encoding="utf-8")
    ctx = EvalContext(base_dir=str(tmp_path))
    value = evaluate(parse_expression('templatefile("t.tpl", {servers = ["a", "b"]})'), ctx)
    assert value == string("server a\nserver b\n")


def test_null_in_template_is_an_error_with_position() -> None:
    with pytest.raises(Diagnostics) as info:
        attr('x = "a ${v} b"\n', v=None)
    d = info.value.items[0]
    assert d.summary == "Invalid template interpolation value"
    assert (d.pos.line, d.pos.column) == (1, 10)


def test_unused_null_is_fine() -> None:
    assert ev('"%{ if false }${v}%{ endif }ok"', v=None) == string("ok")
    assert null(STRING).is_null and unknown().is_known is False


def test_indented_heredoc_with_a_sequence_at_line_start_trims_nothing() -> None:
    # hclsyntax counts a line that starts with a sequence as zero spaces
    source = "x = <<-EOF\n${v}\n    b\n    EOF\n"
    assert attr(source, v="a") == string("a\n    b\n")


def test_indented_heredoc_ignores_blank_lines_and_keeps_interpolated_spaces() -> None:
    source = "x = <<-EOF\n    ${v}\n\n      b\n    EOF\n"
    assert attr(source, v="  a") == string("  a\n\n  b\n")


def test_new_lines_inside_an_interpolation_are_ignored() -> None:
    assert attr('x = <<EOF\na ${\n  upper("b")\n} c\nEOF\n') == string("a B c\n")
