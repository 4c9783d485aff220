"""Input variables: ``variable`` and ``variables`` blocks, their values, validation.

A :class:`Variable` keeps every value given for it, one per source, and its
value is the one of highest precedence (Packer's order): the default, then
``PKR_VAR_<name>``, then the ``*.auto.pkrvars`` files and each ``-var-file``
in order, then ``-var`` (the last one of a name). Values are converted to the declared type
when they are given; one that does not convert is reported and not kept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
from bakehouse.hcl.limits import MAX_TEMPLATE_BYTES, read_regular_file
from bakehouse.hcl.schema import AttributeSpec, BlockSpec, BodySchema, decode_body
from bakehouse.template import _hcl
from bakehouse.template._hcl import V
from bakehouse.template.scope import evaluate, evaluate_bool, is_identifier

VARIABLE_SCHEMA = BodySchema(
    attributes=(AttributeSpec("type"), AttributeSpec("default"), AttributeSpec("description"),
                AttributeSpec("sensitive")),
    blocks=(BlockSpec("validation"),))
VALIDATION_SCHEMA = BodySchema(attributes=(AttributeSpec("condition", required=True),
                                           AttributeSpec("error_message", required=True)))
VARIABLES_SCHEMA = BodySchema(any_attributes=True, block_hint="Write name = value lines.")

#: Sources of a value, lowest precedence first.
PRECEDENCE = ("default", "env", "varfile", "cmd")


@dataclass(frozen=True)
class VariableValue:
    """One value given for a variable, and where it came from."""

    source: str  #: one of :data:`PRECEDENCE`
    value: V.Value
    where: str  #: "default", "environment variable PKR_VAR_x", a file name, "-var x"


@dataclass
class Variable:
    """One declared input variable and every value given for it."""

    name: str
    pos: SourcePos
    type: V.Type | None = None  #: None when untyped
    type_defaults: _hcl.TypeDefaults | None = None
    declared_type: bool = False
    description: str = ""
    sensitive: bool = False
    validations: list[_hcl.Block] = field(default_factory=list)
    broken: bool = False  #: its default failed to evaluate (already reported)
    values: list[VariableValue] = field(default_factory=list)  #: in the order given
    #: the value is marked sensitive (from the locals stage on, so that what derives from it stays marked)
    marked: bool = False

    def give(self, source: str, value: V.Value, where: str) -> None:
        self.values.append(VariableValue(source, value, where))

    @property
    def chosen(self) -> VariableValue | None:
        """The value of highest precedence; the last given among equals."""
        best: VariableValue | None = None
        for given in self.values:
            if best is None or PRECEDENCE.index(given.source) >= PRECEDENCE.index(best.source):
                best = given
        return best

    @property
    def default(self) -> V.Value | None:
        for given in self.values:
            if given.source == "default":
                return given.value
        return None

    @property
    def value(self) -> V.Value | None:
        chosen = self.chosen
        if chosen is None:
            return None
        return chosen.value.with_sensitive(True) if self.marked else chosen.value

    @property
    def value_source(self) -> str:
        chosen = self.chosen
        return chosen.source if chosen is not None else "default"


def declare_variables(variable_blocks: Sequence[_hcl.Block], variables_blocks: Sequence[_hcl.Block],
                      environ: Mapping[str, str], root: str, diags: Diagnostics) -> dict[str, Variable]:
    """The declared variables with their defaults (converted to their types)."""
    variables: dict[str, Variable] = {}
    default_ctx = _hcl.default_value_context(environ, root)
    literal_ctx = _hcl.make_context({}, {}, root)
    for block in variable_blocks:
        name = block.labels[0]
        if not is_identifier(name):
            diags.error("Invalid variable name", f'"{name}" is not a valid identifier: use letters, '
                        "digits, underscores and dashes, starting with a letter.", block.pos)
            continue
        if name in variables:
            diags.error("Duplicate variable", f'A variable named "{name}" was already declared at '
                        f"{variables[name].pos}. Remove or rename one of them.", block.pos)
            continue
        var = Variable(name=name, pos=block.pos)
        content = decode_body(block.body.attributes, block.body.blocks, VARIABLE_SCHEMA, diags, block.pos)
        default: V.Value | None = None
        for attr_name, attr in content.attributes.items():
            if attr_name == "type":
                try:
                    var.type, var.type_defaults = _hcl.evaluate_type(attr.expr)
                    var.declared_type = True
                except _hcl.Diagnostics as exc:
                    diags.extend(exc)
            elif attr_name == "default":
                default = _default_value(name, attr, default_ctx, diags)
                var.broken = default is None
            elif attr_name == "description":
                value = evaluate(attr.expr, literal_ctx, diags)
                if value is not None and value.type == V.STRING and value.is_known and not value.is_null:
                    var.description = value.as_str()
            elif attr_name == "sensitive":
                var.sensitive = evaluate_bool(attr.expr, literal_ctx, False, diags)
        var.validations = content.blocks
        if var.type is None and default is not None and not default.is_null:
            var.type = _infer_type(default)
        if default is not None and var.type is not None and var.declared_type and not default.is_null:
            converted = convert(default, var, block.body.attributes["default"].pos, "default", diags)
            if converted is not None:
                default = converted
        if default is not None:
            var.give("default", default, "default")
        variables[name] = var

    for block in variables_blocks:
        content = decode_body(block.body.attributes, block.body.blocks, VARIABLES_SCHEMA, diags, block.pos)
        for name, attr in content.attributes.items():
            if name in variables:
                diags.error("Duplicate variable", f'A variable named "{name}" was already declared at '
                            f"{variables[name].pos}.", attr.pos)
                continue
            default = _default_value(name, attr, default_ctx, diags)
            var = Variable(name=name, pos=attr.pos, broken=default is None)
            if default is not None:
                var.give("default", default, "default")
                if not default.is_null:
                    var.type = _infer_type(default)
            variables[name] = var
    return variables


def _default_value(name: str, attr: _hcl.Attribute, ctx: _hcl.EvalContext, diags: Diagnostics) -> V.Value | None:
    """A default value: literal, or using env(); never other variables."""
    refs = attr.expr.references()
    if refs:
        diags.error("Variables not allowed",
                    f'The default value of "{name}" refers to {".".join(refs[0])}; a default can only be '
                    "a literal value or use env(). Move the expression to a local.", attr.expr.pos)
        return None
    return evaluate(attr.expr, ctx, diags)


@dataclass
class VariableInputs:
    """The values given from outside the template."""

    environ: Mapping[str, str]
    var_files: Sequence[str]  #: auto var files, then each -var-file, in order
    cli_vars: Sequence[tuple[str, str]]  #: each -var name=value, in order
    root: str


def assign_values(variables: Mapping[str, Variable], inputs: VariableInputs, diags: Diagnostics, *,
                  check_unset: bool) -> None:
    """Give each variable the values from the environment, the var files and -var."""
    for key, text in inputs.environ.items():
        # undeclared PKR_VAR_ names are ignored
        if key.startswith("PKR_VAR_") and key[len("PKR_VAR_"):] in variables:
            var = variables[key[len("PKR_VAR_"):]]
            where = f"environment variable {key}"
            value = _parse_raw_value(var, text, where, inputs.root, diags)
            if value is not None:
                var.give("env", value, where)
    for filename in inputs.var_files:
        _apply_var_file(variables, filename, inputs.root, diags)
    # the last -var of a name is the one given (an earlier one is not even parsed)
    for name, text in dict(inputs.cli_vars).items():
        declared = variables.get(name)
        if declared is None:
            diags.error("Undefined -var variable",
                        f'A "{name}" variable was passed with -var but is not declared in the template. '
                        f'Declare it with variable "{name}" {{}} or fix the name.')
            continue
        where = f"-var {name}"
        value = _parse_raw_value(declared, text, where, inputs.root, diags)
        if value is not None:
            declared.give("cmd", value, where)
    if not check_unset:
        return
    for var in variables.values():
        if var.value is None and not var.broken:
            diags.error(f'Unset variable "{var.name}"',
                        "A used variable must be set or have a default value. Set it with "
                        f"-var {var.name}=..., a var file or PKR_VAR_{var.name}, or give it a default.",
                        var.pos)


def _parse_raw_value(var: Variable, text: str, where: str, root: str, diags: Diagnostics) -> V.Value | None:
    """A value from the environment or -var: literal for string/number/untyped, else HCL."""
    literal = var.type is None or var.type in (V.STRING, V.NUMBER, V.DYNAMIC) or not var.declared_type
    if literal:
        value = V.string(text)
    else:
        try:
            expr = _hcl.parse_expression(text, filename=f"<value for {where}>")
            value = _hcl.evaluate(expr, _hcl.make_context({}, {}, root))
        except _hcl.Diagnostics as exc:
            diags.error("Invalid value for variable",
                        f'The value given for "{var.name}" by {where} is not a valid HCL expression: '
                        + "; ".join(d.summary for d in exc.items), var.pos)
            return None
    return convert(value, var, var.pos, where, diags)


def _apply_var_file(variables: Mapping[str, Variable], filename: str, root: str, diags: Diagnostics) -> None:
    if filename.endswith(".json"):
        try:
            data = json.loads(read_regular_file(filename, MAX_TEMPLATE_BYTES, "a variable file").decode("utf-8"))
        except (OSError, ValueError) as exc:
            diags.error("Cannot read variable file", f"{filename}: {exc}")
            return
        if not isinstance(data, dict):
            diags.error("Invalid variable file", f"{filename} must hold a JSON object of variable values.")
            return
        for name, raw in data.items():
            _assign_from_file(variables, name, V.from_python(raw), SourcePos(filename, 1, 1), filename, diags)
        return
    if not filename.endswith(".hcl"):
        diags.error("Could not guess format of variable file",
                    f"Could not guess format of {filename}: variable files must end in .hcl or .json.")
        return
    if not os.path.isfile(filename):
        diags.error("Variable file not found", f"There is no file at {filename}.")
        return
    try:
        body = _hcl.parse_file(filename)
    except _hcl.Diagnostics as exc:
        diags.extend(exc)
        return
    for block in body.blocks:
        if block.type == "variable":
            diags.error("Variable declaration in a .pkrvar file",
                        "A .pkrvars file sets values only; declare variables in a .pkr.hcl file.", block.pos)
        else:
            diags.error("Unexpected block in a variable file",
                        f'Blocks of type "{block.type}" are not allowed in a .pkrvars file; '
                        "write name = value lines.", block.pos)
    literal_ctx = _hcl.make_context({}, {}, root)
    for name, attr in body.attributes.items():
        if name not in variables:
            diags.warning("Undefined variable",
                          f'A "{name}" variable was set but was not declared in the template; '
                          "it is ignored. Declare it or remove the line.", attr.pos)
            continue
        value = evaluate(attr.expr, literal_ctx, diags)
        if value is not None:
            _assign_from_file(variables, name, value, attr.pos, filename, diags)


def _assign_from_file(variables: Mapping[str, Variable], name: str, value: V.Value, pos: SourcePos,
                      filename: str, diags: Diagnostics) -> None:
    var = variables.get(name)
    if var is None:
        diags.warning("Undefined variable", f'A "{name}" variable was set in {filename} but was not '
                      "declared in the template; it is ignored.", pos)
        return
    converted = convert(value, var, pos, filename, diags)
    if converted is not None:
        var.give("varfile", converted, filename)


def convert(value: V.Value, var: Variable, pos: SourcePos | None, where: str, diags: Diagnostics) -> V.Value | None:
    """``value`` converted to the variable's type, or None after reporting why it does not fit."""
    if var.type is None or value.is_null:
        return value
    try:
        if var.type_defaults is not None:
            value = var.type_defaults.apply(value)
        return V.convert(value, var.type)
    except V.EvalError as exc:
        diags.error("Invalid value for variable",
                    f'The value for "{var.name}" from {where} is not compatible with the variable\'s type '
                    f"constraint {var.type.expr()}: {exc}", pos)
        return None


