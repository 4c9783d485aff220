"""Write ``_lalr_tables.json``: the HCL grammar's LALR tables for :mod:`bakehouse.hcl._lalr`.

Run ``python -m bakehouse.hcl._lalr_gen`` after changing the grammar patches in
:mod:`bakehouse.hcl.parser` or upgrading python-hcl2 or lark; a test fails
while the committed file differs from what this module generates.

Everything comes from the Lark parser that :func:`bakehouse.hcl.parser.get_parser`
builds (same grammar, same options), so the fast driver lexes, parses and
shapes trees as Lark does:

* one entry per contextual-lexer state: the union pattern(s) Lark would try,
  the ignored and newline-bearing terminal types, and the keyword table that
  Lark's "unless" callbacks apply to a matched name;
* the parse table: for every state, symbol -> shift target (>= 0) or reduce
  of rule ``-1 - action``;
* per rule: its origin, its length and how Lark's tree builder shapes it (the
  tree's name, whether a single child replaces the node, which children are
  kept and which inlined).
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

TABLES_PATH = Path(__file__).with_name("_lalr_tables.json")


def grammar_digest(grammar: str) -> str:
    return hashlib.sha256(grammar.encode("utf-8")).hexdigest()


def _rule_shape(callback: Any, rule: Any) -> list[Any]:
    """``[tree name, expand single child, kept children or None]`` from Lark's callback chain."""
    from lark.parse_tree_builder import ChildFilterLALR_NoPlaceholders, ExpandSingleChild
    from lark.tree import Tree

    keep: list[list[int]] | None = None
    expand1 = False
    f = callback
    if isinstance(f, ChildFilterLALR_NoPlaceholders):
        keep = [[int(i), int(bool(expand))] for i, expand in f.to_include]
        f = f.node_builder
    if isinstance(f, ExpandSingleChild):
        expand1 = True
        f = f.node_builder
    if not (isinstance(f, functools.partial) and f.func is Tree and len(f.args) == 1 and not f.keywords):
        raise RuntimeError(f"unexpected Lark tree builder for rule {rule}: {callback!r}")
    return [f.args[0], expand1, keep]


def generate() -> str:
    """The tables as JSON text (deterministic: the same input gives the same bytes)."""
    from lark.lexer import PatternStr, UnlessCallback
    from lark.parsers.lalr_analysis import Shift

    from bakehouse.hcl.parser import _patched_grammar, get_parser

    grammar = _patched_grammar()
    parser = get_parser()
    frontend = parser.parser
    contextual = frontend.lexer.lexer
    table = frontend.parser.parser.parse_table
    callbacks = frontend.parser.parser.callbacks

    lexers: list[dict[str, Any]] = []
    lexer_index: dict[int, int] = {}
    lexer_of_state: list[int] = []
    states = sorted(table.states)
    if states != list(range(len(states))):
        raise RuntimeError("LALR states are not numbered 0..N-1")
    for state in states:
        basic = contextual.lexers[state]
        if id(basic) not in lexer_index:
            scanner = basic.scanner  # builds the patterns and the keyword callbacks
            unless: dict[str, dict[str, str]] = {}
            for type_name, callback in sorted(basic.callback.items()):
                if not isinstance(callback, UnlessCallback):
                    raise RuntimeError(f"unexpected lexer callback for {type_name}: {callback!r}")
                keywords: dict[str, str] = {}
                for terminal in callback.scanner.terminals:
                    if not isinstance(terminal.pattern, PatternStr) or terminal.pattern.flags:
                        raise RuntimeError(f"keyword {terminal.name} is not a plain string")
                    keywords[terminal.pattern.value] = terminal.name
                unless[type_name] = dict(sorted(keywords.items()))
            if any(mre.flags & ~32 for mre in scanner._mres):  # 32: re.UNICODE, always set for str
                raise RuntimeError("lexer patterns use regex flags")
            lexer_index[id(basic)] = len(lexers)
            lexers.append({
                "patterns": [mre.pattern for mre in scanner._mres],
                "ignore": sorted(basic.ignore_types),
                "newline": sorted(basic.newline_types),
                "unless": unless,
            })
        lexer_of_state.append(lexer_index[id(basic)])

    rules = sorted(callbacks, key=lambda r: (r.origin.name, r.order, str(r)))
    rule_index = {rule: i for i, rule in enumerate(rules)}
    rule_rows = [[rule.origin.name, len(rule.expansion), *_rule_shape(callbacks[rule], rule)] for rule in rules]
    actions: list[dict[str, int]] = []
    for state in states:
        row: dict[str, int] = {}
        for symbol, (action, arg) in sorted(table.states[state].items()):
            row[symbol] = arg if action is Shift else -1 - rule_index[arg]
        actions.append(row)
    data = {
        "grammar_sha256": grammar_digest(grammar),
        "starts": {name: [table.start_states[name], table.end_states[name]] for name in sorted(table.start_states)},
        "lexers": lexers,
        "lexer_of_state": lexer_of_state,
        "actions": actions,
        "rules": rule_rows,
    }
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True) + "\n"


def main() -> int:
    TABLES_PATH.write_text(generate(), encoding="ascii")
    print(f"wrote {TABLES_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
