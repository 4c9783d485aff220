"""Canonical layout for HCL files (`bakehouse fmt`), the way HCL's own formatter does it.

The formatter works on python-hcl2's token stream (the leaves of its parse tree),
never on the raw text with patterns:

* every line is re-indented by two spaces per open bracket level carried over
  from previous lines (heredoc bodies and block comments are left untouched);
* the spacing between tokens is normalised (`a = b + c`, `f(x, y)`, `a.b[0]`,
  `{ a = 1 }`, `{}`, `-1`);
* the `=` of consecutive single-line attributes is aligned, and so are trailing
  comments of consecutive lines;
* the literal text of quoted strings is copied verbatim, the expressions inside
  their ``${...}`` and ``%{...}`` sequences are spaced like any other
  (``"${ var.a+1 }"`` becomes ``"${var.a + 1}"``); heredocs are copied verbatim;
* newlines and blank lines are kept, trailing whitespace goes.

The result is idempotent: formatting formatted text gives the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lark import Token, Tree

# Token kinds, modelled on HCL's own lexer categories.
IDENT = "ident"
NUMBER = "number"
STRING = "string"  # a whole quoted string, copied verbatim
HEREDOC = "heredoc"  # a whole heredoc including its closing marker
COMMENT = "comment"
NEWLINE = "newline"
OPEN = "open"  # ( [ {
CLOSE = "close"  # ) ] }
EQUAL = "equal"
COMMA = "comma"
DOT = "dot"
SPLAT = "splat"  # [*] and .*
ELLIPSIS = "ellipsis"
MINUS = "minus"
BANG = "bang"
OPERATOR = "operator"  # binary operators, ? : =>
DOUBLE_COLON = "double_colon"
KEYWORD_IN = "in"
QUOTE_OPEN = "quote_open"
QUOTE_CLOSE = "quote_close"
LITERAL = "literal"  # literal text of a quoted string, copied verbatim
TEMPLATE_OPEN = "template_open"  # ${ %{ (with a strip marker: ${~)
TEMPLATE_CLOSE = "template_close"  # } (or ~})

_OPERATOR_TERMINALS = {
    "DOUBLE_EQ", "NEQ", "LT", "GT", "LEQ", "GEQ", "ASTERISK", "SLASH", "PERCENT",
    "DOUBLE_AMP", "DOUBLE_PIPE", "PLUS", "QMARK", "COLON", "FOR_OBJECT_ARROW",
}
_OPERATOR_LITERALS = {
    "DOUBLE_EQ": "==", "NEQ": "!=", "LT": "<", "GT": ">", "LEQ": "<=", "GEQ": ">=",
    "ASTERISK": "*", "SLASH": "/", "PERCENT": "%", "DOUBLE_AMP": "&&", "DOUBLE_PIPE": "||",
    "PLUS": "+", "QMARK": "?",
}
_IDENT_TERMINALS = {"NAME", "IF", "FOR", "FOR_EACH", "ELSE", "ENDIF", "ENDFOR", "NULL", "TRUE", "FALSE"}
_KIND_BY_TERMINAL = {
    "INT_LITERAL": NUMBER, "FLOAT_LITERAL": NUMBER,
    "LPAR": OPEN, "LSQB": OPEN, "LBRACE": OPEN,
    "RPAR": CLOSE, "RSQB": CLOSE, "RBRACE": CLOSE,
    "EQ": EQUAL, "COMMA": COMMA, "DOT": DOT,
    "ATTR_SPLAT": SPLAT, "FULL_SPLAT_START": SPLAT,
    "ELLIPSIS": ELLIPSIS, "MINUS": MINUS, "NOT": BANG, "COLONS": DOUBLE_COLON, "IN": KEYWORD_IN,
    "TEMPLATE_STRING": STRING,
}


@dataclass
class _Tok:
    kind: str
    text: str
    spaces_before: int = 0

    @property
    def bracket_change(self) -> int:
        if self.kind in (OPEN, TEMPLATE_OPEN):
            return 1
        if self.kind in (CLOSE, TEMPLATE_CLOSE):
            return -1
        return 0


@dataclass
class _Line:
    lead: list[_Tok] = field(default_factory=list)
    assign: list[_Tok] = field(default_factory=list)
    comment: list[_Tok] = field(default_factory=list)


def format_text(text: str, filename: str = "<stdin>") -> str:
    """Return `text` in canonical layout; raises :class:`Diagnostics` on a syntax error."""
    body = text[1:] if text.startswith("\ufeff") else text
    tokens = _tokens(body, filename)
    lines = _split_lines(tokens)
    for line in lines:
        _split_cells(line)
    _indent(lines)
    for line in lines:
        _space(line)
    _align(lines)
    out = [_render(line) for line in lines]
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def _tokens(text: str, filename: str) -> list[_Tok]:
    # The parser adapter's grammar (python-hcl2's, patched) with its cached LALR
    # tables; it raises Diagnostics with a position and a hint on a syntax error.
    from bakehouse.hcl.parser import _lark_parse

    tree = _lark_parse(text, filename, "start")
    out: list[_Tok] = []
    _collect(tree, text, out)
    return out


_SEQUENCE_RULES = {"interpolation", "template_if_start", "template_else", "template_endif",
                   "template_for_start", "template_endfor"}
_LITERAL_TERMINALS = {"STRING_CHARS", "ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"}


def _collect(node: Tree[Token] | Token, text: str, out: list[_Tok]) -> None:
    if isinstance(node, Token):
        _add_token(node, text, out)
        return
    if node.data == "string":
        _collect_string(node, text, out)
        return
    for child in node.children:
        if child is not None:
            _collect(child, text, out)


def _collect_string(node: Tree[Token], text: str, out: list[_Tok]) -> None:
    """A quoted string: verbatim literal parts, formatted template sequences."""
    for child in node.children:
        if isinstance(child, Token):
            if child.type == "DBLQUOTE":
                out.append(_Tok(QUOTE_OPEN if child is node.children[0] else QUOTE_CLOSE, '"'))
            else:
                out.append(_Tok(LITERAL, str(child)))
            continue
        part = child.children[0] if child.data == "string_part" and child.children else child
        if isinstance(part, Token):
            out.append(_Tok(LITERAL, str(part)))
        elif isinstance(part, Tree) and part.data in _SEQUENCE_RULES:
            _collect_sequence(part, text, out)
        else:
            _collect(part, text, out)


def _collect_sequence(node: Tree[Token], text: str, out: list[_Tok]) -> None:
    """``${ expr }`` or a ``%{ directive }``; strip markers join their delimiter (``${~``, ``~}``)."""
    strip_before_close = False
    opened = False
    for child in node.children:
        if isinstance(child, Token):
            if child.type in ("INTERP_START", "DIRECTIVE_START"):
                out.append(_Tok(TEMPLATE_OPEN, str(child)))
                opened = True
                continue
            if child.type == "STRIP_MARKER":
                if opened and out[-1].kind == TEMPLATE_OPEN:
                    out[-1].text += "~"
                else:
                    strip_before_close = True
                continue
            if child.type == "RBRACE":
                out.append(_Tok(TEMPLATE_CLOSE, ("~" if strip_before_close else "") + "}"))
                continue
        if child is not None:
            _collect(child, text, out)


def _add_token(token: Token, text: str, out: list[_Tok]) -> None:
    # python-hcl2 appends a newline to the input; tokens past the end are ours, not the user's.
    if token.start_pos is not None and token.start_pos >= len(text):
        return
    kind_name = token.type
    value = str(token)
    if kind_name == "NL_OR_COMMENT":
        _add_newline_or_comment(value, out)
        return
    if kind_name in ("HEREDOC_TEMPLATE", "HEREDOC_TEMPLATE_TRIM"):
        out.append(_Tok(HEREDOC, value[:-1] if value.endswith("\n") else value))
        out.append(_Tok(NEWLINE, "\n"))
        return
    if kind_name in _OPERATOR_LITERALS:
        # The post-lexer merges a continuation newline (or comment) into the next operator.
        literal = _OPERATOR_LITERALS[kind_name]
        prefix = value[: len(value) - len(literal)]
        if prefix.strip(" \t"):
            _add_newline_or_comment(prefix, out)
        value = literal
    elif kind_name in ("EQ", "COLON"):
        value = value.strip()
    if kind_name in _IDENT_TERMINALS:
        kind = IDENT
    elif kind_name in _OPERATOR_TERMINALS:
        kind = OPERATOR
    else:
        kind = _KIND_BY_TERMINAL.get(kind_name, OPERATOR)
    out.append(_Tok(kind, value))


def _add_newline_or_comment(value: str, out: list[_Tok]) -> None:
    """Split a newline-or-comment run into comment and newline tokens."""
    rest = value
    while rest:
        rest = rest.lstrip(" \t")
        if not rest:
            break
        if rest.startswith("\n"):
            out.append(_Tok(NEWLINE, "\n"))
            rest = rest[1:]
        elif rest.startswith("/*"):
            end = rest.find("*/")
            end = len(rest) if end < 0 else end + 2
            out.append(_Tok(COMMENT, rest[:end]))
            rest = rest[end:]
        else:  # '#' or '//' comment up to the end of the line
            end = rest.find("\n")
            end = len(rest) if end < 0 else end
            out.append(_Tok(COMMENT, rest[:end].rstrip()))
            rest = rest[end:]


def _split_lines(tokens: list[_Tok]) -> list[_Line]:
    lines: list[_Line] = [_Line()]
    for tok in tokens:
        if tok.kind == NEWLINE:
            lines.append(_Line())
        else:
            lines[-1].lead.append(tok)
    return lines


def _split_cells(line: _Line) -> None:
    lead = line.lead
    if len(lead) > 1 and lead[-1].kind == COMMENT:
        line.comment = lead[-1:]
        lead = lead[:-1]
    for i, tok in enumerate(lead):
        if i > 0 and tok.kind == EQUAL:
            # Only a complete expression on this line joins the alignment: an
            # opening bracket left open starts a multi-line value.
            net = 0
            for later in lead[i:]:
                net += later.bracket_change
                if later.kind == HEREDOC:
                    break
            if net == 0:
                line.assign = lead[i:]
                lead = lead[:i]
            break
    line.lead = lead


def _indent(lines: list[_Line]) -> None:
    stack: list[int] = []
    for line in lines:
        if not line.lead:
            continue
        net = sum(t.bracket_change for t in line.lead) + sum(t.bracket_change for t in line.assign)
        if net < 0:
            closed = -net
            while closed > 0 and stack:
                if closed >= stack[-1]:
                    closed -= stack.pop()
                else:
                    stack[-1] -= closed
                    closed = 0
        line.lead[0].spaces_before = 2 * len(stack)
        if net > 0:
            stack.append(net)


def _space(line: _Line) -> None:
    tokens = line.lead + line.assign + line.comment
    for i in range(1, len(tokens)):
        before = tokens[i - 2] if i >= 2 else None
        tokens[i].spaces_before = 1 if _space_between(before, tokens[i - 1], tokens[i]) else 0


_NEGATION_CONTEXT = {None, OPEN, EQUAL, COMMA, OPERATOR, MINUS, BANG}


def _space_between(before: _Tok | None, subject: _Tok, after: _Tok) -> bool:
    # Inside quotes only the expressions of template sequences are re-spaced.
    if subject.kind in (QUOTE_OPEN, LITERAL) or after.kind in (QUOTE_CLOSE, LITERAL):
        return False
    if subject.kind == TEMPLATE_CLOSE and after.kind == TEMPLATE_OPEN:
        return False
    if subject.kind == TEMPLATE_OPEN and after.kind == OPEN and after.text == "{":
        return True  # "${ {a = 1} }": keep the braces apart
    if subject.kind == CLOSE and subject.text == "}" and after.kind == TEMPLATE_CLOSE:
        return True
    if subject.kind == IDENT and after.kind == OPEN and after.text == "(":
        return False  # function call
    if DOUBLE_COLON in (subject.kind, after.kind):
        return False
    if subject.kind == DOT or after.kind == DOT:
        return False
    if after.kind in (COMMA, ELLIPSIS):
        return False
    if subject.kind == COMMA:
        return True
    if after.kind == SPLAT:
        return False
    if subject.kind == SPLAT and after.kind in (DOT, OPEN) and after.text != "{":
        return False
    if subject.kind == KEYWORD_IN:
        return True
    if after.kind == OPEN and after.text == "[" and subject.kind in (IDENT, NUMBER, CLOSE, SPLAT):
        return False  # index
    if subject.kind == MINUS:
        # A minus that cannot follow the end of an expression is a negation.
        before_kind = None if before is None else before.kind
        return before_kind not in _NEGATION_CONTEXT
    if subject.kind == BANG:
        return False
    if (subject.kind == OPEN and subject.text == "{") or (after.kind == CLOSE and after.text == "}"):
        return not (subject.text == "{" and after.text == "}")
    if subject.bracket_change > 0:
        return False
    if after.bracket_change < 0:
        return False
    return True


def _columns(tokens: list[_Tok]) -> int:
    return sum(t.spaces_before + len(t.text) for t in tokens)


def _align(lines: list[_Line]) -> None:
    def close_chain(chain: list[_Line], cell: str) -> None:
        if cell == "assign":
            width = max(_columns(line.lead) for line in chain)
            for line in chain:
                line.assign[0].spaces_before = width - _columns(line.lead) + 1
        else:
            width = max(_columns(line.lead) + _columns(line.assign) for line in chain)
            for line in chain:
                line.comment[0].spaces_before = width - _columns(line.lead) - _columns(line.assign) + 1

    for cell in ("assign", "comment"):
        chain: list[_Line] = []
        for line in lines:
            if getattr(line, cell):
                chain.append(line)
            elif chain:
                close_chain(chain, cell)
                chain = []
        if chain:
            close_chain(chain, cell)


def _render(line: _Line) -> str:
    return "".join(" " * t.spaces_before + t.text for t in line.lead + line.assign + line.comment).rstrip()