def validate_variables(variables: Mapping[str, Variable], functions: Mapping[str, _hcl.Function], root: str,
                       diags: Diagnostics) -> None:
    """Run each variable's validation blocks on its value."""
    for var in variables.values():
        value = var.value
        if value is None:
            continue
        for block in var.validations:
            content = decode_body(block.body.attributes, block.body.blocks, VALIDATION_SCHEMA, diags, block.pos)
            condition = content.attributes.get("condition")
            message = content.attributes.get("error_message")
            if condition is None or message is None:
                continue
            refs = condition.expr.references()
            if not any(tuple(r[:2]) == ("var", var.name) for r in refs):
                diags.error("Invalid variable validation condition",
                            f"The condition must refer to var.{var.name} in order to test the value.",
                            condition.pos)
                continue
            others = [r for r in refs if tuple(r[:2]) != ("var", var.name)
                      and r[0] in ("var", "local", "data", "source", "build", "path", "packer")]
            if others:
                diags.error("Invalid reference in variable validation",
                            f"The condition for variable \"{var.name}\" can only refer to the variable "
                            f"itself, using var.{var.name}.", condition.pos)
                continue
            ctx = _hcl.make_context({"var": V.object_value({var.name: value})}, functions, root)
            message_value = evaluate(message.expr, _hcl.make_context({}, functions, root), diags)
            text = ""
            if message_value is not None and message_value.type == V.STRING and message_value.is_known:
                text = message_value.as_str()
                if not _looks_like_sentence(text):
                    diags.error("Invalid validation error message",
                                "The validation error message must be at least one full sentence "
                                "starting with an uppercase letter and ending with a period or "
                                "question mark.", message.pos)
                    continue
            result = evaluate(condition.expr, ctx, diags)
            if result is None or not result.is_known:
                continue
            try:
                ok = V.convert(result, V.BOOL).as_bool()
            except V.EvalError:
                diags.error("Invalid validation result", "The condition must produce true or false.",
                            condition.pos)
                continue
            if not ok:
                diags.error(f"Invalid value for {var.value_source} variable",
                            f"{text}\n\nThis was checked by the validation rule at {condition.pos}.", var.pos)


def mark_sensitive(variables: Mapping[str, Variable]) -> None:
    """Mark values before locals use them, so that what derives from a secret stays marked."""
    for var in variables.values():
        if var.sensitive:
            var.marked = True


def _infer_type(default: V.Value) -> V.Type | None:
    """The type of an untyped variable is its default's, except empty collections."""
    t = default.type
    if t.is_primitive:
        return t
    return None


def _looks_like_sentence(text: str) -> bool:
    stripped = text.strip()
    if not stripped:
        return False
    first = stripped[0]
    if first.isalpha() and not first.isupper():
        return False
    return stripped[-1] in ".?!"
