"""``locals``, ``local`` and ``data`` blocks: one dependency graph, evaluated in order.

A local or a data source is evaluated after everything it refers to
(``local.x``, ``data.t.n``); a cycle is reported once, naming its members, and
its members become unknown values so that what uses them reports no more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
from bakehouse.hcl.schema import AttributeSpec, BodySchema, decode_body
from bakehouse.template import _hcl
from bakehouse.template._hcl import V
from bakehouse.template.components import body_references, decode_config
from bakehouse.template.dynamic import Scoped
from bakehouse.template.scope import Scope, evaluate, evaluate_bool

LOCALS_SCHEMA = BodySchema(any_attributes=True, block_hint="Write name = expression lines.")
LOCAL_SCHEMA = BodySchema(attributes=(AttributeSpec("expression", required=True), AttributeSpec("sensitive")))

#: Runs a data source: (type, decoded config, position) -> its outputs.
DatasourceRunner = Callable[[str, dict[str, Any], SourcePos], dict[str, Any]]


@dataclass
class _Node:
    """A local (``locals`` attribute or ``local`` block) or a data source."""

    key: str  #: "local.x" or "data.type.name"
    expression: _hcl.Expression | None  #: a local's value
    block: _hcl.Block | None  #: a ``local`` block (for ``sensitive``) or the data block
    pos: SourcePos

    @property
    def is_data(self) -> bool:
        return self.key.startswith("data.")

    def references(self) -> list[tuple[str, ...]]:
        if self.expression is not None:
            return self.expression.references()
        assert self.block is not None
        return body_references(self.block.body)


class LocalsAndData:
    """Evaluates the graph into ``scope.locals`` / ``scope.data``."""

    def __init__(self, scope: Scope, datasource_runner: DatasourceRunner | None, diags: Diagnostics) -> None:
        self.scope = scope
        self.datasource_runner = datasource_runner
        self.diags = diags
        self.sensitive: set[str] = set()  #: names of ``local`` blocks with sensitive = true
        self.nodes: dict[str, _Node] = {}
        self._dependencies: dict[str, list[str]] = {}

    def evaluate(self, locals_blocks: Sequence[_hcl.Block], local_blocks: Sequence[_hcl.Block],
                 data_blocks: Sequence[_hcl.Block]) -> None:
        for block in locals_blocks:
            content = decode_body(block.body.attributes, block.body.blocks, LOCALS_SCHEMA, self.diags, block.pos)
            for name, attr in content.attributes.items():
                self._add(_Node(f"local.{name}", attr.expr, None, attr.pos))
        for block in local_blocks:
            content = decode_body(block.body.attributes, block.body.blocks, LOCAL_SCHEMA, self.diags, block.pos)
            expression = content.attributes.get("expression")
            if expression is not None:
                self._add(_Node(f"local.{block.labels[0]}", expression.expr, block, block.pos))
        for block in data_blocks:
            self._add(_Node(f"data.{block.labels[0]}.{block.labels[1]}", None, block, block.pos))
        done: set[str] = set()
        in_cycle: set[str] = set()
        for start in list(self.nodes):
            self._visit(start, done, in_cycle)

    def _add(self, node: _Node) -> None:
        if node.key in self.nodes:
            what = "data source" if node.is_data else "local"
            self.diags.error(f"Duplicate {what} definition", f"{node.key} was already defined at "
                             f"{self.nodes[node.key].pos}. Remove or rename one of them.", node.pos)
            return
        self.nodes[node.key] = node

    def _dependencies_of(self, key: str) -> list[str]:
        if key not in self._dependencies:
            deps: list[str] = []
            for ref in self.nodes[key].references():
                if ref[0] == "local" and len(ref) >= 2:
                    dep = f"local.{ref[1]}"
                elif ref[0] == "data" and len(ref) >= 3:
                    dep = f"data.{ref[1]}.{ref[2]}"
                else:
                    continue
                if dep in self.nodes and dep not in deps:
                    deps.append(dep)
            self._dependencies[key] = deps
        return self._dependencies[key]

    def _visit(self, start: str, done: set[str], in_cycle: set[str]) -> None:
        """Evaluate ``start`` after its dependencies (iterative DFS: chains can be long)."""
        if start in done:
            return
        stack: list[str] = [start]
        pending: list[list[str]] = [list(reversed(self._dependencies_of(start)))]
        while stack:
            deps = pending[-1]
            if deps:
                dep = deps.pop()
                if dep in done:
                    continue
                if dep in stack:
                    self._report_cycle(stack[stack.index(dep):] + [dep], in_cycle)
                    continue
                stack.append(dep)
                pending.append(list(reversed(self._dependencies_of(dep))))
                continue
            key = stack.pop()
            pending.pop()
            done.add(key)
            self._evaluate_node(self.nodes[key], failed=key in in_cycle)

    def _report_cycle(self, cycle: list[str], in_cycle: set[str]) -> None:
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
        self.diags.error(summary, detail, self.nodes[first].pos)

    def _evaluate_node(self, node: _Node, failed: bool) -> None:
        ctx = self.scope.dependency_context(self._dependencies_of(node.key))
        if not node.is_data:
            name = node.key.split(".", 1)[1]
            value = None
            if not failed and node.expression is not None:
                value = evaluate(node.expression, ctx, self.diags)
            if node.block is not None:
                sensitive_attr = node.block.body.attributes.get("sensitive")
                if sensitive_attr is not None and evaluate_bool(sensitive_attr.expr, ctx, False, self.diags):
                    self.sensitive.add(name)
                    if value is not None:
                        value = value.with_sensitive(True)
            self.scope.locals[name] = value if value is not None else V.unknown()
            return
        _, type_name, name = node.key.split(".", 2)
        outputs = V.unknown()
        if not failed and node.block is not None:
            config = decode_config([Scoped(node.block)], ctx, frozenset(), {}, self.diags)
            if config is not None and self.datasource_runner is not None:
                try:
                    outputs = V.from_python(self.datasource_runner(type_name, config, node.pos))
                except _hcl.Diagnostics as exc:
                    self.diags.extend(exc)
                except Exception as exc:  # the runner reports plugin problems as exceptions
                    self.diags.error(f"Data source {type_name}.{name} failed", str(exc), node.pos)
        self.scope.data.setdefault(type_name, {})[name] = outputs
