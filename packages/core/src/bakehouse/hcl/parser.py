"""Parse HCL native syntax into Bodies and evaluable Expressions.

python-hcl2 8.1.4 provides the grammar and the lexer post-pass; this module is
the one place that knows about them (upgrade risk stays here). What it fixes,
compared to python-hcl2's own parser:

* the grammar is rebuilt with two rule changes (see ``_GRAMMAR_PATCHES``):
  strip markers on interpolations (``${~ x ~}``) and unary chains (``!!x``,
  ``- -1``); an extra start rule parses a lone expression;
* parsing runs the grammar's LALR automaton from tables generated at
  development time (:mod:`bakehouse.hcl._lalr`): no Lark at start-up, and a
  fraction of Lark's per-token cost; input with a syntax error goes to Lark,
  whose errors become the diagnostics;
* Lark's compiled tables (the error path, ``fmt``) are cached in a writable
  directory (see :func:`cache_dir`) -- without it every such process pays over a second;
* a UTF-8 BOM is accepted; duplicate attributes, invalid escapes, ``x.0.1``
  chains, provider-namespaced functions and ``{for = 1}`` are rejected;
* heredoc bodies and standalone templates (``templatefile``) are scanned into
  the same template token stream as quoted strings (each sequence is parsed by
  the grammar, never by a regular expression), then strip markers and ``<<-``
  indentation are applied the way hclsyntax does;
* splats are re-nested (``a[*].b[*].c`` maps per element; ``a.*.b[0]`` ends the
  splat at the first index).

Syntax errors become :class:`Diagnostics` with file, line, column and a hint.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakehouse.hcl import _lalr, ast
from bakehouse.hcl._lalr import Token, Tree
from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
from bakehouse.hcl.limits import MAX_TEMPLATE_BYTES, ReadLimitError, read_regular_file
from bakehouse.hcl.values import FALSE, TRUE, null, number, parse_number, string

if TYPE_CHECKING:
    import lark

__all__ = [
    "Attribute",
    "Block",
    "Body",
    "Expression",
    "cache_dir",
    "get_parser",
    "parse_expression",
    "parse_file",
    "parse_template",
    "parse_text",
]

Expression = ast.Expression

# --------------------------------------------------------------------------- grammar

# (old, new, why) -- each must match exactly once or the adapter refuses to start,
# so a python-hcl2 upgrade that moves these rules fails loudly, not silently.
_GRAMMAR_PATCHES: list[tuple[str, str, str]] = [
    (
        "interpolation: INTERP_START expression RBRACE",
        "interpolation: INTERP_START STRIP_MARKER? new_line_or_comment? expression new_line_or_comment? STRIP_MARKER? RBRACE",
        "HCL allows ${~ x ~} and ignores new lines inside ${ }; the stock rule rejects both",
    ),
    (
        "!unary_op : (MINUS | NOT) expr_term",
        "!unary_op : (MINUS | NOT) (expr_term | unary_op)",
        "HCL allows unary chains such as !!x and - -1",
    ),
    (
        "NAME : /[a-zA-Z_][a-zA-Z0-9_-]*/",
        "NAME : /(?:[^\\W\\d]|_)[\\w-]*/",
        "HCL identifiers may use Unicode letters (ID_Start / ID_Continue)",
    ),
    (
        r"HEREDOC_TEMPLATE : /<<(?P<heredoc>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:(?:.|\n)*?\r?\n)??\s*(?P=heredoc)\r?\n/",
        r"HEREDOC_TEMPLATE : /<<(?P<heredoc>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:[^\n]*\n)*?[^\S\n]*(?P=heredoc)\r?\n/",
        "the stock heredoc pattern backtracks per character: 230 MB of memory per MB of heredoc; "
        "a line at a time ends at the same closing line",
    ),
    (
        r"HEREDOC_TEMPLATE_TRIM : /<<-(?P<heredoc_trim>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:(?:.|\n)*?\r?\n)??\s*(?P=heredoc_trim)\r?\n/",
        r"HEREDOC_TEMPLATE_TRIM : /<<-(?P<heredoc_trim>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:[^\n]*\n)*?[^\S\n]*(?P=heredoc_trim)\r?\n/",
        "as HEREDOC_TEMPLATE",
    ),
    (
        r'STRING_CHARS.1: /(?:(?!\$\$\{)(?!\$\{)(?!%%\{)(?!%\{)[^"\\]|\\.|(?:\$(?!\$?\{))|(?:%(?!%?\{)))+/',
        r'STRING_CHARS.1: /(?:[^"\\$%]+|\\.|\$(?!\$?\{)|%(?!%?\{))+/',
        "the same characters, but runs of plain ones are one step: the stock pattern keeps "
        "backtracking state per character (200 MB of memory per MB of string)",
    ),
    (
        "start : body",
        "start : body\nexpr_start : new_line_or_comment? expression new_line_or_comment?",
        "a start rule for lone expressions (console, -var values, template sequences)",
    ),
]

_parser_lock = threading.Lock()
_parser: lark.Lark | None = None


def cache_dir() -> Path | None:
    """A writable directory for the compiled grammar, or None.

    Order: ``$BAKEHOUSE_CACHE_DIR``, ``$XDG_CACHE_HOME/bakehouse`` (default
    ``~/.cache/bakehouse``), ``$BAKEHOUSE_HOME/cache``, the system temp dir.
    The user cache comes before BAKEHOUSE_HOME so the cache survives per-run homes.
    """
    candidates: list[Path] = []
    if os.environ.get("BAKEHOUSE_CACHE_DIR"):
        candidates.append(Path(os.environ["BAKEHOUSE_CACHE_DIR"]))
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    candidates.append(Path(xdg) / "bakehouse")
    home = os.environ.get("BAKEHOUSE_HOME") or os.path.join(os.path.expanduser("~"), ".bakehouse.d")
    candidates.append(Path(home) / "cache")
    candidates.append(Path(tempfile.gettempdir()) / f"bakehouse-cache-{os.getuid()}")
    for candidate in candidates:
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None


def _hcl2_grammar_path() -> Path:
    """python-hcl2's grammar file, found without importing the package (whose
    ``__init__`` imports all of its API)."""
    import importlib.util

    spec = importlib.util.find_spec("hcl2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("python-hcl2 is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "hcl2.lark"


def _patched_grammar() -> str:
    grammar = _hcl2_grammar_path().read_text(encoding="utf-8")
    for old, new, why in _GRAMMAR_PATCHES:
        if grammar.count(old) != 1:
            raise RuntimeError(f"python-hcl2 grammar changed; cannot apply patch ({why})")
        grammar = grammar.replace(old, new)
    return grammar


def get_parser() -> lark.Lark:
    """The patched Lark parser, built once per process from the disk cache."""
    global _parser
    if _parser is not None:
        return _parser
    with _parser_lock:
        if _parser is None:
            _parser = _build_parser()
    return _parser


def _build_parser() -> lark.Lark:
    import lark
    from hcl2.postlexer import PostLexer
    from lark import Lark

    grammar = _patched_grammar()
    options: dict[str, Any] = dict(
        parser="lalr",
        # Positions come from the tokens (see _Builder.pos): propagating them
        # through every tree costs Lark about 40% of its parse time.
        propagate_positions=False,
        postlex=PostLexer(),
        start=["start", "expr_start"],
        maybe_placeholders=False,
    )
    digest = hashlib.sha256((grammar + lark.__version__ + repr(sorted(k for k in options))).encode()).hexdigest()[:16]
    directory = cache_dir()
    if directory is None:
        return Lark(grammar, **options)
    final = directory / f"hcl-grammar-{digest}.lark"
    # Lark hashes its options, the cache path included, into the file; so the
    # file is written in place, under an exclusive lock that keeps concurrent
    # processes from reading it half-written.
    lock_path = directory / f"hcl-grammar-{digest}.lock"
    try:
        lock_fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:
        return Lark(grammar, **options)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
        except OSError:  # a filesystem without locks: Lark still validates the file's hash
            pass
        return Lark(grammar, cache=str(final), **options)
    finally:
        os.close(lock_fd)


_fast_lock = threading.Lock()
_fast_tables: _lalr.Tables | None = None
_fast_checked = False


def fast_tables() -> _lalr.Tables | None:
    """The generated LALR tables, or None when they were made from another
    grammar (python-hcl2 or the patches changed without regenerating them)."""
    global _fast_tables, _fast_checked
    if not _fast_checked:
        with _fast_lock:
            if not _fast_checked:
                digest = hashlib.sha256(_patched_grammar().encode("utf-8")).hexdigest()
                _fast_tables = _lalr.load_tables(digest)
                _fast_checked = True
    return _fast_tables


def warm_cache() -> Path | None:
    """Build (or load) the cached parser now; returns the cache directory."""
    get_parser()
    return cache_dir()


# ------------------------------------------------------------------------ structure


@dataclass(eq=False)
class Attribute:
    name: str
    expr: Expression
    pos: SourcePos


@dataclass(eq=False)
class Block:
    type: str
    labels: list[str]
    body: Body
    pos: SourcePos
    label_pos: list[SourcePos] = field(default_factory=list)


@dataclass(eq=False)
class Body:
    attributes: dict[str, Attribute]
    blocks: list[Block]
    pos: SourcePos
    end_pos: SourcePos | None = None

    def blocks_of(self, block_type: str) -> list[Block]:
        return [b for b in self.blocks if b.type == block_type]


# ------------------------------------------------------------------------- entry


def parse_file(path: str | os.PathLike[str]) -> Body:
    """Parse a ``.pkr.hcl`` / ``.hcl`` file; raises :class:`Diagnostics`."""
    filename = str(path)
    try:
        data = read_regular_file(path, MAX_TEMPLATE_BYTES, "a template file")
    except ReadLimitError as exc:
        diags = Diagnostics()
        diags.error("Failed to read file", f"{exc}.", SourcePos(filename, 1, 1))
        raise diags from None
    except OSError as exc:
        diags = Diagnostics()
        diags.error("Failed to read file", f"The file {filename!r} could not be read: {exc.strerror}.")
        raise diags from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        diags = Diagnostics()
        line = data[: exc.start].count(b"\n") + 1
        diags.error(
            "Invalid UTF-8",
            "The file must be UTF-8 text; re-save it with UTF-8 encoding.",
            SourcePos(filename, line, 1),
        )
        raise diags from None
    return parse_text(text, filename)


def parse_text(text: str, filename: str = "<text>") -> Body:
    """Parse HCL body text (a whole file); raises :class:`Diagnostics`."""
    text = _strip_bom(text)
    with _gc_paused():
        tree = _parse_tree(text, filename, "start")
        builder = _Builder(filename)
        with _nesting_guard(builder):
            body = builder.body(_subtree(tree, 0), SourcePos(filename, 1, 1))
    if builder.diags.has_errors:
        raise builder.diags
    return body


def parse_expression(text: str, filename: str = "<expr>", line: int = 1, column: int = 1) -> Expression:
    """Parse a lone expression (console input, ``-var`` values); raises Diagnostics."""
    text = _strip_bom(text)
    tree = _parse_tree(text.rstrip() + "\n", filename, "expr_start", line, column)
    builder = _Builder(filename, _Offset(line, column))
    expr_tree = next(c for c in tree.children if isinstance(c, Tree) and c.data != "new_line_or_comment")
    with _nesting_guard(builder):
        expr = builder.expr(expr_tree)
    if builder.diags.has_errors:
        raise builder.diags
    return expr


def parse_template(text: str, filename: str = "<template>") -> ast.TemplateExpr:
    """Parse a standalone template (``templatefile``): literal text with sequences."""
    text = _strip_bom(text)
    builder = _Builder(filename)
    with _nesting_guard(builder):
        template = builder.scanned_template(text, SourcePos(filename, 1, 1), trim=False)
        builder.check_nesting(template)
    if builder.diags.has_errors:
        raise builder.diags
    return template


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Parse trees are large and acyclic: collecting while building them only
    rescans a growing heap (measured: a third of the time on 10 000 lines)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _TooDeep(Exception):
    """Nesting passed :data:`ast.MAX_NESTING` at ``pos``."""

    def __init__(self, pos: SourcePos) -> None:
        super().__init__(str(pos))
        self.pos = pos


@contextlib.contextmanager
def _nesting_guard(builder: _Builder) -> Iterator[None]:
    """Absurdly deep nesting must end in a diagnostic at its place, not a RecursionError."""
    try:
        yield
    except (_TooDeep, RecursionError) as exc:
        pos = exc.pos if isinstance(exc, _TooDeep) else builder.last_position()
        diags = Diagnostics()
        diags.error(
            "Expression too deeply nested",
            f"Brackets, calls, operators or template directives nest more than {ast.MAX_NESTING} "
            "levels deep here; split the expression with locals.",
            pos,
        )
        raise diags from None


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


@dataclass(frozen=True)
class _Offset:
    """Where a sub-parse's (1, 1) sits in the real file."""

    line: int = 1
    column: int = 1

    def apply(self, line: int, column: int) -> tuple[int, int]:
        if line == 1:
            return self.line, self.column + column - 1
        return self.line + line - 1, column


