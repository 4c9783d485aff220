"""Load a template (a file or a directory) into a :class:`~bakehouse.template.plan.Template`.

The order follows Packer 1.16:

1. parse every ``*.pkr.hcl`` file (and ``*.auto.pkrvars.hcl`` when the target is
   a directory) and check the top-level block structure;
2. ``packer {}``: ``required_version`` and ``required_plugins``;
3. variables: declarations, then values by precedence (default < ``PKR_VAR_*`` <
   auto var files < each ``-var-file`` in order < ``-var``), conversion to the
   declared type, "Unset variable", validation blocks;
4. locals and data sources in dependency order (a cycle is named);
5. sensitive values collected for redaction;
6. ``source`` and ``build`` blocks decoded into one :class:`BuildPlan` per
   source use, with ``dynamic`` blocks expanded.

Every problem is collected as a :class:`Diagnostic` with a position; the loader
raises :class:`Diagnostics` at the end when there is at least one error.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
from bakehouse.hcl.limits import MAX_TEMPLATE_BYTES, read_regular_file
from bakehouse.hcl.schema import AttributeSpec, BlockSpec, BodySchema, check_labels, decode_body
from bakehouse.sdk.components import BUILDER_META, POST_PROCESSOR_META, PROVISIONER_META
from bakehouse.template import _hcl
from bakehouse.template._hcl import V
from bakehouse.template.legacy_json import convert_json_template, is_legacy_json
from bakehouse.template.plan import BuildPlan, ComponentSpec, Template

#: Packer version this implementation follows; ``packer.version`` and
#: ``required_version`` use it so that Packer templates keep working.
PACKER_COMPAT_VERSION = "1.16.0"

DatasourceRunner = Callable[[str, dict[str, Any], SourcePos], dict[str, Any]]

TOP_LEVEL_SCHEMA = BodySchema(
    blocks=(BlockSpec("packer"), BlockSpec("variable", ("name",)), BlockSpec("variables"), BlockSpec("locals"),
            BlockSpec("local", ("name",)), BlockSpec("data", ("type", "name")),
            BlockSpec("source", ("type", "name")), BlockSpec("build"), BlockSpec("hcp_packer_registry")),
    attribute_hint="Put it inside a block (variable, locals, source, build).")
PACKER_SCHEMA = BodySchema(attributes=(AttributeSpec("required_version"),), blocks=(BlockSpec("required_plugins"),))
REQUIRED_PLUGINS_SCHEMA = BodySchema(any_attributes=True)
VARIABLE_SCHEMA = BodySchema(
    attributes=(AttributeSpec("type"), AttributeSpec("default"), AttributeSpec("description"),
                AttributeSpec("sensitive")),
    blocks=(BlockSpec("validation"),))
VALIDATION_SCHEMA = BodySchema(attributes=(AttributeSpec("condition", required=True),
                                           AttributeSpec("error_message", required=True)))
VARIABLES_SCHEMA = BodySchema(any_attributes=True, block_hint="Write name = value lines.")
LOCALS_SCHEMA = BodySchema(any_attributes=True, block_hint="Write name = expression lines.")
LOCAL_SCHEMA = BodySchema(attributes=(AttributeSpec("expression", required=True), AttributeSpec("sensitive")))
BUILD_SCHEMA = BodySchema(
    attributes=(AttributeSpec("name"), AttributeSpec("description"), AttributeSpec("sources")),
    blocks=(BlockSpec("source", ("type.name",)), BlockSpec("provisioner", ("type",)),
            BlockSpec("error-cleanup-provisioner", ("type",), unique=True,
                      duplicate_summary="Only one error-cleanup-provisioner is allowed"),
            BlockSpec("post-processor", ("type",)), BlockSpec("post-processors"),
            BlockSpec("hcp_packer_registry")))
POST_PROCESSORS_SCHEMA = BodySchema(blocks=(BlockSpec("post-processor", ("type",)),))
DYNAMIC_BLOCK = BlockSpec("dynamic", ("type",))
DYNAMIC_SCHEMA = BodySchema(
    attributes=(AttributeSpec("for_each", required=True), AttributeSpec("iterator"), AttributeSpec("labels")),
    blocks=(BlockSpec("content", required=True, unique=True),))
BUILD_GENERATED_KEYS = ("ID", "Host", "Port", "User", "Password", "ConnType", "PackerRunUUID",
                        "PackerHTTPPort", "PackerHTTPIP", "PackerHTTPAddr", "SSHPublicKey",
                        "SSHPrivateKey", "WinRMPassword")
UNKNOWN_TEXT = "<unknown>"


# --------------------------------------------------------------------------- model


@dataclass
class Variable:
    """One declared input variable and where its value came from."""

    name: str
    pos: SourcePos
    type: Any = None  #: V.Type, or None when untyped
    type_defaults: Any = None
    declared_type: bool = False
    default: Any = None  #: V.Value or None when absent
    description: str = ""
    sensitive: bool = False
    validations: list[Any] = field(default_factory=list)  #: Block
    value: Any = None  #: final V.Value
    value_source: str = "default"
    broken: bool = False  #: its default failed to evaluate (already reported)


@dataclass
class Scoped:
    """A block together with extra evaluation variables (a ``dynamic`` iterator)."""

    block: Any  #: _hcl.Block
    extras: dict[str, Any] = field(default_factory=dict)

    # The block's shape, so that a body schema checks scoped blocks like parsed ones.
    @property
    def type(self) -> str:
        return str(self.block.type)

    @property
    def labels(self) -> list[str]:
        return list(self.block.labels)

    @property
    def body(self) -> _hcl.Body:
        body: _hcl.Body = self.block.body
        return body

    @property
    def pos(self) -> SourcePos:
        pos: SourcePos = self.block.pos
        return pos


@dataclass
class LoadedTemplate:
    """Everything the loader computed; commands like inspect and console use it."""

    template: Template
    variables: dict[str, Variable] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)  #: name -> V.Value
    local_sensitive: set[str] = field(default_factory=set)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)  #: type -> name -> V.Value
    context: Any = None  #: EvalContext with var/local/data/path/packer
    files: list[str] = field(default_factory=list)
    sources: dict[str, Scoped] = field(default_factory=dict)  #: "type.name" -> block
    build_blocks: list[Any] = field(default_factory=list)


# ----------------------------------------------------------------------- entry point


def load_template(
    path: str,
    *,
    variables: Sequence[tuple[str, str]] = (),
    var_files: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    datasource_runner: DatasourceRunner | None = None,
    syntax_only: bool = False,
) -> tuple[Template, Diagnostics]:
    """Load and evaluate a template; raise :class:`Diagnostics` if there are errors.

    Returns the template and the warnings.
    """
    loaded, diags = load(path, variables=variables, var_files=var_files, environ=environ,
                         datasource_runner=datasource_runner, syntax_only=syntax_only)
    if diags.has_errors:
        raise diags
    return loaded.template, diags


def load(
    path: str,
    *,
    variables: Sequence[tuple[str, str]] = (),
    var_files: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    datasource_runner: DatasourceRunner | None = None,
    syntax_only: bool = False,
    stop_on_error: bool = True,
) -> tuple[LoadedTemplate, Diagnostics]:
    """Like :func:`load_template` but never raises; returns everything computed.

    With ``stop_on_error=False`` evaluation goes on as far as it can (inspect and
    console show what they can even when a part of the template is broken).
    """
    loader = _Loader(path, list(variables), list(var_files), dict(os.environ if environ is None else environ),
                     datasource_runner)
    loader.run(syntax_only=syntax_only, stop_on_error=stop_on_error)
    return loader.loaded, loader.diags


def standalone_context(root: str = ".") -> Any:
    """The evaluation context without a template (console with no path)."""
    loader = _Loader(root, [], [], dict(os.environ), None)
    loader.root = root
    loader.functions = _hcl.all_functions()
    return loader._context()


# ---------------------------------------------------------------------------- loader


class _Loader:
    def __init__(self, path: str, cli_vars: list[tuple[str, str]], var_files: list[str],
                 environ: dict[str, str], datasource_runner: DatasourceRunner | None) -> None:
        self.path = path
        self.cli_vars = cli_vars
        self.var_files = var_files
        self.environ = environ
        self.datasource_runner = datasource_runner
        self.diags = Diagnostics()
        self.root = "."
        self.loaded = LoadedTemplate(template=Template(path=path, root="."))
        self.bodies: list[Any] = []  # (filename, Body)
        self.top_blocks: list[Any] = []  #: well-formed top-level blocks of every file, in order
        #: legacy JSON template path -> the HCL2 text it converts to
        self.converted: dict[str, str] = {}
        self.auto_var_files: list[str] = []
        self.functions: dict[str, Any] = {}
        self._static_cache: tuple[Any, dict[str, Any]] | None = None
        self._dynamic_cache: tuple[Any, dict[str, Any]] | None = None

    # ---------------------------------------------------------------- pipeline
    def run(self, *, syntax_only: bool, stop_on_error: bool) -> None:
        try:
            self._run(syntax_only=syntax_only, stop_on_error=stop_on_error)
        finally:
            if self.functions:
                self.loaded.context = self._context()

    def _run(self, *, syntax_only: bool, stop_on_error: bool) -> None:
        if not self._find_files():
            return
        self._parse_files()
        self.functions = _hcl.all_functions()
        if stop_on_error and self.diags.has_errors:
            return  # a file that does not parse would only cause follow-up errors
        self._read_packer_blocks()
        self._declare_variables()
        self._assign_variable_values(check_unset=not syntax_only)
        if syntax_only:
            return
        if stop_on_error and self.diags.has_errors:
            return
        self._validate_variables()
        self._mark_sensitive_variables()
        self._evaluate_locals_and_data()
        self._collect_sensitive()
        # Failed locals are unknown values from here on, so decoding the builds
        # still reports their own problems without follow-up noise.
        self._decode_sources()
        self._decode_builds()

    # ------------------------------------------------------------------- files
    def _find_files(self) -> bool:
        target = Path(self.path)
        if target.is_dir():
            self.root = _slash(self.path.rstrip("/") or "/")
            templates = sorted(p for p in target.iterdir() if p.name.endswith(".pkr.hcl") and p.is_file())
            self.auto_var_files = [str(p) for p in sorted(target.iterdir())
                                   if p.name.endswith(".auto.pkrvars.hcl") and p.is_file()]
            self.auto_var_files += [str(p) for p in sorted(target.iterdir())
                                    if p.name.endswith(".auto.pkrvars.json") and p.is_file()]
            if not templates:
                self.diags.error("No template files found",
                                 f"The directory {self.path} contains no *.pkr.hcl file. "
                                 "Point the command at a template file or a directory of them.")
                return False
            self.loaded.files = [str(p) for p in templates]
        elif target.is_file():
            self.root = _slash(os.path.dirname(self.path) or ".")
            if self.path.endswith(".pkr.json"):
                self.diags.error("HCL2 JSON syntax is not supported",
                                 f"{self.path} is in HCL2's JSON syntax; Bakehouse reads HCL2 native syntax "
                                 "(*.pkr.hcl) and legacy JSON templates (*.json).")
                return False
            if is_legacy_json(self.path):
                # Legacy JSON: read as the HCL2 it converts to (see legacy_json).
                try:
                    hcl_text = convert_json_template(self.path)
                except Diagnostics as exc:
                    self.diags.extend(exc)
                    return False
                self.converted[self.path] = hcl_text
            self.loaded.files = [self.path]
        else:
            self.diags.error("Template not found", f"There is no file or directory at {self.path}. "
                             "Check the path and try again.")
            return False
        self.loaded.template.root = self.root
        return True

    def _parse_files(self) -> None:
        for filename in self.loaded.files:
            try:
                if filename in self.converted:
                    body = _hcl.parse_text(self.converted[filename], f"{filename} (as HCL2)")
                    self.bodies.append((filename, body))
                    continue
                self.bodies.append((filename, _hcl.parse_file(filename)))
            except _hcl.Diagnostics as exc:
                self.diags.extend(exc)

    # -------------------------------------------------------------- top level
    def _blocks(self, block_type: str) -> list[Any]:
        return [block for block in self.top_blocks if block.type == block_type]

    def _read_packer_blocks(self) -> None:
        for _filename, body in self.bodies:
            self.top_blocks += decode_body(body.attributes, body.blocks, TOP_LEVEL_SCHEMA, self.diags).blocks
        empty = _hcl.make_context({}, {}, self.root)
        for block in self._blocks("packer"):
            content = decode_body(block.body.attributes, block.body.blocks, PACKER_SCHEMA, self.diags, block.pos)
            attr = content.attributes.get("required_version")
            if attr is not None:
                value = self._eval(attr.expr, empty)
                if value is not None and value.is_known and not value.is_null:
                    constraint = value.as_str() if value.type == V.STRING else str(V.to_python(value))
                    problem = _check_version_constraint(PACKER_COMPAT_VERSION, constraint)
                    if problem:
                        self.diags.error("Unsupported Packer version", problem, attr.pos)
            for nested in content.blocks:
                plugins = decode_body(nested.body.attributes, nested.body.blocks, REQUIRED_PLUGINS_SCHEMA,
                                      self.diags, nested.pos)
                for plugin_name, attr in plugins.attributes.items():
                    value = self._eval(attr.expr, empty)
                    if value is None:
                        continue
                    data = V.to_python(value, unknown_as=UNKNOWN_TEXT)
                    if not isinstance(data, dict):
                        self.diags.error("Invalid required_plugins entry",
                                         f'"{plugin_name}" must be an object like '
                                         '{ source = "github.com/org/name", version = ">= 1.0" }.', attr.pos)
                        continue
                    self.loaded.template.required_plugins[plugin_name] = {str(k): str(v) for k, v in data.items()}

    # -------------------------------------------------------------- variables
    def _declare_variables(self) -> None:
        variables = self.loaded.variables
        default_ctx = _hcl.default_value_context(self.environ, self.root)
        for block in self._blocks("variable"):
            name = block.labels[0]
            if not _is_identifier(name):
                self.diags.error("Invalid variable name", f'"{name}" is not a valid identifier: use letters, '
                                 "digits, underscores and dashes, starting with a letter.", block.pos)
                continue
            if name in variables:
                self.diags.error("Duplicate variable", f'A variable named "{name}" was already declared at '
                                 f"{variables[name].pos}. Remove or rename one of them.", block.pos)
                continue
            var = Variable(name=name, pos=block.pos)
            content = decode_body(block.body.attributes, block.body.blocks, VARIABLE_SCHEMA, self.diags, block.pos)
            for attr_name, attr in content.attributes.items():
                if attr_name == "type":
                    try:
                        var.type, var.type_defaults = _hcl.evaluate_type(attr.expr)
                        var.declared_type = True
                    except _hcl.Diagnostics as exc:
                        self.diags.extend(exc)
                elif attr_name == "default":
                    var.default = self._eval_default(name, attr, default_ctx)
                    if var.default is None:
                        var.broken = True
                elif attr_name == "description":
                    value = self._eval(attr.expr, _hcl.make_context({}, {}, self.root))
                    if value is not None and value.type == V.STRING and value.is_known and not value.is_null:
                        var.description = value.as_str()
                elif attr_name == "sensitive":
                    var.sensitive = self._eval_bool(attr.expr, _hcl.make_context({}, {}, self.root), False)
            var.validations = content.blocks
            if var.type is None and var.default is not None and not var.default.is_null:
                var.type = _infer_type(var.default)
            if var.default is not None and var.type is not None and var.declared_type and not var.default.is_null:
                converted = self._convert(var.default, var, block.body.attributes["default"].pos, "default")
                if converted is not None:
                    var.default = converted
            var.value = var.default
            variables[name] = var

        for block in self._blocks("variables"):
            content = decode_body(block.body.attributes, block.body.blocks, VARIABLES_SCHEMA, self.diags, block.pos)
            for name, attr in content.attributes.items():
                if name in variables:
                    self.diags.error("Duplicate variable", f'A variable named "{name}" was already declared at '
                                     f"{variables[name].pos}.", attr.pos)
                    continue
                default = self._eval_default(name, attr, default_ctx)
                var = Variable(name=name, pos=attr.pos, default=default, value=default, broken=default is None)
                if default is not None and not default.is_null:
                    var.type = _infer_type(default)
                variables[name] = var

    def _eval_default(self, name: str, attr: Any, ctx: Any) -> Any:
        """A default value: literal, or using env(); never other variables."""
        refs = attr.expr.references()
        if refs:
            self.diags.error("Variables not allowed",
                             f'The default value of "{name}" refers to {".".join(refs[0])}; a default can only be '
                             "a literal value or use env(). Move the expression to a local.", attr.expr.pos)
            return None
        return self._eval(attr.expr, ctx)

    def _assign_variable_values(self, *, check_unset: bool) -> None:
        variables = self.loaded.variables
        # 2. PKR_VAR_<name> from the environment (undeclared names are ignored)
        for key, text in self.environ.items():
            if key.startswith("PKR_VAR_") and key[len("PKR_VAR_"):] in variables:
                var = variables[key[len("PKR_VAR_"):]]
                value = self._parse_raw_value(var, text, f"environment variable {key}")
                if value is not None:
                    var.value, var.value_source = value, "env"
        # 3 and 4. auto var files (directory targets only), then each -var-file in order
        for filename in self.auto_var_files + list(self.var_files):
            self._apply_var_file(filename)
        # 5. -var beats every var file whatever the order; last one per name wins
        cli: dict[str, str] = {}
        for name, text in self.cli_vars:
            cli[name] = text
        for name, text in cli.items():
            declared = variables.get(name)
            if declared is None:
                self.diags.error("Undefined -var variable",
                                 f'A "{name}" variable was passed with -var but is not declared in the template. '
                                 f'Declare it with variable "{name}" {{}} or fix the name.')
                continue
            value = self._parse_raw_value(declared, text, f"-var {name}")
            if value is not None:
                declared.value, declared.value_source = value, "cmd"
        if not check_unset:
            return
        for var in variables.values():
            if var.value is None and not var.broken:
                self.diags.error(f'Unset variable "{var.name}"',
                                 "A used variable must be set or have a default value. Set it with "
                                 f"-var {var.name}=..., a var file or PKR_VAR_{var.name}, or give it a default.",
                                 var.pos)

    def _parse_raw_value(self, var: Variable, text: str, where: str) -> Any:
        """A value from the environment or -var: literal for string/number/untyped, else HCL."""
        literal = var.type is None or var.type in (V.STRING, V.NUMBER, V.DYNAMIC) or not var.declared_type
        if literal:
            value = V.string(text)
        else:
            try:
                expr = _hcl.parse_expression(text, filename=f"<value for {where}>")
                value = _hcl.evaluate(expr, _hcl.make_context({}, {}, self.root))
            except _hcl.Diagnostics as exc:
                self.diags.error("Invalid value for variable",
                                 f'The value given for "{var.name}" by {where} is not a valid HCL expression: '
                                 + "; ".join(d.summary for d in exc.items), var.pos)
                return None
        return self._convert(value, var, var.pos, where)

    def _apply_var_file(self, filename: str) -> None:
        variables = self.loaded.variables
        if filename.endswith(".json"):
            try:
                data = json.loads(read_regular_file(filename, MAX_TEMPLATE_BYTES, "a variable file").decode("utf-8"))
            except (OSError, ValueError) as exc:
                self.diags.error("Cannot read variable file", f"{filename}: {exc}")
                return
            if not isinstance(data, dict):
                self.diags.error("Invalid variable file", f"{filename} must hold a JSON object of variable values.")
                return
            for name, raw in data.items():
                pos = SourcePos(filename, 1, 1)
                self._assign_from_file(name, V.from_python(raw), pos, filename)
            return
        if not filename.endswith(".hcl"):
            self.diags.error("Could not guess format of variable file",
                             f"Could not guess format of {filename}: variable files must end in .hcl or .json.")
            return
        if not os.path.isfile(filename):
            self.diags.error("Variable file not found", f"There is no file at {filename}.")
            return
        try:
            body = _hcl.parse_file(filename)
        except _hcl.Diagnostics as exc:
            self.diags.extend(exc)
            return
        for block in body.blocks:
            if block.type == "variable":
                self.diags.error("Variable declaration in a .pkrvar file",
                                 "A .pkrvars file sets values only; declare variables in a .pkr.hcl file.", block.pos)
            else:
                self.diags.error("Unexpected block in a variable file",
                                 f'Blocks of type "{block.type}" are not allowed in a .pkrvars file; '
                                 "write name = value lines.", block.pos)
        literal_ctx = _hcl.make_context({}, {}, self.root)
        for name, attr in body.attributes.items():
            if name not in variables:
                self.diags.warning("Undefined variable",
                                   f'A "{name}" variable was set but was not declared in the template; '
                                   "it is ignored. Declare it or remove the line.", attr.pos)
                continue
            value = self._eval(attr.expr, literal_ctx)
            if value is not None:
                self._assign_from_file(name, value, attr.pos, filename)

    def _assign_from_file(self, name: str, value: Any, pos: SourcePos, filename: str) -> None:
        var = self.loaded.variables.get(name)
        if var is None:
            self.diags.warning("Undefined variable", f'A "{name}" variable was set in {filename} but was not '
                               "declared in the template; it is ignored.", pos)
            return
        converted = self._convert(value, var, pos, filename)
        if converted is not None:
            var.value, var.value_source = converted, "varfile"

    def _convert(self, value: Any, var: Variable, pos: SourcePos | None, where: str) -> Any:
        if var.type is None or value.is_null:
            return value
        try:
            if var.type_defaults is not None:
                value = _apply_type_defaults(value, var.type_defaults)
            return V.convert(value, var.type)
        except V.EvalError as exc:
            self.diags.error("Invalid value for variable",
                             f'The value for "{var.name}" from {where} is not compatible with the variable\'s type '
                             f"constraint {var.type.expr()}: {exc}", pos)
            return None

    def _validate_variables(self) -> None:
        for var in self.loaded.variables.values():
            if var.value is None:
                continue
            for block in var.validations:
                content = decode_body(block.body.attributes, block.body.blocks, VALIDATION_SCHEMA, self.diags,
                                      block.pos)
                condition = content.attributes.get("condition")
                message = content.attributes.get("error_message")
                if condition is None or message is None:
                    continue
                refs = condition.expr.references()
                if not any(tuple(r[:2]) == ("var", var.name) for r in refs):
                    self.diags.error("Invalid variable validation condition",
                                     f"The condition must refer to var.{var.name} in order to test the value.",
                                     condition.pos)
                    continue
                others = [r for r in refs if tuple(r[:2]) != ("var", var.name)
                          and r[0] in ("var", "local", "data", "source", "build", "path", "packer")]
                if others:
                    self.diags.error("Invalid reference in variable validation",
                                     f"The condition for variable \"{var.name}\" can only refer to the variable "
                                     f"itself, using var.{var.name}.", condition.pos)
                    continue
                ctx = _hcl.make_context({"var": V.object_value({var.name: var.value})}, self.functions, self.root)
                message_value = self._eval(message.expr, _hcl.make_context({}, self.functions, self.root))
                text = ""
                if message_value is not None and message_value.type == V.STRING and message_value.is_known:
                    text = message_value.as_str()
                    if not _looks_like_sentence(text):
                        self.diags.error("Invalid validation error message",
                                         "The validation error message must be at least one full sentence "
                                         "starting with an uppercase letter and ending with a period or "
                                         "question mark.", message.pos)
                        continue
                result = self._eval(condition.expr, ctx)
                if result is None or not result.is_known:
                    continue
                try:
                    ok = V.convert(result, V.BOOL).as_bool()
                except V.EvalError:
                    self.diags.error("Invalid validation result", "The condition must produce true or false.",
                                     condition.pos)
                    continue
                if not ok:
                    source_names = {"default": "default", "env": "env", "varfile": "varfile", "cmd": "cmd"}
                    self.diags.error(f"Invalid value for {source_names.get(var.value_source, 'default')} variable",
                                     f"{text}\n\nThis was checked by the validation rule at {condition.pos}.",
                                     var.pos)

    # ------------------------------------------------------- locals and data
    def _static_variables(self) -> dict[str, Any]:
        """``var``, ``path`` and ``packer``, built once (they do not change after the variables stage:
        :meth:`_mark_sensitive_variables`, the last stage that sets values, drops the cache)."""
        if self._static_cache is None:
            variables = {name: var.value if var.value is not None else V.unknown()
                         for name, var in self.loaded.variables.items()}
            self._static_cache = (None, {
                "var": V.object_value(variables),
                "path": V.object_value({"root": V.string(self.root), "cwd": V.string(_slash(os.getcwd()))}),
                "packer": V.object_value({"version": V.string(PACKER_COMPAT_VERSION)}),
            })
        return dict(self._static_cache[1])

    def _base_variables(self) -> dict[str, Any]:
        # Cached per state: a config thunk must not pay for rebuilding the objects
        # of every variable and local each time it runs.
        base = self._static_variables()
        state = (len(self.loaded.locals), sum(len(n) for n in self.loaded.data.values()))
        if self._dynamic_cache is None or self._dynamic_cache[0] != state:
            self._dynamic_cache = (state, {
                "local": V.object_value(dict(self.loaded.locals)),
                "data": V.object_value({t: V.object_value(n) for t, n in self.loaded.data.items()}),
            })
        base.update(self._dynamic_cache[1])
        return base

    def _context(self, extra: Mapping[str, Any] | None = None) -> Any:
        variables = self._base_variables()
        if extra:
            variables.update(extra)
        return _hcl.make_context(variables, self.functions, self.root)

    def _evaluate_locals_and_data(self) -> None:
        nodes: dict[str, tuple[str, Any, Any]] = {}  # key -> (kind, payload, pos)
        order: list[str] = []

        def add(key: str, kind: str, payload: Any, pos: SourcePos) -> None:
            if key in nodes:
                what = "local" if kind.startswith("local") else "data source"
                self.diags.error(f"Duplicate {what} definition", f"{key} was already defined at {nodes[key][2]}. "
                                 "Remove or rename one of them.", pos)
                return
            nodes[key] = (kind, payload, pos)
            order.append(key)

        for block in self._blocks("locals"):
            content = decode_body(block.body.attributes, block.body.blocks, LOCALS_SCHEMA, self.diags, block.pos)
            for name, attr in content.attributes.items():
                add(f"local.{name}", "local", attr, attr.pos)
        for block in self._blocks("local"):
            content = decode_body(block.body.attributes, block.body.blocks, LOCAL_SCHEMA, self.diags, block.pos)
            if "expression" not in content.attributes:
                continue
            add(f"local.{block.labels[0]}", "local-block", block, block.pos)
        for block in self._blocks("data"):
            add(f"data.{block.labels[0]}.{block.labels[1]}", "data", block, block.pos)

        dependency_cache: dict[str, list[str]] = {}

        def dependencies(key: str) -> list[str]:
            if key not in dependency_cache:
                dependency_cache[key] = find_dependencies(key)
            return dependency_cache[key]

        def find_dependencies(key: str) -> list[str]:
            kind, payload, _pos = nodes[key]
            if kind == "local":
                refs = payload.expr.references()
            elif kind == "local-block":
                refs = payload.body.attributes["expression"].expr.references()
            else:
                refs = _body_references(payload.body)
            deps = []
            for ref in refs:
                if ref[0] == "local" and len(ref) >= 2:
                    dep = f"local.{ref[1]}"
                elif ref[0] == "data" and len(ref) >= 3:
                    dep = f"data.{ref[1]}.{ref[2]}"
                else:
                    continue
                if dep in nodes and dep not in deps:
                    deps.append(dep)
            return deps

        done: set[str] = set()
        in_cycle: set[str] = set()
        for start in order:
            self._visit(start, nodes, dependencies, done, in_cycle)

    def _visit(self, start: str, nodes: dict[str, tuple[str, Any, Any]],
               dependencies: Callable[[str], list[str]], done: set[str], in_cycle: set[str]) -> None:
        """Evaluate ``start`` after its dependencies (iterative DFS: chains can be long)."""
        if start in done:
            return
        stack: list[str] = [start]
        pending: list[list[str]] = [list(reversed(dependencies(start)))]
        while stack:
            deps = pending[-1]
            if deps:
                dep = deps.pop()
                if dep in done:
                    continue
                if dep in stack:
                    self._report_cycle(stack[stack.index(dep):] + [dep], nodes, in_cycle)
                    continue
                stack.append(dep)
                pending.append(list(reversed(dependencies(dep))))
                continue
            key = stack.pop()
            pending.pop()
            done.add(key)
            self._evaluate_node(key, nodes[key], dependencies(key), failed=key in in_cycle)

    def _report_cycle(self, cycle: list[str], nodes: dict[str, tuple[str, Any, Any]], in_cycle: set[str]) -> None:
        if in_cycle.intersection(cycle):
            in_cycle.update(cycle)
            return
        in_cycle.update(cycle)
        first = cycle[0]
        if len(cycle) == 2:
            summary, detail = f"Self reference: {first}", f"{first} refers to itself."
        else:
            summary = "Cycle: " + " -> ".join(cycle)
            detail = ("These locals/data sources refer to each other in a loop, so none of them can be "
                      "evaluated. Break the loop.")
        self.diags.error(summary, detail, nodes[first][2])

    def _dependency_context(self, deps: list[str]) -> Any:
        """A context whose ``local`` and ``data`` hold only what a node refers to.

        Rebuilding the full objects for every node would make loading quadratic
        in the number of locals.
        """
        local_values: dict[str, Any] = {}
        data_values: dict[str, dict[str, Any]] = {}
        for dep in deps:
            parts = dep.split(".")
            if parts[0] == "local":
                local_values[parts[1]] = self.loaded.locals.get(parts[1], V.unknown())
            else:
                data_values.setdefault(parts[1], {})[parts[2]] = self.loaded.data.get(parts[1], {}).get(
                    parts[2], V.unknown())
        variables = self._static_variables()
        variables["local"] = V.object_value(local_values)
        variables["data"] = V.object_value({t: V.object_value(n) for t, n in data_values.items()})
        return _hcl.make_context(variables, self.functions, self.root)

    def _evaluate_node(self, key: str, node: tuple[str, Any, Any], deps: list[str], failed: bool) -> None:
        kind, payload, pos = node
        ctx = self._dependency_context(deps)
        if kind in ("local", "local-block"):
            name = key.split(".", 1)[1]
            value = None
            if not failed:
                expr = payload.expr if kind == "local" else payload.body.attributes["expression"].expr
                value = self._eval(expr, ctx)
            if kind == "local-block":
                sensitive_attr = payload.body.attributes.get("sensitive")
                if sensitive_attr is not None and self._eval_bool(sensitive_attr.expr, ctx, False):
                    self.loaded.local_sensitive.add(name)
                    if value is not None:
                        value = value.with_sensitive(True)
            self.loaded.locals[name] = value if value is not None else V.unknown()
            return
        _, type_name, name = key.split(".", 2)
        outputs = V.unknown()
        if not failed:
            positions: dict[str, SourcePos] = {}
            config = self._decode_config([Scoped(payload)], ctx, frozenset(), positions)
            if config is not None and self.datasource_runner is not None:
                try:
                    result = self.datasource_runner(type_name, config, pos)
                    outputs = V.from_python(result)
                except _hcl.Diagnostics as exc:
                    self.diags.extend(exc)
                except Exception as exc:  # the runner reports plugin problems as exceptions
                    self.diags.error(f"Data source {type_name}.{name} failed", str(exc), pos)
        self.loaded.data.setdefault(type_name, {})[name] = outputs

    # -------------------------------------------------------------- sensitive
    def _collect_sensitive(self) -> None:
        template = self.loaded.template
        values: list[Any] = []
        for var in self.loaded.variables.values():
            if var.sensitive:
                template.sensitive_names.append(f"var.{var.name}")
                if var.value is not None:
                    values.append(var.value)
        for name in sorted(self.loaded.local_sensitive):
            template.sensitive_names.append(f"local.{name}")
            values.append(self.loaded.locals[name])
        for value in values:
            for text in _string_leaves(value):
                _add_secret(template.sensitive_values, text)

    def _mark_sensitive_variables(self) -> None:
        """Mark values before locals use them, so that what derives from a secret stays marked."""
        for var in self.loaded.variables.values():
            if var.sensitive and var.value is not None:
                var.value = var.value.with_sensitive(True)
        self._static_cache = None

    # ---------------------------------------------------------------- sources
    def _decode_sources(self) -> None:
        for block in self._blocks("source"):
            key = f"{block.labels[0]}.{block.labels[1]}"
            if key in self.loaded.sources:
                self.diags.error("Duplicate source", f"source.{key} was already defined at "
                                 f"{self.loaded.sources[key].block.pos}. Rename one of them.", block.pos)
                continue
            self.loaded.sources[key] = Scoped(block)

    # ----------------------------------------------------------------- builds
    def _decode_builds(self) -> None:
        ctx = self._context()
        for block in self._blocks("build"):
            self.loaded.build_blocks.append(block)
            self._decode_build(block, ctx)

    def _decode_build(self, block: Any, ctx: Any) -> None:
        build_name = ""
        source_refs: list[tuple[str, SourcePos]] = []
        content = decode_body(block.body.attributes, self._expand(block.body, ctx, {}), BUILD_SCHEMA, self.diags,
                              block.pos)
        for name, attr in content.attributes.items():
            if name == "name":
                value = self._eval(attr.expr, ctx)
                if value is not None and value.is_known and not value.is_null:
                    build_name = _as_text(value)
            elif name == "description":
                self._eval(attr.expr, ctx)
            elif name == "sources":
                value = self._eval(attr.expr, ctx)
                if value is None:
                    continue
                try:
                    items = V.to_python(value)
                except V.EvalError as exc:
                    self.diags.error("Invalid sources", str(exc), attr.pos)
                    continue
                if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                    self.diags.error("Invalid sources", 'sources must be a list of strings like "docker.base".',
                                     attr.pos)
                    continue
                source_refs.extend((item, attr.pos) for item in items)

        uses: list[tuple[str, str, list[Scoped], SourcePos]] = []  # (type, effective name, bodies, pos)
        for ref, pos in source_refs:
            key = self._source_key(ref, pos)
            if key is None:
                continue
            source_type, source_name = key.split(".", 1)
            uses.append((source_type, source_name, [self.loaded.sources[key]], pos))

        provisioner_blocks: list[Scoped] = []
        cleanup_blocks: list[Scoped] = []
        post_processor_chains: list[list[Scoped]] = []
        for scoped in content.blocks:
            nested = scoped.block
            if nested.type == "source":
                use = self._source_override(scoped, ctx)
                if use is not None:
                    uses.append(use)
            elif nested.type == "provisioner":
                provisioner_blocks.append(scoped)
            elif nested.type == "error-cleanup-provisioner":
                cleanup_blocks.append(scoped)
            elif nested.type == "post-processor":
                post_processor_chains.append([scoped])
            elif nested.type == "post-processors":
                chain = decode_body(nested.body.attributes, self._expand(nested.body, ctx, scoped.extras),
                                    POST_PROCESSORS_SCHEMA, self.diags, nested.pos).blocks
                if chain:
                    post_processor_chains.append(chain)
            elif nested.type == "hcp_packer_registry":
                self.diags.warning("HCP Packer registry is not supported",
                                   "The hcp_packer_registry block is ignored by Bakehouse.", nested.pos)
        if not uses:
            if not source_refs:
                self.diags.error("Missing sources", "A build block needs at least one source: set "
                                 'sources = ["type.name"] or add a source "type.name" {} block.', block.pos)
            return

        seen: set[str] = set()
        for source_type, source_name, bodies, pos in uses:
            full = f"{build_name}.{source_type}.{source_name}" if build_name else f"{source_type}.{source_name}"
            if full in seen:
                self.diags.error("Duplicate build", f"The build {full} is defined twice in this build block. "
                                 'Give one of them another name with source "..." { name = "other" }.', pos)
                continue
            seen.add(full)
            self._make_build_plan(full, build_name, source_type, source_name, bodies, provisioner_blocks,
                                  cleanup_blocks[:1], post_processor_chains, pos)

    def _source_key(self, ref: str, pos: SourcePos) -> str | None:
        parts = ref.split(".")
        if len(parts) == 3 and parts[0] == "source":
            parts = parts[1:]
        if len(parts) != 2 or not all(_is_identifier(p) for p in parts):
            self.diags.error("Invalid source reference", f'"{ref}" is not a source reference: write "type.name" '
                             'or "source.type.name".', pos)
            return None
        key = ".".join(parts)
        if key not in self.loaded.sources:
            known = ", ".join(sorted(self.loaded.sources)) or "none"
            self.diags.error("Unknown source", f'There is no source "{key}" (defined sources: {known}). Declare it '
                             f'with source "{parts[0]}" "{parts[1]}" {{ ... }}.', pos)
            return None
        return key

    def _source_override(self, scoped: Scoped, ctx: Any) -> tuple[str, str, list[Scoped], SourcePos] | None:
        block = scoped.block
        key = self._source_key(block.labels[0], block.pos)
        if key is None:
            return None
        base = self.loaded.sources[key]
        source_type, source_name = key.split(".", 1)
        name_attr = block.body.attributes.get("name")
        if name_attr is not None:
            value = self._eval(name_attr.expr, ctx.child(scoped.extras) if scoped.extras else ctx)
            if value is not None and value.is_known and not value.is_null:
                source_name = _as_text(value)
        for attr_name, attr in block.body.attributes.items():
            if attr_name != "name" and attr_name in base.block.body.attributes:
                original = base.block.body.attributes[attr_name]
                self.diags.error("Duplicate argument", f'The argument "{attr_name}" was already set at '
                                 f"{original.pos}; a source block inside a build can only add arguments, not "
                                 "redefine them.", attr.pos)
        return source_type, source_name, [base, scoped], block.pos

    def _make_build_plan(self, full: str, build_name: str, source_type: str, source_name: str,
                         bodies: list[Scoped], provisioners: list[Scoped], cleanup: list[Scoped],
                         chains: list[list[Scoped]], pos: SourcePos) -> None:
        source_value = V.object_value({"type": V.string(source_type), "name": V.string(source_name)})
        source_ref = f"{source_type}.{source_name}"

        # The source block is where a builder configuration problem is best shown.
        builder = self._component("builder", source_type, bodies, source_value, build_name, BUILDER_META,
                                  bodies[0].block.pos)
        builder.name = source_name
        plan = BuildPlan(name=full, build_block_name=build_name, source_type=source_type,
                         source_name=source_name, builder=builder,
                         build_block_index=len(self.loaded.build_blocks) - 1)
        for scoped in provisioners:
            spec = self._provisioner(scoped, source_value, build_name)
            if spec is not None and _selected(spec, source_ref):
                plan.provisioners.append(spec)
        for scoped in cleanup:
            spec = self._provisioner(scoped, source_value, build_name)
            if spec is not None and _selected(spec, source_ref):
                plan.error_cleanup_provisioner = spec
        for chain in chains:
            specs = []
            for scoped in chain:
                spec = self._post_processor(scoped, source_value, build_name)
                if spec is not None and _selected(spec, source_ref):
                    specs.append(spec)
            if specs:
                plan.post_processor_chains.append(specs)
        self.loaded.template.builds.append(plan)

    # ------------------------------------------------------------- components
    def _component(self, kind: str, type_name: str, bodies: list[Scoped], source_value: Any, build_name: str,
                   skip: frozenset[str], pos: SourcePos, override: dict[str, Any] | None = None) -> ComponentSpec:
        positions: dict[str, SourcePos] = {}
        # Builders generate names of their own (build.SourceAMI...): every build.X the
        # block refers to is "<unknown>" until the builder provides it.
        referenced = sorted({ref[1] for scoped in bodies for ref in _body_references(scoped.block.body)
                             if ref[0] == "build" and len(ref) > 1})

        def config(generated: dict[str, Any] | None) -> dict[str, Any]:
            # The orchestrator calls this from build threads: decode with a private
            # diagnostics list so that concurrent calls never share state.
            decoder = copy.copy(self)
            decoder.diags = Diagnostics()
            ctx = decoder._context({"source": source_value,
                                    "build": _build_value(build_name, generated, referenced)})
            local_positions: dict[str, SourcePos] = {}
            result = decoder._decode_config(bodies, ctx, skip, local_positions)
            if result is None or decoder.diags.has_errors:
                raise decoder.diags
            if override:
                result.update(override)
            positions.update(local_positions)
            return result

        spec = ComponentSpec(kind=kind, type=type_name, config=config, pos=pos, positions=positions)
        # Decode once now so that evaluation errors are reported at load time, like Packer.
        try:
            config(None)
        except Diagnostics as exc:
            self.diags.extend(exc)
        return spec

    def _provisioner(self, scoped: Scoped, source_value: Any, build_name: str) -> ComponentSpec | None:
        block = scoped.block
        ctx = self._context({"source": source_value, "build": _build_value(build_name, None), **scoped.extras})
        attrs = block.body.attributes
        meta = self._meta({k: v for k, v in attrs.items() if k in PROVISIONER_META}, ctx)
        override: dict[str, Any] | None = None
        raw_override = meta.get("override")
        if isinstance(raw_override, dict):
            source_name = V.to_python(source_value)["name"]
            source_ref = f"{V.to_python(source_value)['type']}.{source_name}"
            for key in (source_name, source_ref):
                if isinstance(raw_override.get(key), dict):
                    override = raw_override[key]
                    break
        spec = self._component("provisioner", block.labels[0], [scoped], source_value, build_name,
                               PROVISIONER_META, block.pos, override)
        self._apply_meta(spec, meta, attrs)
        return spec

    def _post_processor(self, scoped: Scoped, source_value: Any, build_name: str) -> ComponentSpec | None:
        block = scoped.block
        ctx = self._context({"source": source_value, "build": _build_value(build_name, None), **scoped.extras})
        attrs = block.body.attributes
        meta = self._meta({k: v for k, v in attrs.items() if k in POST_PROCESSOR_META}, ctx)
        spec = self._component("post-processor", block.labels[0], [scoped], source_value, build_name,
                               POST_PROCESSOR_META, block.pos)
        self._apply_meta(spec, meta, attrs)
        if "keep_input_artifact" in meta:
            spec.keep_input_artifact = bool(meta["keep_input_artifact"])
        return spec

    def _meta(self, attrs: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        for name, attr in attrs.items():
            value = self._eval(attr.expr, ctx)
            if value is None:
                continue
            meta[name] = V.to_python(value, unknown_as=UNKNOWN_TEXT)
        return meta

    def _apply_meta(self, spec: ComponentSpec, meta: dict[str, Any], attrs: Mapping[str, Any]) -> None:
        from bakehouse.sdk.problems import parse_duration

        if "name" in meta:
            spec.name = str(meta["name"])
        for key, field_name in (("only", "only"), ("except", "except_")):
            if key in meta:
                items = meta[key]
                if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                    self.diags.error(f"Invalid {key}", f'{key} must be a list of source names like "docker.base".',
                                     attrs[key].pos)
                    continue
                setattr(spec, field_name, list(items))
        if "only" in meta and "except" in meta:
            self.diags.error("Only one of only and except", "A component can have only or except, not both.",
                             attrs["except"].pos)
        for key in ("pause_before", "timeout"):
            if key in meta:
                try:
                    setattr(spec, key, parse_duration(meta[key]))
                except (ValueError, TypeError) as exc:
                    self.diags.error(f"Invalid {key}", str(exc), attrs[key].pos)
        if "max_retries" in meta:
            try:
                spec.max_retries = int(meta["max_retries"])
            except (ValueError, TypeError):
                self.diags.error("Invalid max_retries", "max_retries must be a whole number.",
                                 attrs["max_retries"].pos)
        if "continue_on_error" in meta:
            spec.continue_on_error = bool(meta["continue_on_error"])

    def _decode_config(self, bodies: list[Scoped], ctx: Any, skip: frozenset[str],
                       positions: dict[str, SourcePos], prefix: str = "") -> dict[str, Any] | None:
        """Evaluate block bodies into plain data: attributes, and nested blocks as lists of objects."""
        result: dict[str, Any] = {}
        ok = True
        for scoped in bodies:
            body_ctx = ctx.child(scoped.extras) if scoped.extras else ctx
            body = scoped.block.body
            for name, attr in body.attributes.items():
                if not prefix and name in skip:
                    continue
                value = self._eval(attr.expr, body_ctx)
                if value is None:
                    ok = False
                    continue
                result[name] = V.to_python(value, unknown_as=UNKNOWN_TEXT)
                positions[prefix + name] = attr.pos
            for nested in self._expand(body, body_ctx, {}):
                items = result.setdefault(nested.block.type, [])
                if not isinstance(items, list):
                    self.diags.error("Duplicate argument", f'"{nested.block.type}" is set both as an argument '
                                     "and as a block.", nested.block.pos)
                    ok = False
                    continue
                index = len(items)
                path = f"{prefix}{nested.block.type}.{index}"
                positions[path] = nested.block.pos
                inner = self._decode_config([nested], body_ctx, skip, positions, path + ".")
                if inner is None:
                    ok = False
                    continue
                items.append(inner)
        return result if ok else None

    def _expand(self, body: Any, ctx: Any, extras: dict[str, Any]) -> list[Scoped]:
        """The body's blocks with ``dynamic`` blocks expanded, in order."""
        out: list[Scoped] = []
        block_ctx = ctx.child(extras) if extras else ctx
        for block in body.blocks:
            if block.type != "dynamic":
                out.append(Scoped(block, dict(extras)))
                continue
            out.extend(self._expand_dynamic(block, block_ctx, extras))
        return out

    def _expand_dynamic(self, block: Any, ctx: Any, extras: dict[str, Any]) -> list[Scoped]:
        if not check_labels(block, DYNAMIC_BLOCK, self.diags):
            return []
        target = block.labels[0]
        content = decode_body(block.body.attributes, block.body.blocks, DYNAMIC_SCHEMA, self.diags, block.pos)
        attrs = content.attributes
        contents = content.of_type("content")
        if "for_each" not in attrs or not contents:
            return []
        iterator = target
        if "iterator" in attrs:
            refs = attrs["iterator"].expr.references()
            if len(refs) == 1 and len(refs[0]) == 1:
                iterator = refs[0][0]
            else:
                self.diags.error("Invalid dynamic iterator", "iterator must be a single name, like iterator = tag.",
                                 attrs["iterator"].pos)
                return []
        collection = self._eval(attrs["for_each"].expr, ctx)
        if collection is None:
            return []
        if not collection.is_known:
            # e.g. data source outputs during a plain validate: nothing to generate yet
            return []
        if collection.is_null:
            self.diags.error("Invalid dynamic for_each value", "Cannot use a null value in for_each.",
                             attrs["for_each"].pos)
            return []
        if collection.type.is_mapping:
            pairs = [(V.string(k), v) for k, v in collection.items().items()]
        elif collection.type.is_sequence:
            elements = collection.elements()
            if isinstance(collection.type, V.SetType):
                pairs = [(v, v) for v in elements]
            else:
                pairs = [(V.number(i), v) for i, v in enumerate(elements)]
        else:
            self.diags.error("Invalid dynamic for_each value", "for_each must be a list, set, map or object, not "
                             f"{collection.type.friendly()}.", attrs["for_each"].pos)
            return []
        out: list[Scoped] = []
        for key, value in pairs:
            item_extras = dict(extras)
            item_extras[iterator] = V.object_value({"key": key, "value": value})
            item_ctx = ctx.child({iterator: item_extras[iterator]})
            labels: list[str] = []
            if "labels" in attrs:
                label_value = self._eval(attrs["labels"].expr, item_ctx)
                if label_value is None:
                    continue
                try:
                    labels = [str(x) for x in V.to_python(label_value)]
                except (V.EvalError, TypeError):
                    self.diags.error("Invalid dynamic labels", "labels must be a list of strings.",
                                     attrs["labels"].pos)
                    continue
            generated = _GeneratedBlock(type=target, labels=labels, body=contents[0].body, pos=block.pos)
            out.append(Scoped(generated, item_extras))
        return out

    # ---------------------------------------------------------------- helpers
    def _eval(self, expr: Any, ctx: Any) -> Any:
        try:
            return _hcl.evaluate(expr, ctx)
        except _hcl.Diagnostics as exc:
            self.diags.extend(exc)
        except V.EvalError as exc:
            self.diags.error(exc.message, exc.detail, exc.pos or getattr(expr, "pos", None))
        return None

    def _eval_bool(self, expr: Any, ctx: Any, default: bool) -> bool:
        value = self._eval(expr, ctx)
        if value is None or not value.is_known or value.is_null:
            return default
        try:
            return V.convert(value, V.BOOL).as_bool()
        except V.EvalError as exc:
            self.diags.error("Invalid value", f"A bool is required: {exc}", getattr(expr, "pos", None))
            return default


