"""Legacy JSON templates (Packer's format before HCL2), read by converting them to HCL2.

``bakehouse build t.json`` and ``bakehouse hcl2_upgrade t.json`` share this
converter: a JSON template becomes HCL2 text, which the HCL2 loader then reads
(``build``) or which is written next to it (``hcl2_upgrade``).

What maps, and to what:

- ``variables`` -> ``variable`` blocks (``null`` = required), ``sensitive-variables``
  -> ``sensitive = true``; ``{{env `X`}}`` (only allowed in variable defaults, as
  in Packer) -> ``env("X")``;
- ``builders`` -> ``source "TYPE" "NAME"`` blocks (``name`` defaults to the
  type) and one ``build`` block using them all;
- ``provisioners`` -> ``provisioner`` blocks (``only``/``except`` builder names
  become source references, ``override`` stays keyed by builder name);
  ``error-cleanup-provisioner`` likewise;
- ``post-processors``: a name or an object -> ``post-processor``, a list -> a
  ``post-processors`` sequence;
- ``min_packer_version`` -> ``packer { required_version = ">= X" }``;
- in strings: ``{{user `x`}}`` -> ``var.x``, ``{{timestamp}}`` (Unix seconds of
  the run when building; ``local.timestamp`` as Packer's own upgrade writes it),
  ``{{isotime}}`` / ``{{isotime "2006-01-02"}}`` -> ``timestamp()`` /
  ``formatdate()``, ``{{build_name}}`` / ``{{build_type}}`` -> ``source.name`` /
  ``source.type``, ``{{template_dir}}``, ``{{pwd}}``, ``{{uuid}}``,
  ``{{packer_version}}``, ``{{build `ID`}}`` -> ``build.ID``, and
  ``lower``/``upper``/``clean_resource_name`` of those, ``{{split S SEP N}}``
  -> ``split(SEP, S)[N]``, ``{{replace_all OLD NEW S}}`` and ``{{replace OLD NEW
  N S}}`` (the first N, all when N < 0; also as pipeline stages, the piped
  value last) -> ``join``/``split``/``slice`` expressions that replace the text
  literally, as Go's ``strings.Replace``. Component placeholders
  (``{{ .Vars }}``, ``{{.Path}}``) are left for the component.

Any other template function is an error that names it, with the JSON line.
Nested settings: a list of objects becomes repeated blocks, an object with
nested values (or a known block such as ``source_ami_filter``) a block, any
other object an argument map (``tags = {...}``), as Packer's upgrade does.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bakehouse.hcl.diagnostics import Diagnostics, SourcePos

TOP_LEVEL_KEYS = (
    "description",
    "min_packer_version",
    "variables",
    "sensitive-variables",
    "builders",
    "provisioners",
    "post-processors",
    "error-cleanup-provisioner",
    "_comment",
)

#: Objects that are blocks in Packer's HCL2 schemas even when all their values are plain.
KNOWN_BLOCKS = frozenset(
    {
        "source_ami_filter",
        "metadata_options",
        "assume_role",
        "vault_aws_engine",
        "aws_polling",
        "polling",
        "security_group_filter",
        "subnet_filter",
        "vpc_filter",
        "placement",
    }
)

SUPPORTED_FUNCTIONS = (
    "user",
    "env (in variables)",
    "timestamp",
    "isotime",
    "build_name",
    "build_type",
    "template_dir",
    "pwd",
    "uuid",
    "packer_version",
    "lower",
    "upper",
    "build (in provisioners and post-processors)",
    "clean_resource_name",
    "split",
    "replace",
    "replace_all",
)

#: Functions that take several arguments (Go template syntax: space-separated,
#: a piped value goes last) -> the number of arguments.
_ARGUMENT_FUNCTIONS = {"split": 3, "replace": 4, "replace_all": 3}

#: Functions of one string, as a pipeline stage or with one argument -> HCL2.
#: ``clean_resource_name`` is the amazon plugin's (AMI names): anything but
#: letters, digits and ``( ) [ ] . / - ' @ _`` and spaces becomes ``-``.
_STRING_FUNCTIONS = {
    "lower": "lower({})",
    "upper": "upper({})",
    "clean_resource_name": 'regex_replace({}, "[^-a-zA-Z0-9()\\\\[\\\\] ./\'@_]", "-")',
}

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_ARG = r"(?:`([^`]*)`|\"((?:[^\"\\]|\\.)*)\")"
#: One argument of a Go template call: a raw or quoted string, an integer, a
#: function name, or "(" (a parenthesized pipeline, read up to its ")").
_ARGUMENT_TOKEN = re.compile(r"`[^`]*`|\"(?:[^\"\\]|\\.)*\"|-?\d+\b|[A-Za-z_][A-Za-z0-9_]*|\(")

# Go reference-time layout elements -> formatdate() tokens, longest first.
_GO_LAYOUT = [
    ("January", "MMMM"),
    ("Monday", "EEEE"),
    ("-07:00", "ZZZZZ"),
    ("Z07:00", "Z"),
    ("-0700", "ZZZZ"),
    ("2006", "YYYY"),
    ("Jan", "MMM"),
    ("Mon", "EEE"),
    ("MST", "ZZZ"),
    ("01", "MM"),
    ("02", "DD"),
    ("03", "HH"),
    ("04", "mm"),
    ("05", "ss"),
    ("06", "YY"),
    ("15", "hh"),
    ("PM", "AA"),
    ("pm", "aa"),
    ("1", "M"),
    ("2", "D"),
    ("3", "H"),
    ("4", "m"),
    ("5", "s"),
]


def _skip_string(text: str, position: int) -> int:
    """The index after the string literal that starts at ``position``."""
    quote = text[position]
    position += 1
    while position < len(text) and text[position] != quote:
        position += 2 if quote == '"' and text[position] == "\\" else 1
    return position + 1


def _closing_parenthesis(text: str, start: int) -> int:
    """The index of the ")" that closes the "(" at ``start``, or -1."""
    depth = 0
    position = start
    while position < len(text):
        char = text[position]
        if char in "`\"":
            position = _skip_string(text, position)
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return position
        position += 1
    return -1


def _split_pipeline(text: str) -> list[str]:
    """``a | b (c | d)`` -> ``["a ", " b (c | d)"]``: the top-level stages."""
    stages: list[str] = []
    depth = 0
    start = position = 0
    while position < len(text):
        char = text[position]
        if char in "`\"":
            position = _skip_string(text, position)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            stages.append(text[start:position])
            start = position + 1
        position += 1
    stages.append(text[start:])
    return stages


class ConversionError(Exception):
    """One problem; collected into :class:`Diagnostics` with the JSON position."""

    def __init__(self, summary: str, detail: str, needle: str = "") -> None:
        super().__init__(detail)
        self.summary = summary
        self.detail = detail
        self.needle = needle


def go_layout_to_formatdate(layout: str) -> str:
    """``2006-01-02T15:04:05Z07:00`` -> ``YYYY-MM-DD'T'hh:mm:ssZ``."""
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            text = "".join(literal)
            out.append(f"'{text}'" if re.search(r"[A-Za-z']", text) else text)
            literal.clear()

    index = 0
    while index < len(layout):
        for go, token in _GO_LAYOUT:
            if layout.startswith(go, index):
                flush()
                out.append(token)
                index += len(go)
                break
        else:
            literal.append(layout[index].replace("'", "''"))
            index += 1
    flush()
    return "".join(out)


def hcl_quote(text: str) -> str:
    """A literal string as an HCL quoted string (no interpolation)."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("${", "$${")
        .replace("%{", "%%{")
    )
    return f'"{escaped}"'


@dataclass
class _Converter:
    filename: str
    text: str
    upgrade: bool
    variables: set[str] = field(default_factory=set)
    builder_refs: dict[str, str] = field(default_factory=dict)  #: builder name -> source.T.N
    needs_timestamp_local: bool = False
    run_timestamp: str = field(default_factory=lambda: str(int(time.time())))
    diags: Diagnostics = field(default_factory=Diagnostics)

    # ------------------------------------------------------------- positions
    def _pos(self, needle: str) -> SourcePos:
        if needle:
            encoded = json.dumps(needle)[1:-1]
            index = self.text.find(encoded)
            if index < 0:
                index = self.text.find(f'"{needle}"')
            if index >= 0:
                line = self.text.count("\n", 0, index) + 1
                column = index - (self.text.rfind("\n", 0, index) + 1) + 1
                return SourcePos(self.filename, line, column)
        return SourcePos(self.filename, 1, 1)

    def _error(self, exc: ConversionError) -> None:
        self.diags.error(exc.summary, exc.detail, self._pos(exc.needle))

    # ------------------------------------------------------------ functions
    def _function(self, action: str, in_variables: bool) -> str:
        """One ``{{ action }}`` as an HCL expression (without ``${}``)."""
        text = action.strip()
        if text.startswith("-") or text.endswith("-"):
            text = text.strip("-").strip()
        return self._pipeline(text, in_variables, action)

    def _pipeline(self, text: str, in_variables: bool, action: str) -> str:
        """``a | b x | c``: each stage gets the value before it as its last argument."""
        stages = [stage.strip() for stage in _split_pipeline(text)]
        expression = self._call(stages[0], in_variables, action)
        for stage in stages[1:]:
            name, _, rest = stage.partition(" ")
            if stage in _STRING_FUNCTIONS:
                expression = _STRING_FUNCTIONS[stage].format(expression)
            elif name in _ARGUMENT_FUNCTIONS and not in_variables:
                expression = self._call_with_arguments(name, rest, in_variables, action, piped=expression)
            else:
                raise self._unsupported(name, action)
        return expression

    def _arguments(self, text: str, in_variables: bool, action: str) -> list[tuple[str, str | int | None]]:
        """The space-separated arguments of a call: each as an HCL expression,
        with its value when it is a literal string or integer."""
        arguments: list[tuple[str, str | int | None]] = []
        position = 0
        while position < len(text):
            if text[position].isspace():
                position += 1
                continue
            match = _ARGUMENT_TOKEN.match(text, position)
            if match is None:
                raise self._unreadable(text[position:], action)
            token = match.group(0)
            if token == "(":
                end = _closing_parenthesis(text, position)
                if end < 0:
                    raise self._unreadable(text[position:], action)
                arguments.append((self._pipeline(text[position + 1:end].strip(), in_variables, action), None))
                position = end + 1
                continue
            if token[0] == "`":
                arguments.append((hcl_quote(token[1:-1]), token[1:-1]))
            elif token[0] == '"':
                value = json.loads(token)
                arguments.append((hcl_quote(value), value))
            elif token[0] == "-" or token.isdigit():
                arguments.append((str(int(token)), int(token)))
            else:  # a function without arguments, such as build_name
                arguments.append((self._call(token, in_variables, action), None))
            position = match.end()
        return arguments

    def _call_with_arguments(self, name: str, rest: str, in_variables: bool, action: str,
                             piped: str | None = None) -> str:
        """``split``, ``replace`` and ``replace_all``, with Packer's argument order."""
        arguments = self._arguments(rest, in_variables, action)
        if piped is not None:
            arguments.append((piped, None))
        signature = {"split": "string, separator, index", "replace": "old, new, count, string",
                     "replace_all": "old, new, string"}[name]
        if len(arguments) != _ARGUMENT_FUNCTIONS[name]:
            raise ConversionError(
                "Invalid template function call",
                f'"{{{{{action}}}}}": {name} takes {_ARGUMENT_FUNCTIONS[name]} arguments ({signature}), '
                f"not {len(arguments)}.",
                "{{" + action + "}}",
            )
        if name == "split":
            (string, _), (separator, _), (index, _) = arguments
            return f"split({separator}, {string})[{index}]"
        (old, old_value), (new, _) = arguments[:2]
        source = arguments[-1][0]
        if old_value == "":
            raise ConversionError(
                "Invalid template function call",
                f'"{{{{{action}}}}}": {name} with an empty old string (a new string between every '
                "character) has no HCL2 equivalent; write the text without it.",
                "{{" + action + "}}",
            )
        count: str | int | None = -1 if name == "replace_all" else arguments[2][1]
        if not isinstance(count, int):
            raise ConversionError(
                "Invalid template function call",
                f'"{{{{{action}}}}}": the count of replace (its third argument) must be a number: how many '
                "to replace, -1 for all.",
                "{{" + action + "}}",
            )
        parts = f"split({old}, {source})"
        if count < 0:  # every occurrence, literally (HCL's replace() reads "/.../" as a pattern)
            return f"join({new}, {parts})"
        if count == 0:
            return source
        # The first `count` occurrences: the pieces before them joined with the
        # new string, the rest joined back with the old one.
        kept = f"min({count}, length({parts}) - 1)"
        return (f"join({new}, concat(slice({parts}, 0, {kept}), "
                f"[join({old}, slice({parts}, {kept}, length({parts})))]))")

    def _unreadable(self, rest: str, action: str) -> ConversionError:
        return ConversionError(
            "Invalid template function call",
            f'Cannot read the arguments of "{{{{{action}}}}}" from "{rest}": an argument is a `raw` or '
            '"quoted" string, a number, a function name or a (parenthesized call).',
            "{{" + action + "}}",
        )

    def _unsupported(self, name: str, action: str) -> ConversionError:
        return ConversionError(
            "Unsupported template function",
            f'The template function "{name}" (in "{{{{{action}}}}}") is not supported in JSON templates '
            f"by Bakehouse. Supported: {', '.join(SUPPORTED_FUNCTIONS)}. `bakehouse hcl2_upgrade` "
            "writes the template as HCL2 with this call left as it is, to rewrite with an HCL2 function.",
            "{{" + action + "}}",
        )

    def _call(self, text: str, in_variables: bool, action: str) -> str:
        name, _, rest = text.partition(" ")
        rest = rest.strip()
        if name in _STRING_FUNCTIONS and rest:
            inner = rest[1:-1] if rest.startswith("(") and rest.endswith(")") else rest
            literal = re.fullmatch(_ARG, inner.strip())
            if literal is not None:  # {{lower `ABC`}}
                text_arg = literal.group(1) if literal.group(1) is not None else json.loads(f'"{literal.group(2)}"')
                return _STRING_FUNCTIONS[name].format(hcl_quote(text_arg))
            return _STRING_FUNCTIONS[name].format(self._call(inner.strip(), in_variables, action))
        if name in _ARGUMENT_FUNCTIONS and not in_variables:
            return self._call_with_arguments(name, rest, in_variables, action)
        argument: str | None = None
        if rest:
            match = re.fullmatch(_ARG, rest)
            if match is None:
                raise self._unsupported(name, action)
            argument = match.group(1) if match.group(1) is not None else json.loads(f'"{match.group(2)}"')
        if name == "user" and argument is not None:
            if in_variables:
                raise ConversionError(
                    "Unsupported template function",
                    f'A variable default cannot use another variable ("{{{{{action}}}}}"): in HCL2 a '
                    "default is a constant. Set the value with -var or a var file instead.",
                    "{{" + action + "}}",
                )
            if argument not in self.variables:
                raise ConversionError(
                    "Undefined user variable",
                    f'"{{{{{action}}}}}" refers to the user variable "{argument}", which the template does '
                    'not declare in "variables".',
                    "{{" + action + "}}",
                )
            return f"var.{argument}"
        if name == "env" and argument is not None:
            if not in_variables:
                raise ConversionError(
                    "Unsupported template function",
                    f'"{{{{{action}}}}}": env can only be used in the default value of a variable (as in '
                    'Packer). Declare a variable with that default and use {{user `name`}} here.',
                    "{{" + action + "}}",
                )
            return f"env({hcl_quote(argument)})"
        if in_variables:
            raise self._unsupported(name, action)
        if name == "build" and argument is not None and _IDENTIFIER.match(argument):
            return f"build.{argument}"  # {{build `ID`}}: the builder's generated value
        if argument is None:
            simple = {
                "build_name": "source.name",
                "build_type": "source.type",
                "template_dir": "path.root",
                "pwd": "path.cwd",
                "uuid": "uuidv4()",
                "packer_version": "packer.version",
                "isotime": "timestamp()",
            }
            if name == "template_dir" and not self.upgrade:
                return "abspath(path.root)"  # Packer's template_dir is absolute
            if name in simple:
                return simple[name]
            if name == "timestamp":
                if self.upgrade:
                    self.needs_timestamp_local = True
                    return "local.timestamp"
                return hcl_quote(self.run_timestamp)
        elif name == "isotime":
            return f"formatdate({hcl_quote(go_layout_to_formatdate(argument))}, timestamp())"
        raise self._unsupported(name, action)

    # ---------------------------------------------------------------- values
    def string(self, value: str, in_variables: bool = False) -> str:
        """A JSON string as an HCL string expression, template functions converted."""
        parts: list[str] = []
        position = 0
        only_expression: str | None = None
        matches = list(_ACTION.finditer(value))
        for match in matches:
            parts.append(hcl_quote(value[position:match.start()])[1:-1])
            action = match.group(1)
            if action.strip().startswith("."):
                # A component's own placeholder ({{ .Vars }}): left for the component.
                parts.append(hcl_quote(match.group(0))[1:-1])
            else:
                try:
                    expression = self._function(action, in_variables)
                except ConversionError as exc:
                    if not (self.upgrade and exc.summary == "Unsupported template function"):
                        raise
                    # hcl2_upgrade: keep the call for the user to rewrite, and say so.
                    self.diags.warning(
                        "Template function left as it is",
                        f'"{match.group(0)}" has no HCL2 equivalent here; it is copied unchanged into the '
                        "HCL2 template: rewrite it with an HCL2 function.",
                        self._pos(match.group(0)),
                    )
                    parts.append(hcl_quote(match.group(0))[1:-1])
                    position = match.end()
                    continue
                parts.append("${" + expression + "}")
                if len(matches) == 1 and match.group(0) == value:
                    only_expression = expression
            position = match.end()
        parts.append(hcl_quote(value[position:])[1:-1])
        if only_expression is not None and in_variables:
            return only_expression  # default = env("X")
        return '"' + "".join(parts) + '"'

    def value(self, value: Any, indent: str) -> str:
        """Any JSON value as an HCL expression."""
        if isinstance(value, str):
            return self.string(value)
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return json.dumps(value)
        inner = indent + "  "
        if isinstance(value, list):
            if not value:
                return "[]"
            items = [self.value(item, inner) for item in value]
            if all("\n" not in item for item in items) and sum(len(i) for i in items) < 80:
                return "[" + ", ".join(items) + "]"
            return "[\n" + "".join(f"{inner}{item},\n" for item in items) + indent + "]"
        if isinstance(value, dict):
            if not value:
                return "{}"
            lines = [f"{inner}{_key(k)} = {self.value(v, inner)}\n" for k, v in value.items()]
            return "{\n" + "".join(lines) + indent + "}"
        raise ConversionError("Unsupported value", f"Cannot convert the JSON value {value!r}.")

    def body(self, settings: dict[str, Any], indent: str, skip: tuple[str, ...] = ()) -> str:
        """A component's settings as an HCL block body."""
        out: list[str] = []
        for key, value in settings.items():
            if key in skip or key.startswith("_comment"):
                continue
            if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
                for item in value:
                    out.append(f"{indent}{key} {{\n{self.body(item, indent + '  ')}{indent}}}\n")
            elif isinstance(value, dict) and value and _IDENTIFIER.match(key) and (
                key in KNOWN_BLOCKS or any(isinstance(v, dict | list) for v in value.values())
            ) and all(_IDENTIFIER.match(k) for k in value):
                out.append(f"{indent}{key} {{\n{self.body(value, indent + '  ')}{indent}}}\n")
            else:
                try:
                    out.append(f"{indent}{_key(key)} = {self.value(value, indent)}\n")
                except ConversionError as exc:
                    self._error(exc)
        return "".join(out)

    # ------------------------------------------------------------- sections
    def _checked_body(self, settings: dict[str, Any], indent: str, skip: tuple[str, ...]) -> str:
        try:
            return self.body(settings, indent, skip)
        except ConversionError as exc:
            self._error(exc)
            return ""

    def variables_section(self, template: dict[str, Any]) -> list[str]:
        variables = template.get("variables") or {}
        sensitive = template.get("sensitive-variables") or []
        if not isinstance(variables, dict):
            self._error(ConversionError("Invalid variables", '"variables" must be an object.', "variables"))
            return []
        self.variables = set(variables)
        for name in sensitive:
            if name not in variables:
                self._error(ConversionError(
                    "Undefined sensitive variable",
                    f'"{name}" is listed in "sensitive-variables" but not declared in "variables".',
                    name,
                ))
        blocks = []
        for name, default in variables.items():
            lines = [f'variable "{name}" {{\n']
            try:
                if isinstance(default, str):
                    lines.append("  type    = string\n")
                    lines.append(f"  default = {self.string(default, in_variables=True)}\n")
                elif default is not None:
                    lines.append(f"  default = {self.value(default, '  ')}\n")
            except ConversionError as exc:
                self._error(exc)
            if name in sensitive:
                lines.append("  sensitive = true\n")
            lines.append("}\n")
            blocks.append("".join(lines))
        return blocks

    def builders_section(self, template: dict[str, Any]) -> list[str]:
        builders = template.get("builders")
        if not isinstance(builders, list) or not builders:
            self._error(ConversionError(
                "No builders", 'A JSON template needs a "builders" list with at least one builder.',
                "builders",
            ))
            return []
        blocks = []
        for builder in builders:
            if not isinstance(builder, dict) or not isinstance(builder.get("type"), str):
                self._error(ConversionError(
                    "Invalid builder", 'Each builder must be an object with a "type".', "builders"
                ))
                continue
            type_ = builder["type"]
            name = str(builder.get("name") or type_)
            if name in self.builder_refs:
                self._error(ConversionError(
                    "Duplicate builder name",
                    f'Two builders are named "{name}": give each a unique "name".',
                    name,
                ))
                continue
            if not _IDENTIFIER.match(name):
                self._error(ConversionError(
                    "Invalid builder name",
                    f'"{name}" cannot name an HCL2 source: use letters, digits, "_" and "-".',
                    name,
                ))
                continue
            self.builder_refs[name] = f"source.{type_}.{name}"
            body = self._checked_body(builder, "  ", ("type", "name"))
            blocks.append(f'source "{type_}" "{name}" {{\n{body}}}\n')
        return blocks

    def _refs(self, names: Any, key: str) -> list[str]:
        refs = []
        for name in names if isinstance(names, list) else [names]:
            if name not in self.builder_refs:
                self._error(ConversionError(
                    f"Unknown builder in {key}",
                    f'"{key}" names the builder "{name}", which the template does not define.',
                    str(name),
                ))
                continue
            refs.append(self.builder_refs[name].removeprefix("source."))
        return refs

    def _component(self, kind: str, settings: Any, indent: str, *, selectable: bool = True) -> str:
        if isinstance(settings, str):
            settings = {"type": settings}
        if not isinstance(settings, dict) or not isinstance(settings.get("type"), str):
            self._error(ConversionError(f"Invalid {kind}", f'Each {kind} must be an object with a "type".', kind))
            return ""
        type_ = settings["type"]
        lines = [f'{indent}{kind} "{type_}" {{\n']
        inner = indent + "  "
        if selectable:
            for key in ("only", "except"):
                if key in settings:
                    refs = ", ".join(hcl_quote(ref) for ref in self._refs(settings[key], key))
                    lines.append(f"{inner}{key} = [{refs}]\n")
        if "override" in settings and isinstance(settings["override"], dict):
            overrides = []
            for name, values in settings["override"].items():
                if name not in self.builder_refs:
                    self._error(ConversionError(
                        "Unknown builder in override",
                        f'"override" names the builder "{name}", which the template does not define.',
                        str(name),
                    ))
                    continue
                try:
                    overrides.append(f"{inner}  {_key(name)} = {self.value(values, inner + '  ')}\n")
                except ConversionError as exc:
                    self._error(exc)
            lines.append(f"{inner}override = {{\n{''.join(overrides)}{inner}}}\n")
        lines.append(self._checked_body(settings, inner, ("type", "only", "except", "override")))
        lines.append(f"{indent}}}\n")
        return "".join(lines)

    def build_section(self, template: dict[str, Any]) -> str:
        refs = ", ".join(hcl_quote(ref) for ref in self.builder_refs.values())
        lines = ["build {\n", f"  sources = [{refs}]\n"]
        provisioners = template.get("provisioners") or []
        if not isinstance(provisioners, list):
            self._error(ConversionError("Invalid provisioners", '"provisioners" must be a list.', "provisioners"))
            provisioners = []
        for provisioner in provisioners:
            lines.append("\n" + self._component("provisioner", provisioner, "  "))
        cleanup = template.get("error-cleanup-provisioner")
        if cleanup:
            lines.append("\n" + self._component("error-cleanup-provisioner", cleanup, "  ", selectable=False))
        post_processors = template.get("post-processors") or []
        if not isinstance(post_processors, list):
            self._error(ConversionError(
                "Invalid post-processors", '"post-processors" must be a list.', "post-processors"
            ))
            post_processors = []
        for entry in post_processors:
            if isinstance(entry, list):
                chain = "".join(self._component("post-processor", item, "    ") for item in entry)
                lines.append(f"\n  post-processors {{\n{chain}  }}\n")
            else:
                lines.append("\n" + self._component("post-processor", entry, "  "))
        lines.append("}\n")
        return "".join(lines)

    def convert(self, template: Any) -> str:
        if not isinstance(template, dict):
            raise_single(self.filename, "Invalid JSON template", "A JSON template is an object.")
        for key in template:
            if key not in TOP_LEVEL_KEYS:
                self._error(ConversionError(
                    "Unsupported template key",
                    f'"{key}" is not a key of a JSON template (expected one of: '
                    f"{', '.join(k for k in TOP_LEVEL_KEYS if k != '_comment')}).",
                    key,
                ))
        sections: list[str] = []
        description = template.get("description")
        header = f"# Converted from the JSON template {self.filename.rsplit('/', 1)[-1]}.\n"
        if isinstance(description, str) and description:
            header += "".join(f"# {line}\n" for line in description.splitlines())
        minimum = template.get("min_packer_version")
        if minimum:
            sections.append(f"packer {{\n  required_version = {hcl_quote('>= ' + str(minimum))}\n}}\n")
        sections += self.variables_section(template)
        sections += self.builders_section(template)
        build = self.build_section(template)
        if self.needs_timestamp_local:
            sections.append('locals {\n  timestamp = regex_replace(timestamp(), "[- TZ:]", "")\n}\n')
        sections.append(build)
        if self.diags.has_errors:
            raise self.diags
        return header + "\n" + "\n".join(sections)


def _key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else hcl_quote(name)


def raise_single(filename: str, summary: str, detail: str, line: int = 1, column: int = 1) -> None:
    diags = Diagnostics()
    diags.error(summary, detail, SourcePos(filename, line, column))
    raise diags


def is_legacy_json(path: str) -> bool:
    """A legacy JSON template: ``*.json`` but not HCL2's JSON syntax (``*.pkr.json``)."""
    return path.endswith(".json") and not path.endswith(".pkr.json")


def convert_json_template(path: str, *, read: Callable[[str], str] | None = None) -> str:
    """HCL2 text to run the legacy JSON template at ``path``; raises :class:`Diagnostics`.

    ``{{timestamp}}`` is this run's Unix time, as Packer's JSON templates evaluate it.
    """
    text, _warnings = _convert(path, upgrade=False, read=read)
    return text


def upgrade_json_template(
    path: str, *, read: Callable[[str], str] | None = None
) -> tuple[str, Diagnostics]:
    """``(HCL2 text, warnings)`` for ``hcl2_upgrade``; raises :class:`Diagnostics`.

    ``{{timestamp}}`` becomes ``local.timestamp`` as Packer's upgrade writes it,
    and template functions without an HCL2 equivalent are copied unchanged
    (each with a warning) for the user to rewrite.
    """
    return _convert(path, upgrade=True, read=read)


def _convert(
    path: str, *, upgrade: bool, read: Callable[[str], str] | None
) -> tuple[str, Diagnostics]:
    try:
        text = read(path) if read else open(path, encoding="utf-8").read()  # noqa: SIM115
    except OSError as exc:
        raise_single(path, "Failed to read template", f"The file {path!r} could not be read: {exc.strerror}.")
        raise AssertionError from exc  # unreachable: raise_single raises
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise_single(path, "Invalid JSON", f"{exc.msg}.", exc.lineno, exc.colno)
    converter = _Converter(path, text, upgrade)
    hcl_text = converter.convert(data)
    warnings = Diagnostics()
    warnings.extend([d for d in converter.diags.items if not d.is_error])
    return hcl_text, warnings