# --------------------------------------------------------------------- lark errors

_TOKEN_NAMES = {
    "LBRACE": '"{"',
    "RBRACE": '"}"',
    "LSQB": '"["',
    "RSQB": '"]"',
    "LPAR": '"("',
    "RPAR": '")"',
    "EQ": '"="',
    "COLON": '":"',
    "COMMA": '","',
    "DBLQUOTE": "a quote",
    "NAME": "a name",
    "NL_OR_COMMENT": "a new line",
    "$END": "the end of the file",
    "QMARK": '"?"',
    "FOR_OBJECT_ARROW": '"=>"',
    "INTERP_START": '"${"',
    "DIRECTIVE_START": '"%{"',
    "STRING_CHARS": "text",
}


def _describe_token(token: lark.Token | None) -> str:
    if token is None or token.type == "$END":
        return "end of input"
    value = str(token)
    if token.type == "NL_OR_COMMENT":
        return "new line" if value.strip() == "" else "comment"
    if len(value) > 20:
        value = value[:17] + "..."
    return f'"{value.strip() or value}"'


def _syntax_hint(expected: set[str], got: lark.Token | None) -> str:
    if "RBRACE" in expected and got is not None and got.type in ("$END",):
        return "A block or object is not closed: add the missing \"}\"."
    if got is not None and got.type == "$END" and "STRING_CHARS" in expected:
        return "The text ends inside a quoted string; close it with a quote."
    if got is not None and got.type == "$END":
        return 'The text ends too early; close the open bracket, quote or "${ }" sequence.'
    if got is not None and got.type == "NL_OR_COMMENT" and ("RPAR" in expected or "RSQB" in expected or "RBRACE" in expected):
        return "An expression ends too early on this line; check for a missing operand or closing bracket."
    if expected <= {"EQ", "LBRACE", "DBLQUOTE", "NAME"} and "EQ" in expected:
        return 'An argument needs "=" and a value (name = value), a block needs a "{".'
    if expected == {"LBRACE"} or expected == {"LBRACE", "DBLQUOTE", "NAME"}:
        return 'A block header must be followed by "{" on the same line.'
    if "RSQB" in expected and "COMMA" in expected:
        return 'A list is not closed or its elements are not separated by ","; check the lines above.'
    if "RPAR" in expected and "COMMA" in expected:
        return 'A function call is not closed or its arguments are not separated by ","; check the lines above.'
    if "NL_OR_COMMENT" in expected and len(expected) <= 3:
        return "Each argument must be on its own line; put a new line after the value."
    names = sorted(_TOKEN_NAMES.get(e, e.lower()) for e in expected)[:6]
    return "Expected " + ", ".join(names) + "; check the syntax near this position."