@dataclass
class _GeneratedBlock:
    """A block produced by a ``dynamic`` block (same shape as the parser's Block)."""

    type: str
    labels: list[str]
    body: Any
    pos: SourcePos


# ------------------------------------------------------------------------ functions


def _slash(path: str) -> str:
    return path.replace(os.sep, "/")


def _is_identifier(text: str) -> bool:
    if not text or not (text[0].isalpha() or text[0] == "_"):
        return False
    return all(c.isalnum() or c in "_-" for c in text)


def _as_text(value: Any) -> str:
    data = V.to_python(value, unknown_as=UNKNOWN_TEXT)
    return data if isinstance(data, str) else json.dumps(data)


def _infer_type(default: Any) -> Any:
    """The type of an untyped variable is its default's, except empty collections."""
    t = default.type
    if t.is_primitive:
        return t
    return None


def _apply_type_defaults(value: Any, defaults: Any) -> Any:
    """Fill ``optional(T, default)`` attributes (the evaluator's type defaults)."""
    apply = getattr(defaults, "apply", None)
    if callable(apply):
        return apply(value)
    return value


def _looks_like_sentence(text: str) -> bool:
    stripped = text.strip()
    if not stripped:
        return False
    first = stripped[0]
    if first.isalpha() and not first.isupper():
        return False
    return stripped[-1] in ".?!"


