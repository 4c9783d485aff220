"""A small LALR driver over the HCL grammar's pre-built tables.

Loading Lark's parser (import, grammar, deserializing some 26,000 table
objects from its cache) cost every command 60-100 ms, and Lark's generic
per-token machinery was most of a large template's parse time. This module
runs the same automaton from ``_lalr_tables.json`` (written by
:mod:`bakehouse.hcl._lalr_gen` from the Lark parser itself) and builds the
same trees Lark would, with its own small :class:`Tree` and :class:`Token`:

* lexing as Lark's contextual lexer: the lexer of the current parser state,
  the first alternative of its union pattern that matches, keywords retyped
  from names, ignored whitespace, line and column counting;
* python-hcl2's post-lexer rule: a new line right before a binary operator is
  merged into the operator's token (so it continues the expression);
* shift/reduce as Lark's LALR parser, and trees shaped as its tree builder
  shapes them (filtered and inlined children, ``?rule`` single children).

It does not report errors: on input it cannot parse, :func:`parse` returns
None and the caller asks Lark, which gives the diagnostics it always gave.
The tables are used only when they were made from the grammar in use
(:func:`load_tables` compares a digest), else every parse goes to Lark.
"""

from __future__ import annotations

import json
import marshal
import re
import sys
from pathlib import Path
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")

TABLES_PATH = Path(__file__).with_name("_lalr_tables.json")

#: Token types a preceding new line is merged into (python-hcl2's post-lexer:
#: binary operators and ``?``; not MINUS, which is also unary).
_OPERATORS = frozenset(
    {"DOUBLE_EQ", "NEQ", "LT", "GT", "LEQ", "GEQ", "ASTERISK", "SLASH", "PERCENT",
     "DOUBLE_AMP", "DOUBLE_PIPE", "PLUS", "QMARK"}
)
_NEW_LINE = "NL_OR_COMMENT"


class Token(str):
    """A terminal: its text (the ``str`` value), type and 1-based positions."""

    type: str
    start_pos: int
    line: int
    column: int
    end_line: int
    end_column: int
    end_pos: int

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {str(self)!r})"


class Tree(Generic[_T]):
    """A rule's node: its name and children (trees and tokens)."""

    __slots__ = ("data", "children")

    def __init__(self, data: str, children: list[Any]) -> None:
        self.data = data
        self.children = children

    def __repr__(self) -> str:
        return f"Tree({self.data!r}, {self.children!r})"


def _make_token(type_: str, value: str, start: int, line: int, column: int,
                end_line: int, end_column: int, end: int) -> Token:
    token = str.__new__(Token, value)
    token.__dict__.update(type=type_, start_pos=start, line=line, column=column,
                          end_line=end_line, end_column=end_column, end_pos=end)
    return token


class _Lexer:
    __slots__ = ("sources", "compiled", "ignore", "newline", "unless")

    def __init__(self, spec: dict[str, Any]) -> None:
        self.sources: list[str] = spec["patterns"]
        self.compiled: list[re.Pattern[str]] | None = None
        self.ignore: frozenset[str] = frozenset(spec["ignore"])
        self.newline: frozenset[str] = frozenset(spec["newline"])
        self.unless: dict[str, dict[str, str]] = spec["unless"]

    def patterns(self) -> list[re.Pattern[str]]:
        if self.compiled is None:  # compiled on first use: most states never lex
            self.compiled = [re.compile(source) for source in self.sources]
        return self.compiled