def _parse_tree(text: str, filename: str, start: str, line: int = 1, column: int = 1) -> Tree[Token]:
    """The parse tree of ``text`` from rule ``start``; raises :class:`Diagnostics`."""
    tables = fast_tables()
    if tables is not None:
        tree = _lalr.parse(tables, _with_final_newline(text, start), start)
        if tree is not None:
            return tree
    # A syntax error (or no usable tables): Lark reports it as it always did.
    converted: Tree[Token] = _from_lark(_lark_parse(text, filename, start, line, column))
    return converted


def _with_final_newline(text: str, start: str) -> str:
    # python-hcl2 relies on a trailing newline to end the last attribute
    return text if text.endswith("\n") or start != "start" else text + "\n"


def _from_lark(node: Any) -> Any:
    """A Lark tree as :mod:`bakehouse.hcl._lalr` builds it."""
    import lark

    if isinstance(node, lark.Tree):
        return Tree(str(node.data), [_from_lark(child) for child in node.children])
    if isinstance(node, lark.Token):
        return _lalr._make_token(node.type, str(node), node.start_pos or 0, node.line or 1, node.column or 1,
                                 node.end_line or 1, node.end_column or 1, node.end_pos or 0)
    return node


def _lark_parse(text: str, filename: str, start: str, line: int = 1, column: int = 1) -> lark.Tree[lark.Token]:
    """Lark's parse tree of ``text`` (the formatter works on it); raises :class:`Diagnostics`."""
    from lark.exceptions import (
        UnexpectedCharacters,
        UnexpectedEOF,
        UnexpectedInput,
        UnexpectedToken,
    )

    parser = get_parser()
    try:
        return parser.parse(_with_final_newline(text, start), start=start)
    except UnexpectedInput as exc:
        offset = _Offset(line, column)
        ln, col = offset.apply(exc.line if exc.line and exc.line > 0 else 1, exc.column if exc.column and exc.column > 0 else 1)
        pos = SourcePos(filename, ln, col)
        diags = Diagnostics()
        if isinstance(exc, UnexpectedToken):
            got = exc.token
            if got.type == "$END" and start == "expr_start":
                diags.error("Incomplete expression", "The expression ends early; complete it or close the open bracket or quote.", pos)
            else:
                diags.error(f"Unexpected {_describe_token(got)}", _syntax_hint(set(exc.expected), got), pos)
        elif isinstance(exc, UnexpectedCharacters):
            at = exc.pos_in_stream if exc.pos_in_stream is not None else -1
            char = text[at] if 0 <= at < len(text) else ""
            if char == '"':
                hint = "A quoted string is not closed, or a quote appears where it is not allowed; check the quotes on this line."
            elif char == "\n":
                hint = "A quoted string cannot span lines; close it with \" on the same line or use a heredoc (<<EOF)."
            elif char == "<":
                hint = 'A heredoc needs "<<ID" then a new line, the text, and ID alone on the last line.'
            elif unicodedata.category(char or " ").startswith("L"):
                hint = "A name cannot appear here; check for a missing operator or quote."
            else:
                hint = "This character is not valid here; remove it or quote the value."
            diags.error(f"Invalid character {char!r}" if char else "Invalid character", hint, pos)
        elif isinstance(exc, UnexpectedEOF):
            diags.error("Unexpected end of input", "The text ends early; close the open block, bracket or quote.", pos)
        else:
            diags.error("Syntax error", "Check the syntax near this position.", pos)
        raise diags from None