def _build_value(build_name: str, generated: Mapping[str, Any] | None, referenced: Sequence[str] = ()) -> Any:
    attributes: dict[str, Any] = {"name": V.string(build_name)}
    for key in (*BUILD_GENERATED_KEYS, *referenced):
        if key != "name":
            attributes[key] = V.string(UNKNOWN_TEXT)
    if generated:
        for key, raw in generated.items():
            attributes[str(key)] = V.from_python(raw)
    return V.object_value(attributes)


def _selected(spec: ComponentSpec, source_ref: str) -> bool:
    if spec.only and source_ref not in spec.only:
        return False
    if spec.except_ and source_ref in spec.except_:
        return False
    return True


def _body_references(body: Any) -> list[tuple[str, ...]]:
    refs: list[tuple[str, ...]] = []
    for attr in body.attributes.values():
        refs.extend(attr.expr.references())
    for block in body.blocks:
        refs.extend(_body_references(block.body))
    return refs


def _string_leaves(value: Any) -> list[str]:
    data = V.to_python(value, unknown_as=None) if value is not None else None
    out: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list):
            for x in item:
                walk(x)
        elif isinstance(item, dict):
            for x in item.values():
                walk(x)
        # Numbers and bools are not registered (as in Packer): "1" would mangle every output line.

    walk(data)
    return out


def _add_secret(secrets: list[str], text: str) -> None:
    if not text:
        return
    normalised = text.replace("\r\n", "\n")
    candidates = [text, normalised]
    if "\n" in normalised:
        candidates.extend(line for line in normalised.split("\n") if line.strip())
    for candidate in candidates:
        if candidate and candidate not in secrets:
            secrets.append(candidate)


def _check_version_constraint(version: str, constraint: str) -> str:
    """Check a Go-style version constraint (">= 1.7, < 2"); return a problem or ""."""
    from bakehouse.template.versions import satisfies

    try:
        if not satisfies(version, constraint):
            return (f"This template requires Packer version {constraint}; Bakehouse implements Packer "
                    f"{version}. Relax required_version.")
    except (ValueError, IndexError):
        return f'"{constraint}" is not a valid version constraint (example: ">= 1.7.0").'
    return ""
