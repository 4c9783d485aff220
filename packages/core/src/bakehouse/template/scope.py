"""What expressions of a template can see, and evaluating them with diagnostics.

A :class:`Scope` holds the template's evaluated state (variables, locals, data
source outputs, ``path`` and ``packer``) and makes evaluation contexts from it.
The stages of the loader fill it in order; after loading it no longer changes,
so the deferred configs of the builds share it across build threads. Every
evaluation reports to the :class:`Diagnostics` it is given, never to shared
state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.template import _hcl
from bakehouse.template._hcl import V
from bakehouse.template.versions import PACKER_COMPAT_VERSION

if TYPE_CHECKING:
    from bakehouse.template.variables import Variable

#: How a value not known before the build runs shows in a config (``build.ID``).
UNKNOWN_TEXT = "<unknown>"

Functions = dict[str, _hcl.Function]


class Scope:
    """The variables, locals and data sources of one template, and its functions."""

    def __init__(self, root: str, functions: Functions, variables: Mapping[str, Variable],
                 locals_: dict[str, V.Value], data: dict[str, dict[str, V.Value]],
                 function_extra: dict[str, Any] | None = None) -> None:
        self.root = root
        #: what the functions may use (``FunctionContext.extra``): the data source runner
        self.function_extra = function_extra
        self.functions = functions
        self.variables = variables
        self.locals = locals_
        self.data = data
        self._static: dict[str, V.Value] | None = None
        self._dynamic: tuple[tuple[int, int], dict[str, V.Value]] | None = None

    def static_variables(self) -> dict[str, V.Value]:
        """``var``, ``path`` and ``packer``: built once, as they do not change once the scope exists."""
        if self._static is None:
            values = {name: var.value if var.value is not None else V.unknown()
                      for name, var in self.variables.items()}
            self._static = {
                "var": V.object_value(values),
                "path": V.object_value({"root": V.string(self.root), "cwd": V.string(slash(os.getcwd()))}),
                "packer": V.object_value({"version": V.string(PACKER_COMPAT_VERSION)}),
            }
        return dict(self._static)

    def context(self, extra: Mapping[str, V.Value] | None = None) -> _hcl.EvalContext:
        """Everything a template expression can refer to, plus ``extra`` (``source``, ``build``...)."""
        variables = self.static_variables()
        # Cached per state: a deferred config must not pay for rebuilding the
        # objects of every local and data source each time it runs.
        state = (len(self.locals), sum(len(n) for n in self.data.values()))
        if self._dynamic is None or self._dynamic[0] != state:
            self._dynamic = (state, {
                "local": V.object_value(dict(self.locals)),
                "data": V.object_value({t: V.object_value(n) for t, n in self.data.items()}),
            })
        variables.update(self._dynamic[1])
        if extra:
            variables.update(extra)
        return _hcl.make_context(variables, self.functions, self.root, self.function_extra)

    def dependency_context(self, deps: Sequence[str]) -> _hcl.EvalContext:
        """A context whose ``local`` and ``data`` hold only ``deps`` ("local.x", "data.t.n").

        Rebuilding the full objects for every local would make loading quadratic
        in the number of locals.
        """
        local_values: dict[str, V.Value] = {}
        data_values: dict[str, dict[str, V.Value]] = {}
        for dep in deps:
            parts = dep.split(".")
            if parts[0] == "local":
                local_values[parts[1]] = self.locals.get(parts[1], V.unknown())
            else:
                data_values.setdefault(parts[1], {})[parts[2]] = self.data.get(parts[1], {}).get(
                    parts[2], V.unknown())
        variables = self.static_variables()
        variables["local"] = V.object_value(local_values)
        variables["data"] = V.object_value({t: V.object_value(n) for t, n in data_values.items()})
        return _hcl.make_context(variables, self.functions, self.root, self.function_extra)

    def literal_context(self) -> _hcl.EvalContext:
        """No variables and no functions: var file values, descriptions."""
        return _hcl.make_context({}, {}, self.root)


def evaluate(expr: _hcl.Expression, ctx: _hcl.EvalContext, diags: Diagnostics) -> V.Value | None:
    """The expression's value, or None after reporting why it has none."""
    try:
        return _hcl.evaluate(expr, ctx)
    except _hcl.Diagnostics as exc:
        diags.extend(exc)
    except V.EvalError as exc:
        diags.error(exc.message, exc.detail, exc.pos or expr.pos)
    return None


def evaluate_bool(expr: _hcl.Expression, ctx: _hcl.EvalContext, default: bool, diags: Diagnostics) -> bool:
    value = evaluate(expr, ctx, diags)
    if value is None or not value.is_known or value.is_null:
        return default
    try:
        return V.convert(value, V.BOOL).as_bool()
    except V.EvalError as exc:
        diags.error("Invalid value", f"A bool is required: {exc}", expr.pos)
        return default


def as_text(value: V.Value) -> str:
    """A value as a name: strings as they are, anything else as JSON."""
    data = V.to_python(value, unknown_as=UNKNOWN_TEXT)
    return data if isinstance(data, str) else json.dumps(data)


def slash(path: str) -> str:
    return path.replace(os.sep, "/")


def is_identifier(text: str) -> bool:
    if not text or not (text[0].isalpha() or text[0] == "_"):
        return False
    return all(c.isalnum() or c in "_-" for c in text)