# ------------------------------------------------------------------- template tokens


@dataclass(eq=False)
class _Tok:
    pos: SourcePos
    strip_open: bool = False
    strip_close: bool = False


@dataclass(eq=False)
class _Lit(_Tok):
    text: str = ""


@dataclass(eq=False)
class _Interp(_Tok):
    expr: Expression | None = None


@dataclass(eq=False)
class _If(_Tok):
    cond: Expression | None = None


@dataclass(eq=False)
class _Else(_Tok):
    pass


@dataclass(eq=False)
class _EndIf(_Tok):
    pass


@dataclass(eq=False)
class _For(_Tok):
    key_var: str | None = None
    value_var: str = ""
    coll: Expression | None = None


@dataclass(eq=False)
class _EndFor(_Tok):
    pass


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _is_space(ch: str) -> bool:
    return ch.isspace()


# ------------------------------------------------------------------------- builder


class _Builder:
    """Lark tree -> Body / Expression, collecting diagnostics as it goes."""

    def __init__(self, filename: str, offset: _Offset = _Offset()) -> None:
        self.filename = filename
        self.offset = offset
        self.diags = Diagnostics()
        self._splat_ids = 0
        # Nesting of expr() calls (a sub-builder for a heredoc sequence carries on
        # its parent's), and the node being built, for the nesting diagnostic.
        self._depth = 0
        self._last: Tree[Token] | None = None

    def last_position(self) -> SourcePos:
        if self._last is None:
            return SourcePos(self.filename, self.offset.line, self.offset.column)
        return self.pos(self._last)

    def check_nesting(self, expr: Expression) -> None:
        where = ast.too_deep(expr)
        if where is not None:
            raise _TooDeep(where)

    # ----------------------------------------------------------- positions
    def pos(self, node: Tree[Token] | Token) -> SourcePos:
        if isinstance(node, Token):
            line, col = node.line or 1, node.column or 1
            end_line, end_col = node.end_line, node.end_column
        else:
            first = _edge_token(node, last=False)
            if first is None:
                return SourcePos(self.filename, self.offset.line, self.offset.column)
            last = _edge_token(node, last=True) or first
            line, col = first.line or 1, first.column or 1
            end_line, end_col = last.end_line, last.end_column
        ln, cl = self.offset.apply(line, col)
        if end_line is not None and end_col is not None:
            eln, ecl = self.offset.apply(end_line, end_col)
            return SourcePos(self.filename, ln, cl, eln, ecl)
        return SourcePos(self.filename, ln, cl)

    def error(self, summary: str, detail: str, pos: SourcePos) -> None:
        self.diags.error(summary, detail, pos)

    # ---------------------------------------------------------------- body
    def body(self, tree: Tree[Token], pos: SourcePos) -> Body:
        attributes: dict[str, Attribute] = {}
        blocks: list[Block] = []
        for child in tree.children:
            if not isinstance(child, Tree):
                continue
            if child.data == "attribute":
                attr = self.attribute(child)
                if attr.name in attributes:
                    first = attributes[attr.name].pos
                    self.error(
                        "Attribute redefined",
                        f'The argument "{attr.name}" was already set at {first.filename}:{first.line}; '
                        "remove one of the two definitions.",
                        attr.pos,
                    )
                    continue
                attributes[attr.name] = attr
            elif child.data == "block":
                blocks.append(self.block(child))
        return Body(attributes, blocks, pos)

    def _name_of(self, node: Tree[Token] | Token) -> str:
        if isinstance(node, Token):
            return str(node)
        token = node.children[0]
        return str(token)

    def attribute(self, tree: Tree[Token]) -> Attribute:
        name_node = tree.children[0]
        expr_node = tree.children[-1]
        return Attribute(self._name_of(name_node), self.expr(expr_node), self.pos(name_node))

    def block(self, tree: Tree[Token]) -> Block:
        labels: list[str] = []
        label_pos: list[SourcePos] = []
        body_tree: Tree[Token] | None = None
        body_pos = self.pos(tree)
        for child in tree.children:
            if isinstance(child, Token):
                if child.type == "LBRACE":
                    body_pos = self.pos(child)
                continue
            if child.data == "body":
                body_tree = child
            elif child.data == "string":
                template = self.string(child)
                text = "".join(p.text for p in template.parts if isinstance(p, ast.TemplateLiteral))
                if any(not isinstance(p, ast.TemplateLiteral) for p in template.parts):
                    self.error(
                        "Invalid block label",
                        "Block labels must be plain strings; remove the interpolation.",
                        self.pos(child),
                    )
                labels.append(text)
                label_pos.append(self.pos(child))
            elif child.data in ("identifier", "keyword", "literal_value"):
                labels.append(self._name_of(child))
                label_pos.append(self.pos(child))
        assert body_tree is not None
        header_end = label_pos[-1].end_line or label_pos[-1].line
        if body_pos.line != header_end:
            self.error(
                "Invalid block definition",
                'The "{" that opens a block must be on the same line as the block type and labels.',
                body_pos,
            )
        block_type = labels.pop(0)
        type_pos = label_pos.pop(0)
        return Block(block_type, labels, self.body(body_tree, body_pos), type_pos, label_pos)

    # ---------------------------------------------------------- expressions
    def expr(self, node: Tree[Token] | Token) -> Expression:
        if isinstance(node, Token):  # pragma: no cover - grammar always wraps tokens
            raise AssertionError(f"unexpected token {node!r}")
        method = getattr(self, "expr_" + node.data, None)
        if method is None:  # pragma: no cover - a grammar rule this adapter does not know
            self.error("Unsupported syntax", f"The construct {node.data!r} is not supported.", self.pos(node))
            return ast.LiteralExpr(self.pos(node), null())
        self._last = node
        # Grammar rules wrap each level about twice; the tree check below is exact.
        if self._depth > 2 * ast.MAX_NESTING + 8:
            raise _TooDeep(self.pos(node))
        self._depth += 1
        try:
            result: Expression = method(node)
        finally:
            self._depth -= 1
        if self._depth == 0:
            self.check_nesting(result)
        return result

    @staticmethod
    def _trees(node: Tree[Token]) -> list[Tree[Token]]:
        return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]

    def expr_expr_term(self, node: Tree[Token]) -> Expression:
        children = node.children
        first = children[0]
        if isinstance(first, Token) and first.type == "LPAR":
            inner = self._trees(node)[0]
            return ast.ParensExpr(self.pos(node), self.expr(inner))
        return self.expr(self._trees(node)[0])

    def expr_int_lit(self, node: Tree[Token]) -> Expression:
        return self._number(node)

    def expr_float_lit(self, node: Tree[Token]) -> Expression:
        return self._number(node)

    def _number(self, node: Tree[Token]) -> Expression:
        text = str(node.children[0])
        value = parse_number(text)
        if value is None:  # pragma: no cover - the lexer only lets numbers through
            self.error("Invalid number", f"{text!r} is not a number.", self.pos(node))
            value = Decimal(0)
        return ast.LiteralExpr(self.pos(node), number(value))

    def expr_literal_value(self, node: Tree[Token]) -> Expression:
        word = str(node.children[0])
        value = {"true": TRUE, "false": FALSE}.get(word, null())
        return ast.LiteralExpr(self.pos(node), value)

    def expr_identifier(self, node: Tree[Token]) -> Expression:
        return ast.VariableExpr(self.pos(node), str(node.children[0]))

    def expr_keyword(self, node: Tree[Token]) -> Expression:
        return ast.VariableExpr(self.pos(node), str(node.children[0]))

    def expr_tuple(self, node: Tree[Token]) -> Expression:
        return ast.TupleExpr(self.pos(node), [self.expr(c) for c in self._trees(node)])

    def expr_object(self, node: Tree[Token]) -> Expression:
        items: list[ast.ObjectItem] = []
        for elem in self._trees(node):
            key_node, value_node = self._trees(elem)
            key_inner = self._trees(key_node)[0] if isinstance(key_node, Tree) and key_node.data == "object_elem_key" else key_node
            bare: str | None = None
            if key_inner.data == "keyword":
                bare = str(key_inner.children[0])
                if bare == "for" and not items:
                    self.error(
                        "Invalid object key",
                        'An object starting with "for" is a for expression; quote the key ("for" = ...) to use it as a name.',
                        self.pos(key_inner),
                    )
                key_expr: Expression = ast.LiteralExpr(self.pos(key_inner), string(bare))
            else:
                simple = key_inner
                if simple.data == "expr_term" and len(simple.children) == 1 and isinstance(simple.children[0], Tree):
                    simple = simple.children[0]
                if simple.data == "identifier":
                    bare = str(simple.children[0])
                    key_expr = ast.LiteralExpr(self.pos(simple), string(bare))
                elif simple.data == "literal_value":
                    bare = str(simple.children[0])
                    key_expr = ast.LiteralExpr(self.pos(simple), string(bare))
                else:
                    key_expr = self.expr(key_inner)
            items.append(ast.ObjectItem(key_expr, self.expr(value_node), bare))
        return ast.ObjectExpr(self.pos(node), items)

    def expr_function_call(self, node: Tree[Token]) -> Expression:
        names = [str(c.children[0]) for c in node.children if isinstance(c, Tree) and c.data == "identifier"]
        if len(names) > 1:
            self.error(
                "Provider functions are not supported",
                f'"{"::".join(names)}" is a provider-namespaced function; Packer templates cannot call those.',
                self.pos(node),
            )
        args: list[Expression] = []
        expand = False
        for child in node.children:
            if isinstance(child, Tree) and child.data == "arguments":
                for arg in child.children:
                    if isinstance(arg, Token):
                        if arg.type == "ELLIPSIS":
                            expand = True
                        continue
                    if arg.data == "new_line_or_comment":
                        continue
                    args.append(self.expr(arg))
        return ast.FunctionCallExpr(self.pos(node), names[0], args, expand)

    def expr_get_attr_expr_term(self, node: Tree[Token]) -> Expression:
        target_node, get_attr = _subtree(node, 0), _subtree(node, 1)
        return self._apply_get_attr(self.expr(target_node), get_attr)

    def _apply_get_attr(self, target: Expression, get_attr: Tree[Token]) -> Expression:
        name_node = self._trees(get_attr)[0]
        step = self.pos(get_attr)
        return ast.GetAttrExpr(_span(target.pos, step), target, str(name_node.children[0]), step)

    def expr_index_expr_term(self, node: Tree[Token]) -> Expression:
        target_node, index = _subtree(node, 0), _subtree(node, 1)
        if index.data == "short_index" and self._ends_with_short_index(target_node):
            self.error(
                "Invalid legacy index",
                'A legacy index chain like "x.0.1" is not valid; write x[0][1].',
                self.pos(index),
            )
        return self._apply_index(self.expr(target_node), index)

    def _ends_with_short_index(self, node: Tree[Token]) -> bool:
        inner = self._unwrap_term(node)
        return inner is not None and inner.data == "index_expr_term" and _subtree(inner, 1).data == "short_index"

    def _apply_index(self, target: Expression, index: Tree[Token]) -> Expression:
        step = self.pos(index)
        if index.data == "short_index":
            token = index.children[-1]
            key: Expression = ast.LiteralExpr(self.pos(token), number(int(str(token))))
            return ast.IndexExpr(_span(target.pos, step), target, key, legacy=True, step_pos=step)
        key_node = self._trees(index)[0]
        return ast.IndexExpr(_span(target.pos, step), target, self.expr(key_node), step_pos=step)

    def _apply_step(self, target: Expression, step: Tree[Token]) -> Expression:
        if step.data == "get_attr":
            return self._apply_get_attr(target, step)
        return self._apply_index(target, step)

    def _new_splat_id(self) -> int:
        self._splat_ids += 1
        return self._splat_ids

    def expr_full_splat_expr_term(self, node: Tree[Token]) -> Expression:
        source_node, splat = _subtree(node, 0), _subtree(node, 1)
        steps = [c for c in splat.children if isinstance(c, Tree)]
        inner = self._unwrap_term(source_node)
        if inner is not None and inner.data == "full_splat_expr_term":
            # a[*].b[*].c: the second splat runs inside the first one's elements
            outer = self.expr(inner)
            assert isinstance(outer, ast.SplatExpr)
            return self._nest_splat(outer, steps, self.pos(splat))
        source = self.expr(source_node)
        sid = self._new_splat_id()
        each: Expression = ast.SplatAnchor(self.pos(splat), sid)
        for step in steps:
            each = self._apply_step(each, step)
        return ast.SplatExpr(self.pos(node), source, each, sid)

    def _nest_splat(self, outer: ast.SplatExpr, steps: list[Tree[Token]], pos: SourcePos) -> ast.SplatExpr:
        innermost = outer.each
        if isinstance(innermost, ast.SplatExpr):
            return ast.SplatExpr(outer.pos, outer.source, self._nest_splat(innermost, steps, pos), outer.splat_id)
        sid = self._new_splat_id()
        each: Expression = ast.SplatAnchor(pos, sid)
        for step in steps:
            each = self._apply_step(each, step)
        return ast.SplatExpr(outer.pos, outer.source, ast.SplatExpr(pos, innermost, each, sid), outer.splat_id)

    def expr_attr_splat_expr_term(self, node: Tree[Token]) -> Expression:
        source_node, splat = _subtree(node, 0), _subtree(node, 1)
        steps = [c for c in splat.children if isinstance(c, Tree)]
        source = self.expr(source_node)
        sid = self._new_splat_id()
        each: Expression = ast.SplatAnchor(self.pos(splat), sid)
        rest: list[Tree[Token]] = []
        for i, step in enumerate(steps):
            if step.data != "get_attr":
                # an attribute-only splat ends at the first index: the index
                # and what follows apply to the resulting tuple
                rest = steps[i:]
                break
            each = self._apply_step(each, step)
        result: Expression = ast.SplatExpr(self.pos(node), source, each, sid)
        for step in rest:
            result = self._apply_step(result, step)
        return result

    @staticmethod
    def _unwrap_term(node: Tree[Token] | Token) -> Tree[Token] | None:
        while isinstance(node, Tree) and node.data == "expr_term" and len(node.children) == 1:
            node = node.children[0]
        return node if isinstance(node, Tree) else None

    def expr_unary_op(self, node: Tree[Token]) -> Expression:
        op = str(node.children[0])
        return ast.UnaryExpr(self.pos(node), op, self.expr(self._trees(node)[0]))

    def expr_binary_op(self, node: Tree[Token]) -> Expression:
        lhs_node, term = self._trees(node)[:2]
        op_node, rhs_node = self._trees(term)[:2]
        op = str(op_node.children[0]).strip()
        return ast.BinaryExpr(self.pos(node), op, self.expr(lhs_node), self.expr(rhs_node), self.pos(op_node))

    def expr_conditional(self, node: Tree[Token]) -> Expression:
        cond, if_true, if_false = self._trees(node)[:3]
        return ast.ConditionalExpr(self.pos(node), self.expr(cond), self.expr(if_true), self.expr(if_false))

    def expr_for_tuple_expr(self, node: Tree[Token]) -> Expression:
        trees = self._trees(node)
        intro = trees[0]
        key_var, value_var, coll = self._for_intro(intro)
        value_expr = self.expr(trees[1])
        cond = self._for_cond(trees[2:])
        return ast.ForExpr(self.pos(node), key_var, value_var, coll, None, value_expr, cond)

    def expr_for_object_expr(self, node: Tree[Token]) -> Expression:
        trees = self._trees(node)
        key_var, value_var, coll = self._for_intro(trees[0])
        key_expr = self.expr(trees[1])
        value_expr = self.expr(trees[2])
        group = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in node.children)
        cond = self._for_cond(trees[3:])
        return ast.ForExpr(self.pos(node), key_var, value_var, coll, key_expr, value_expr, cond, group)

    def _for_intro(self, intro: Tree[Token]) -> tuple[str | None, str, Expression]:
        trees = self._trees(intro)
        names = [str(t.children[0]) for t in trees if t.data == "identifier"]
        coll = self.expr(trees[-1])
        if len(names) == 2:
            return names[0], names[1], coll
        return None, names[0], coll

    def _for_cond(self, rest: list[Tree[Token]]) -> Expression | None:
        for t in rest:
            if t.data == "for_cond":
                return self.expr(self._trees(t)[0])
        return None

    def expr_template_string(self, node: Tree[Token]) -> Expression:  # pragma: no cover - JSON round trips only
        text = str(node.children[0])[2:-2]
        return ast.TemplateExpr(self.pos(node), [ast.TemplateLiteral(self.pos(node), text)])

    # ------------------------------------------------------------ templates
    def expr_string(self, node: Tree[Token]) -> Expression:
        return self.string(node)

    def string(self, node: Tree[Token]) -> ast.TemplateExpr:
        tokens: list[_Tok] = []
        for part in node.children:
            if isinstance(part, Token):
                continue  # the quotes
            child = part.children[0]
            if isinstance(child, Token):
                if "\n" in child:
                    self.error(
                        "Invalid multi-line string",
                        "A quoted string cannot span lines; use \\n for a newline, or a heredoc (<<EOF) for multi-line text.",
                        self.pos(child),
                    )
                text = self._decode_escapes(child)
                tokens.append(_Lit(self.pos(child), text=text))
            else:
                tokens.append(self.sequence(child))
        merged = _merge_literals(tokens)
        return self.finish_template(merged, self.pos(node), trim=False)

    def _decode_escapes(self, token: Token) -> str:
        raw = str(token)
        if token.type == "ESCAPED_INTERPOLATION":
            return "$" + self._decode(raw[2:], token)
        if token.type == "ESCAPED_DIRECTIVE":
            return "%" + self._decode(raw[2:], token)
        return self._decode(raw, token)

    def _decode(self, raw: str, token: Token) -> str:
        if "\\" not in raw:
            return raw
        out: list[str] = []
        i = 0
        while i < len(raw):
            ch = raw[i]
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            nxt = raw[i + 1] if i + 1 < len(raw) else ""
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt in ("u", "U"):
                width = 4 if nxt == "u" else 8
                digits = raw[i + 2 : i + 2 + width]
                if len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
                    code = int(digits, 16)
                    if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                        out.append(chr(code))
                        i += 2 + width
                        continue
            pos = self.pos(token)
            line_part = raw[:i]
            line = pos.line + line_part.count("\n")
            col = (i - line_part.rfind("\n")) if "\n" in line_part else pos.column + i
            self.error(
                "Invalid escape sequence",
                f'"\\{nxt}" is not a valid escape; use \\n, \\r, \\t, \\", \\\\, \\uNNNN or \\UNNNNNNNN, '
                "or write \\\\ for a literal backslash.",
                SourcePos(self.filename, line, col),
            )
            out.append(nxt)
            i += 2
        return "".join(out)

    def sequence(self, node: Tree[Token]) -> _Tok:
        """One ``${...}`` or ``%{...}`` part of a template (raw Lark rule)."""
        pos = self.pos(node)
        # Tokens compare by text, so positions are found by identity.
        children = node.children
        marker_at = [i for i, c in enumerate(children) if isinstance(c, Token) and c.type == "STRIP_MARKER"]
        first_tree_index = next((i for i, c in enumerate(children) if isinstance(c, Tree)), len(children))
        last_tree_index = max((i for i, c in enumerate(children) if isinstance(c, Tree)), default=len(children))
        strip_open = any(i < first_tree_index for i in marker_at)
        strip_close = any(i > last_tree_index for i in marker_at)
        if node.data in ("template_else", "template_endif", "template_endfor"):
            # no expression: order of tokens is %{ ~? KEYWORD ~? }
            kw_index = next(i for i, c in enumerate(children) if isinstance(c, Token) and c.type in ("ELSE", "ENDIF", "ENDFOR"))
            strip_open = any(i < kw_index for i in marker_at)
            strip_close = any(i > kw_index for i in marker_at)
            cls = {"template_else": _Else, "template_endif": _EndIf, "template_endfor": _EndFor}[node.data]
            return cls(pos, strip_open, strip_close)
        trees = self._trees(node)
        if node.data == "interpolation":
            return _Interp(pos, strip_open, strip_close, expr=self.expr(trees[0]))
        if node.data == "template_if_start":
            return _If(pos, strip_open, strip_close, cond=self.expr(trees[0]))
        if node.data == "template_for_start":
            names = [str(t.children[0]) for t in trees if t.data == "identifier"]
            for_index = next(i for i, c in enumerate(children) if isinstance(c, Token) and c.type == "FOR")
            strip_open = any(i < for_index for i in marker_at)
            key_var = names[0] if len(names) == 2 else None
            return _For(pos, strip_open, strip_close, key_var=key_var, value_var=names[-1], coll=self.expr(trees[-1]))
        raise AssertionError(node.data)  # pragma: no cover

    def expr_heredoc_template(self, node: Tree[Token]) -> Expression:
        return self.heredoc(node, trim=False)

    def expr_heredoc_template_trim(self, node: Tree[Token]) -> Expression:
        return self.heredoc(node, trim=True)

    def heredoc(self, node: Tree[Token], trim: bool) -> Expression:
        token = node.children[0]
        raw = str(token).replace("\r\n", "\n")
        first_nl = raw.index("\n")
        lines = raw[first_nl + 1 :].split("\n")
        # raw ends with "MARKER\n": lines = [...body lines..., "  MARKER", ""]
        body_lines = lines[:-2]
        body = "".join(line + "\n" for line in body_lines)
        start = self.pos(token)
        return self.scanned_template(body, SourcePos(self.filename, start.line + 1, 1), trim=trim, outer_pos=start)

    def scanned_template(self, text: str, pos: SourcePos, trim: bool, outer_pos: SourcePos | None = None) -> ast.TemplateExpr:
        """Heredoc body / standalone template: per-line literals and sequences."""
        tokens: list[_Tok] = []
        for kind, start, end, line, col in _scan_template(text):
            seq_pos = SourcePos(self.filename, pos.line + line - 1, (pos.column + col - 1) if line == 1 else col)
            chunk = text[start:end]
            if kind == "lit":
                tokens.append(_Lit(seq_pos, text=chunk.replace("$${", "${").replace("%%{", "%{")))
            elif kind == "unterminated":
                self.error(
                    "Unterminated template sequence",
                    'A "${" or "%{" sequence is not closed; add the matching "}".',
                    seq_pos,
                )
            else:
                tokens.append(self._parse_sequence(chunk, seq_pos))
        return self.finish_template(tokens, outer_pos or pos, trim=trim)

    def _parse_sequence(self, chunk: str, pos: SourcePos) -> _Tok:
        # The grammar parses the sequence as a one-part quoted string; the
        # quote added in front shifts columns by one, hence column - 1.
        offset = _Offset(pos.line, pos.column - 1)
        try:
            tree = _parse_tree('"' + chunk + '"', self.filename, "expr_start", offset.line, offset.column)
        except Diagnostics as diags:
            self.diags.extend(diags)
            return _Lit(pos, text="")
        sub = _Builder(self.filename, offset)
        sub._splat_ids = self._splat_ids + 1000
        sub._depth = self._depth
        expr_tree = self._unwrap_term(self._trees(tree)[0])
        assert expr_tree is not None and expr_tree.data == "string"
        parts = [c for c in expr_tree.children if isinstance(c, Tree)]
        tok: _Tok
        if len(parts) != 1 or not isinstance(parts[0].children[0], Tree):
            self.error("Invalid template sequence", "This sequence could not be read; check its braces and quotes.", pos)
            return _Lit(pos, text="")
        tok = sub.sequence(parts[0].children[0])
        self._splat_ids = sub._splat_ids
        self.diags.extend(sub.diags)
        return tok

    def finish_template(self, tokens: list[_Tok], pos: SourcePos, trim: bool) -> ast.TemplateExpr:
        unwrappable = len(tokens) == 1 and isinstance(tokens[0], _Interp)
        _apply_strip_markers(tokens)
        if trim:
            _flush_heredoc(tokens)
        tokens = _merge_literals(tokens)
        parts = self._build_template_tree(tokens, pos)
        return ast.TemplateExpr(pos, parts, unwrappable)

    def _build_template_tree(self, tokens: list[_Tok], pos: SourcePos) -> list[ast.TemplateNode]:
        root: list[ast.TemplateNode] = []
        # stack of (opening token, node, list currently appended to)
        stack: list[tuple[_Tok, ast.TemplateNode, list[ast.TemplateNode]]] = []
        current = root
        for tok in tokens:
            if isinstance(tok, _Lit):
                if tok.text:
                    current.append(ast.TemplateLiteral(tok.pos, tok.text))
            elif isinstance(tok, _Interp):
                assert tok.expr is not None
                current.append(ast.TemplateInterp(tok.pos, tok.expr))
            elif isinstance(tok, _If):
                assert tok.cond is not None
                node = ast.TemplateIf(tok.pos, tok.cond)
                current.append(node)
                stack.append((tok, node, current))
                current = node.then_parts
            elif isinstance(tok, _For):
                assert tok.coll is not None
                fnode = ast.TemplateFor(tok.pos, tok.key_var, tok.value_var, tok.coll)
                current.append(fnode)
                stack.append((tok, fnode, current))
                current = fnode.body
            elif isinstance(tok, _Else):
                if not stack or not isinstance(stack[-1][1], ast.TemplateIf) or current is stack[-1][1].else_parts:
                    self.error("Unexpected else directive", 'An "else" must be inside an "if" directive, once.', tok.pos)
                    continue
                current = stack[-1][1].else_parts
            elif isinstance(tok, (_EndIf, _EndFor)):
                want = ast.TemplateIf if isinstance(tok, _EndIf) else ast.TemplateFor
                word = "endif" if isinstance(tok, _EndIf) else "endfor"
                if not stack or not isinstance(stack[-1][1], want):
                    opener = "if" if word == "endif" else "for"
                    self.error(f"Unexpected {word} directive", f'There is no open "{opener}" directive for this "{word}"; remove it or add the opening directive.', tok.pos)
                    continue
                _, _, current = stack.pop()
        for tok, unclosed, _ in stack:
            word = "endif" if isinstance(unclosed, ast.TemplateIf) else "endfor"
            self.error("Unterminated template directive", f'This directive is not closed; add "%{{ {word} }}".', tok.pos)
        return root


