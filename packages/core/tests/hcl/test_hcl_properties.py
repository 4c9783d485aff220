"""Property: whatever the input, the parser and evaluator end in a Value or in
Diagnostics that carry a location -- never another exception, never a hang."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bakehouse.hcl import _lalr
from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.hcl.evaluator import EvalContext, evaluate
from bakehouse.hcl.parser import (
    fast_tables,
    get_parser,
    parse_expression,
    parse_template,
    parse_text,
)
from bakehouse.hcl.values import Value, from_python, unknown
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CONFORMANCE = Path(__file__).resolve().parent / "data" / "hcl_expressions.json"
SEED_EXPRESSIONS = [e["expr"] for e in json.loads(CONFORMANCE.read_text())]
SEED_EXPRESSIONS += [
    '"a ${~ var.name ~} b %{ if var.flag }yes%{ else }no%{ endif }"',
    "[for k, v in var.map : upper(v) if k != \"b\"]",
    "{for s in var.list : s => s...}",
    "var.objs[*].name",
    "var.objs.*.tags[0]",
    "local.n / 0",
    "try(var.missing, can(var.list[9]), 1)",
    'convert(var.list, set(string))',
]

SEED_FILE = '''\
variable "image" {
  type    = object({name = string, tag = optional(string, "latest")})
  default = { name = "ubuntu" }
}

locals {
  greeting = "hello ${var.image.name}"
  script = <<-EOT
    %{ for s in ["a", "b"] ~}
    echo ${s}
    %{ endfor ~}
  EOT
}

build {
  sources = ["source.docker.base"]
  provisioner "shell" { inline = [local.greeting, "${~ upper("x") ~}"] }
}
'''

# A mutation never inserts digits, so a mutated call cannot ask for, say,
# a thousand-digit exponent; everything else (brackets, quotes, markers) goes.
MUTATION_ALPHABET = list('(){}[]"$%~.*,:?!=<>+-/\\ \n\tabcxyz_') + ["${", "%{", "~}", "<<EOF\n", "...", "[*]", ".*", "for ", " in ", " if ", "null", "true"]


def _context() -> EvalContext:
    variables = {
        "var": from_python(
            {
                "name": "web",
                "flag": True,
                "map": {"a": "x", "b": "y"},
                "list": ["p", "q", "q"],
                "objs": [{"name": "n1", "tags": ["t"]}, {"name": "n2", "tags": []}],
            }
        ),
        "local": from_python({"n": 3, "s": "str"}),
        "build": unknown(),
    }
    return EvalContext(variables, base_dir=str(Path(__file__).parent))


CTX = _context()


def _check(outcome: Value | Diagnostics) -> None:
    if isinstance(outcome, Diagnostics):
        assert outcome.items, "empty Diagnostics raised"
        for d in outcome.items:
            assert d.pos is not None, f"diagnostic without a location: {d.summary}"
            assert d.pos.line >= 1 and d.pos.column >= 1
            assert "Traceback" not in d.render()
    else:
        assert isinstance(outcome, Value)


def _run_expression(text: str) -> Value | Diagnostics:
    try:
        expr = parse_expression(text, "<prop>")
        return evaluate(expr, CTX)
    except Diagnostics as diags:
        return diags


@st.composite
def mutated(draw: st.DrawFn, seeds: list[str]) -> str:
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        where = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate", "swap"]))
        if action == "insert":
            text = text[:where] + draw(st.sampled_from(MUTATION_ALPHABET)) + text[where:]
        elif action == "delete":
            end = min(len(text), where + draw(st.integers(1, 5)))
            text = text[:where] + text[end:]
        elif action == "duplicate":
            end = min(len(text), where + draw(st.integers(1, 8)))
            text = text[:end] + text[where:end] + text[end:]
        elif where + 1 < len(text):
            text = text[:where] + text[where + 1] + text[where] + text[where + 2 :]
    return text


NAMES = st.sampled_from(["var.name", "var.flag", "var.list", "var.map", "var.objs", "local.n", "local.s", "build.ID", "nope", "x"])
LITERALS = st.sampled_from(["1", "0", "-2.5", "1e3", '"s"', '""', "true", "false", "null", "[]", "{}", '"${1}"'])


def _expressions() -> st.SearchStrategy[str]:
    leaf = st.one_of(NAMES, LITERALS)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%", "==", "!=", "<", ">=", "&&", "||"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(["-", "!"]), inner).map(lambda t: f"{t[0]}{t[1]}"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
            st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
            st.lists(st.tuples(st.sampled_from(["a", "b", '"c"', "(local.s)"]), inner), max_size=3).map(
                lambda kv: "{" + ", ".join(f"{k} = {v}" for k, v in kv) + "}"
            ),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            st.tuples(inner, st.sampled_from(["name", "a", "0", "*"])).map(lambda t: f"{t[0]}.{t[1]}"),
            inner.map(lambda x: f"{x}[*].name"),
            st.tuples(inner, inner).map(lambda t: f"[for i, v in {t[0]} : {t[1]}]"),
            st.tuples(inner, inner).map(lambda t: f"{{for k, v in {t[0]} : k => {t[1]}...}}"),
            st.tuples(inner, inner).map(lambda t: f'"x${{{t[0]}}}%{{ if {t[1]} }}y%{{ endif }}"'),
            st.tuples(inner, inner).map(lambda t: f'"%{{ for v in {t[0]} ~}}${{v}}{t[1]!s:.0}%{{~ endfor }}"'),
            st.tuples(st.sampled_from(["upper", "length", "jsonencode", "keys", "concat", "try", "can", "join", "tostring", "coalesce", "flatten"]), st.lists(inner, max_size=2)).map(
                lambda t: f"{t[0]}(" + ", ".join(t[1]) + ")"
            ),
            inner.map(lambda x: f"convert({x}, list(string))"),
        )

    return st.recursive(leaf, extend, max_leaves=12)


# Compile or load the grammar before the first example, so no example pays it.
get_parser()

# A hang is caught by the per-test timeout; a per-example deadline would only
# make the suite flaky on a busy machine.
PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@pytest.mark.timeout(600)
@PROPERTY_SETTINGS
@given(_expressions())
def test_generated_expressions_end_in_value_or_located_diagnostics(text: str) -> None:
    _check(_run_expression(text))


@pytest.mark.timeout(600)
@PROPERTY_SETTINGS
@given(mutated(SEED_EXPRESSIONS))
def test_mutated_expressions_end_in_value_or_located_diagnostics(text: str) -> None:
    _check(_run_expression(text))


@pytest.mark.timeout(600)
@PROPERTY_SETTINGS
@given(mutated([SEED_FILE]))
def test_mutated_template_files_end_in_body_or_located_diagnostics(text: str) -> None:
    try:
        body = parse_text(text, "prop.pkr.hcl")
    except Diagnostics as diags:
        _check(diags)
        return
    for attribute in body.attributes.values():
        try:
            _check(evaluate(attribute.expr, CTX))
        except Diagnostics as diags:
            _check(diags)


@pytest.mark.timeout(600)
@PROPERTY_SETTINGS
@given(mutated(["Hello ${name}!\n%{ for x in xs ~}\n- ${x}\n%{ endfor ~}\n", "a $${b} %%{c} ${~ d ~}\n%{ if e }f%{ else }g%{ endif }"]))
def test_mutated_standalone_templates_end_in_value_or_located_diagnostics(text: str) -> None:
    try:
        template = parse_template(text, "prop.tpl")
        outcome: Value | Diagnostics = evaluate(template, EvalContext({"name": from_python("n"), "xs": from_python([1]), "d": from_python("d"), "e": from_python(True)}))
    except Diagnostics as diags:
        outcome = diags
    _check(outcome)


@pytest.mark.timeout(600)
@PROPERTY_SETTINGS
@given(st.text(max_size=60))
def test_arbitrary_text_as_expression(text: str) -> None:
    _check(_run_expression(text))


# ----------------------------------------------------- the fast LALR driver = Lark

def _shape(node: Any) -> object:
    """A tree (Lark's or the fast driver's) as nested tuples, tokens with every position."""
    if node is None:
        return None
    if hasattr(node, "children"):
        return (str(node.data), tuple(_shape(c) for c in node.children))
    return (node.type, str(node), node.start_pos, node.line, node.column, node.end_line, node.end_column,
            node.end_pos)


def _assert_same_as_lark(text: str, start: str) -> None:
    """The generated tables parse ``text`` into Lark's own tree, and refuse
    exactly what Lark refuses (whose error then becomes the diagnostic)."""
    from lark.exceptions import UnexpectedInput

    tables = fast_tables()
    assert tables is not None, "_lalr_tables.json does not match the grammar: python -m bakehouse.hcl._lalr_gen"
    fast = _lalr.parse(tables, text, start)
    try:
        slow = get_parser().parse(text, start=start)
    except UnexpectedInput:
        slow = None
    assert _shape(fast) == _shape(slow), text


@pytest.mark.parametrize("text", SEED_EXPRESSIONS)
def test_fast_parser_builds_larks_tree_for_each_seed_expression(text: str) -> None:
    _assert_same_as_lark(text.rstrip() + "\n", "expr_start")


def test_fast_parser_builds_larks_tree_for_the_seed_file() -> None:
    _assert_same_as_lark(SEED_FILE, "start")


@pytest.mark.timeout(600)
@PROPERTY_SETTINGS
@given(st.one_of(_expressions(), mutated(SEED_EXPRESSIONS), st.text(max_size=60)))
def test_fast_parser_matches_lark_on_expressions(text: str) -> None:
    _assert_same_as_lark(text.rstrip() + "\n", "expr_start")


@pytest.mark.timeout(600)
@PROPERTY_SETTINGS
@given(mutated([SEED_FILE]))
def test_fast_parser_matches_lark_on_template_files(text: str) -> None:
    _assert_same_as_lark(text if text.endswith("\n") else text + "\n", "start")