class Tables:
    """The automaton: lexers by state, actions, rules and start states."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.lexers = [_Lexer(spec) for spec in data["lexers"]]
        self.lexer_of_state: list[int] = data["lexer_of_state"]
        self.actions: list[dict[str, int]] = data["actions"]
        # origin, length, tree name, expand single child, kept children [(index, inline)]
        self.rules: list[tuple[str, int, str, bool, list[tuple[int, bool]] | None]] = [
            (origin, size, name, bool(expand1), None if keep is None else [(i, bool(x)) for i, x in keep])
            for origin, size, name, expand1, keep in data["rules"]
        ]
        self.starts: dict[str, tuple[int, int]] = {k: (v[0], v[1]) for k, v in data["starts"].items()}


_tables: Tables | None = None
_loaded = False


def _read_tables() -> Any:
    """The JSON tables' data. Decoding 500 kB of JSON takes about 5 ms, every
    parse in every run: a marshal copy (version-specific, like bytecode) in the
    user's cache directory loads in about 2 ms."""
    try:
        info = TABLES_PATH.stat()
    except OSError:
        return None
    from bakehouse.hcl.parser import cache_dir

    directory = cache_dir()
    copy = None
    if directory is not None:
        copy = directory / f"lalr-tables-{sys.implementation.cache_tag}-{info.st_size}-{info.st_mtime_ns}.marshal"
        try:
            data = marshal.loads(copy.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            pass
        else:
            if isinstance(data, dict):
                return data
    try:
        data = json.loads(TABLES_PATH.read_bytes())
    except (OSError, ValueError):
        return None
    if copy is not None:
        from bakehouse._atomic import replace_file

        try:
            replace_file(copy, marshal.dumps(data))  # concurrent runs share the cache
        except (OSError, ValueError):
            pass
    return data


def load_tables(grammar_sha256: str) -> Tables | None:
    """The tables, when they were generated from the grammar with this digest."""
    global _tables, _loaded
    if not _loaded:
        _loaded = True
        data = _read_tables()
        if data is not None and data.get("grammar_sha256") == grammar_sha256:
            _tables = Tables(data)
    return _tables


class _Stop(Exception):
    """Input the fast path does not parse: the caller asks Lark."""


def parse(tables: Tables, text: str, start: str) -> Tree[Token] | None:
    """The parse tree Lark would build for ``text`` from rule ``start``, or
    None when ``text`` has a syntax error."""
    try:
        return _parse(tables, text, start)
    except _Stop:
        return None


def _parse(tables: Tables, text: str, start: str) -> Tree[Token]:
    start_state, end_state = tables.starts[start]
    actions = tables.actions
    rules = tables.rules
    lexers = tables.lexers
    lexer_of_state = tables.lexer_of_state
    states = [start_state]
    values: list[Any] = []

    def feed(token: Token, is_end: bool = False) -> Any:
        while True:
            action = actions[states[-1]].get(token.type)
            if action is None:
                raise _Stop
            if action >= 0:
                if is_end:
                    raise _Stop
                states.append(action)
                values.append(token)
                return None
            origin, size, name, expand1, keep = rules[-1 - action]
            if size:
                children = values[-size:]
                del states[-size:]
                del values[-size:]
            else:
                children = []
            if keep is not None:
                filtered: list[Any] = []
                for i, inline in keep:
                    if inline:
                        if filtered:
                            filtered += children[i].children
                        else:
                            filtered = children[i].children
                    else:
                        filtered.append(children[i])
                children = filtered
            if expand1 and len(children) == 1:
                value = children[0]
            else:
                value = Tree(name, children)
            goto = actions[states[-1]].get(origin)
            if goto is None or goto < 0:
                raise _Stop
            states.append(goto)
            values.append(value)
            if is_end and goto == end_state:
                return value

    pos = 0
    end = len(text)
    line = 1
    line_start = 0
    pending: Token | None = None
    last: Token | None = None
    while pos < end:
        lexer = lexers[lexer_of_state[states[-1]]]
        match = None
        for pattern in lexer.patterns():
            match = pattern.match(text, pos)
            if match is not None:
                break
        if match is None:
            raise _Stop
        value = match.group(0)
        type_ = match.lastgroup
        assert type_ is not None
        token_line, token_column = line, pos - line_start + 1
        new_pos = pos + len(value)
        if type_ in lexer.newline:
            newlines = value.count("\n")
            if newlines:
                line += newlines
                line_start = pos + value.rindex("\n") + 1
        start_pos, pos = pos, new_pos
        if type_ in lexer.ignore:
            continue
        keywords = lexer.unless.get(type_)
        if keywords is not None:
            type_ = keywords.get(value, type_)
        token = _make_token(type_, value, start_pos, token_line, token_column, line, pos - line_start + 1, pos)
        last = token
        # python-hcl2's post-lexer holds a new line back until it sees the next
        # token; the lexer state for that token is the one before the new line.
        if type_ == _NEW_LINE:
            if pending is not None:
                feed(pending)
            pending = token
            continue
        if pending is not None:
            if type_ in _OPERATORS:
                token = _make_token(type_, str(pending) + value, token.start_pos, token.line, token.column,
                                    token.end_line, token.end_column, token.end_pos)
            else:
                feed(pending)
            pending = None
        feed(token)
    if pending is not None:
        feed(pending)
    if last is None:
        end_token = _make_token("$END", "", 0, 1, 1, 1, 1, 0)
    else:
        end_token = _make_token("$END", "", last.start_pos, last.line, last.column,
                                last.end_line, last.end_column, last.end_pos)
    result = feed(end_token, is_end=True)
    return result  # type: ignore[no-any-return]