def _subtree(node: Tree[Token], index: int) -> Tree[Token]:
    """The rule at ``node.children[index]``; the grammar puts no token there."""
    child = node.children[index]
    if not isinstance(child, Tree):
        raise TypeError(f"HCL grammar: expected a rule under {node.data!r}, found token {child.type}")
    return child


def _edge_token(node: Tree[Token], last: bool) -> Token | None:
    """The first (or last) token under ``node``: its start (or end) position."""
    stack: list[Any] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Token):
            return current
        children = current.children
        stack.extend(children if last else reversed(children))
    return None


def _span(start: SourcePos, end: SourcePos) -> SourcePos:
    """From the start of ``start`` to the end of ``end``."""
    return SourcePos(start.filename, start.line, start.column, end.end_line, end.end_column)


def _merge_literals(tokens: list[_Tok]) -> list[_Tok]:
    # Runs of literals are joined once: adding them up one by one was quadratic.
    out: list[_Tok] = []
    run: list[_Lit] = []

    def flush() -> None:
        if len(run) == 1:
            out.append(run[0])
        elif run:
            out.append(_Lit(run[0].pos, text="".join(lit.text for lit in run)))
        run.clear()

    for tok in tokens:
        if isinstance(tok, _Lit):
            run.append(tok)
        else:
            flush()
            out.append(tok)
    flush()
    return out


