"""Load a template (a file or a directory) into a :class:`~bakehouse.template.plan.Template`.

The order follows Packer 1.16, one module per stage:

1. :mod:`~bakehouse.template.discovery`: parse every ``*.pkr.hcl`` file (and
   ``*.auto.pkrvars.hcl`` when the target is a directory) and check the
   top-level block structure;
2. :mod:`~bakehouse.template.packer_block`: ``required_version`` and ``required_plugins``;
3. :mod:`~bakehouse.template.variables`: declarations, then values by precedence
   (default < ``PKR_VAR_*`` < auto var files < each ``-var-file`` in order <
   ``-var``), conversion to the declared type, "Unset variable", validation blocks;
4. :mod:`~bakehouse.template.locals_data`: locals and data sources in dependency
   order (a cycle is named);
5. :mod:`~bakehouse.template.sensitive`: sensitive values collected for redaction;
6. :mod:`~bakehouse.template.sources` and :mod:`~bakehouse.template.builds`:
   ``source`` and ``build`` blocks decoded into one :class:`BuildPlan` per source
   use, with :mod:`~bakehouse.template.dynamic` blocks expanded and each
   component's configuration deferred (:mod:`~bakehouse.template.components`).

Every problem is collected as a :class:`Diagnostic` with a position; the loader
raises :class:`Diagnostics` at the end when there is at least one error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.template import _hcl
from bakehouse.template._hcl import V
from bakehouse.template.builds import decode_builds
from bakehouse.template.discovery import TemplateFiles, check_top_level, find_files, parse_files
from bakehouse.template.dynamic import Scoped
from bakehouse.template.locals_data import DatasourceRunner, LocalsAndData
from bakehouse.template.packer_block import read_packer_blocks
from bakehouse.template.plan import Template
from bakehouse.template.scope import Scope
from bakehouse.template.sensitive import collect_sensitive
from bakehouse.template.sources import collect_sources
from bakehouse.template.variables import (
    Variable,
    VariableInputs,
    assign_values,
    declare_variables,
    mark_sensitive,
    validate_variables,
)
from bakehouse.template.versions import PACKER_COMPAT_VERSION

__all__ = ["PACKER_COMPAT_VERSION", "DatasourceRunner", "LoadedTemplate", "Variable", "load", "load_template",
           "standalone_context"]


@dataclass
class LoadedTemplate:
    """Everything the loader computed; commands like inspect and console use it."""

    template: Template
    variables: dict[str, Variable] = field(default_factory=dict)
    locals: dict[str, V.Value] = field(default_factory=dict)
    local_sensitive: set[str] = field(default_factory=set)
    data: dict[str, dict[str, V.Value]] = field(default_factory=dict)  #: type -> name -> outputs
    context: _hcl.EvalContext | None = None  #: var/local/data/path/packer
    files: list[str] = field(default_factory=list)
    sources: dict[str, Scoped] = field(default_factory=dict)  #: "type.name" -> block
    build_blocks: list[_hcl.Block] = field(default_factory=list)


def load_template(
    path: str,
    *,
    variables: Sequence[tuple[str, str]] = (),
    var_files: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    datasource_runner: DatasourceRunner | None = None,
    syntax_only: bool = False,
    parsed: Mapping[str, _hcl.Body] | None = None,
) -> tuple[Template, Diagnostics]:
    """Load and evaluate a template; raise :class:`Diagnostics` if there are errors.

    ``parsed``: files already parsed (by name), not parsed again.
    Returns the template and the warnings.
    """
    loaded, diags = load(path, variables=variables, var_files=var_files, environ=environ,
                         datasource_runner=datasource_runner, syntax_only=syntax_only, parsed=parsed)
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
    parsed: Mapping[str, _hcl.Body] | None = None,
) -> tuple[LoadedTemplate, Diagnostics]:
    """Like :func:`load_template` but never raises; returns everything computed.

    With ``stop_on_error=False`` evaluation goes on as far as it can (inspect and
    console show what they can even when a part of the template is broken).
    """
    loader = _Loader(path, list(variables), list(var_files), dict(os.environ if environ is None else environ),
                     datasource_runner, parsed)
    loader.run(syntax_only=syntax_only, stop_on_error=stop_on_error)
    return loader.loaded, loader.diags


def standalone_context(root: str = ".") -> _hcl.EvalContext:
    """The evaluation context without a template (console with no path)."""
    return Scope(root, _hcl.all_functions(), {}, {}, {}).context()


class _Loader:
    """Runs the stages in order over one template."""

    def __init__(self, path: str, cli_vars: list[tuple[str, str]], var_files: list[str],
                 environ: dict[str, str], datasource_runner: DatasourceRunner | None,
                 parsed: Mapping[str, _hcl.Body] | None = None) -> None:
        self.path = path
        self.parsed = parsed or {}
        self.cli_vars = cli_vars
        self.var_files = var_files
        self.environ = environ
        self.datasource_runner = datasource_runner
        #: for the functions: aws_secretsmanager runs a data source (and remembers what it read)
        self.function_extra: dict[str, Any] = (
            {"datasource_runner": datasource_runner, "aws_secrets": {}} if datasource_runner else {})
        self.diags = Diagnostics()
        self.loaded = LoadedTemplate(template=Template(path=path, root="."))
        self.files = TemplateFiles()
        self.functions: dict[str, _hcl.Function] = {}

    def scope(self) -> Scope:
        loaded = self.loaded
        return Scope(self.files.root, self.functions, loaded.variables, loaded.locals, loaded.data,
                     self.function_extra)

    def run(self, *, syntax_only: bool, stop_on_error: bool) -> None:
        try:
            self._run(syntax_only=syntax_only, stop_on_error=stop_on_error)
        finally:
            if self.functions:
                self.loaded.context = self.scope().context()

    def _run(self, *, syntax_only: bool, stop_on_error: bool) -> None:
        diags, loaded = self.diags, self.loaded
        found = find_files(self.path, diags)
        if found is None:
            return
        self.files = found
        loaded.files = found.files
        loaded.template.root = found.root
        parse_files(found, diags, self.parsed)
        self.functions = _hcl.all_functions()
        if stop_on_error and diags.has_errors:
            return  # a file that does not parse would only cause follow-up errors
        check_top_level(found, diags)
        read_packer_blocks(found.of_type("packer"), found.root, loaded.template, diags)
        loaded.variables = declare_variables(found.of_type("variable"), found.of_type("variables"), self.environ,
                                             found.root, diags)
        inputs = VariableInputs(self.environ, found.auto_var_files + self.var_files, self.cli_vars, found.root)
        assign_values(loaded.variables, inputs, diags, check_unset=not syntax_only)
        if syntax_only:
            return
        if stop_on_error and diags.has_errors:
            return
        validate_variables(loaded.variables, self.functions, found.root, diags)
        mark_sensitive(loaded.variables)
        scope = self.scope()
        graph = LocalsAndData(scope, self.datasource_runner, diags)
        graph.evaluate(found.of_type("locals"), found.of_type("local"), found.of_type("data"))
        loaded.local_sensitive = graph.sensitive
        collect_sensitive(loaded.template, loaded.variables, loaded.locals, loaded.local_sensitive)
        # Failed locals are unknown values from here on, so decoding the builds
        # still reports their own problems without follow-up noise.
        loaded.sources = collect_sources(found.of_type("source"), diags)
        loaded.build_blocks = found.of_type("build")
        decode_builds(loaded.build_blocks, scope, loaded.sources, loaded.template, diags)
        if found.converted:  # a legacy JSON template: Packer's -only=NAME names a builder
            for plan in loaded.template.builds:
                plan.aliases = (plan.source_name,)