def _apply_strip_markers(tokens: list[_Tok]) -> None:
    for i, tok in enumerate(tokens):
        if isinstance(tok, _Lit):
            continue
        if tok.strip_open and i > 0 and isinstance(tokens[i - 1], _Lit):
            prev = tokens[i - 1]
            assert isinstance(prev, _Lit)
            prev.text = prev.text.rstrip()
        if tok.strip_close and i + 1 < len(tokens) and isinstance(tokens[i + 1], _Lit):
            nxt = tokens[i + 1]
            assert isinstance(nxt, _Lit)
            nxt.text = nxt.text.lstrip()


def _flush_heredoc(tokens: list[_Tok]) -> None:
    """``<<-``: remove the common leading-space count from line-leading literals.

    As hclsyntax: a literal that is all spaces and ends with a newline (a blank
    line) does not count; any other token at a line start means zero spaces;
    a literal emptied by a strip marker no longer ends a line.
    """
    big = 1 << 30
    min_spaces = big
    at_line_start = True
    adjust: list[_Lit] = []
    for tok in tokens:
        if at_line_start:
            at_line_start = False
            if isinstance(tok, _Lit):
                stripped = tok.text.lstrip()
                if stripped == "" and tok.text.endswith("\n"):
                    spaces = big
                else:
                    spaces = len(tok.text) - len(stripped)
                    adjust.append(tok)
            else:
                spaces = 0
            min_spaces = min(min_spaces, spaces)
        if isinstance(tok, _Lit) and tok.text.endswith("\n"):
            at_line_start = True
    if min_spaces == big:
        return
    for lit in adjust:
        lit.text = lit.text[min_spaces:]


def _scan_template(text: str) -> Iterator[tuple[str, int, int, int, int]]:
    """Split template text into per-line literals and whole ``${}``/``%{}`` sequences.

    Yields (kind, start, end, line, column) with kind "lit", "seq" or
    "unterminated". Sequence ends are found by matching braces, skipping quoted
    strings (which may nest sequences of their own); the sequence's contents are
    then parsed by the grammar.
    """
    i = 0
    n = len(text)
    line, col = 1, 1
    lit_start, lit_line, lit_col = 0, 1, 1

    def advance(start: int, end: int) -> None:
        nonlocal line, col
        chunk = text[start:end]
        newlines = chunk.count("\n")
        if newlines:
            line += newlines
            col = end - chunk.rfind("\n") - start
        else:
            col += end - start

    # Jump from mark to mark with a regex: a loop over every character was the
    # bulk of the time for large heredocs.
    while True:
        found = _TEMPLATE_MARK.search(text, i)
        if found is None:
            break
        col += found.start() - i
        i = found.start()
        mark = found.group()
        if len(mark) == 3:
            # escaped sequence: stays literal (unescaped by the caller)
            col += 3
            i += 3
            continue
        if mark == "\n":
            yield ("lit", lit_start, i + 1, lit_line, lit_col)
            i += 1
            line, col = line + 1, 1
            lit_start, lit_line, lit_col = i, line, col
            continue
        if i > lit_start:
            yield ("lit", lit_start, i, lit_line, lit_col)
        end = _sequence_end(text, i + 2)
        if end < 0:
            yield ("unterminated", i, n, line, col)
            return
        yield ("seq", i, end, line, col)
        advance(i, end)
        i = end
        lit_start, lit_line, lit_col = i, line, col
    if lit_start < n:
        yield ("lit", lit_start, n, lit_line, lit_col)


#: What ends a literal run in a template: an escaped sequence (kept literal), a
#: sequence opener, or a line end.
_TEMPLATE_MARK = re.compile(r"\$\$\{|%%\{|[$%]\{|\n")


def _sequence_end(text: str, i: int) -> int:
    """Index just after the ``}`` closing a sequence whose body starts at ``i``."""
    depth = 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i = _string_end(text, i + 1)
            if i < 0:
                return -1
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def _string_end(text: str, i: int) -> int:
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        if ch == "\n":
            return -1
        if ch in "$%" and i + 1 < n and text[i + 1] == "{":
            if i > 0 and text[i - 1] == ch:
                i += 2
                continue
            end = _sequence_end(text, i + 2)
            if end < 0:
                return -1
            i = end
            continue
        i += 1
    return -1
