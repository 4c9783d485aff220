"""Builder, provisioner and post-processor blocks as :class:`ComponentSpec`.

A component's configuration can refer to values only the build knows
(``build.ID``, ``build.Host``), so it is a :class:`DeferredConfig`: the bodies
and what they see, decoded into plain data when the orchestrator asks, with the
builder's generated data. It is decoded once at load time too, so that
evaluation errors show before anything runs, like Packer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
from bakehouse.sdk.components import POST_PROCESSOR_META, PROVISIONER_META
from bakehouse.template import _hcl
from bakehouse.template._hcl import V
from bakehouse.template.dynamic import Scoped, expand
from bakehouse.template.plan import ComponentSpec
from bakehouse.template.scope import UNKNOWN_TEXT, Scope, evaluate

#: What a builder may provide as ``build.X`` before its provisioners run.
BUILD_GENERATED_KEYS = ("ID", "Host", "Port", "User", "Password", "ConnType", "PackerRunUUID",
                        "PackerHTTPPort", "PackerHTTPIP", "PackerHTTPAddr", "SSHPublicKey",
                        "SSHPrivateKey", "WinRMPassword")


@dataclass
class BuildScope:
    """What a component block of one build sees besides the template's scope."""

    scope: Scope
    source_type: str
    source_name: str
    build_name: str

    @property
    def source_value(self) -> V.Value:
        return V.object_value({"type": V.string(self.source_type), "name": V.string(self.source_name)})

    @property
    def source_ref(self) -> str:
        return f"{self.source_type}.{self.source_name}"


@dataclass
class DeferredConfig:
    """A component's configuration, decoded when it is called (see :data:`~bakehouse.template.plan.ConfigThunk`).

    Safe to call from several build threads: each call reports to diagnostics of
    its own, and the scope no longer changes once the template is loaded.
    """

    build: BuildScope
    bodies: list[Scoped]
    #: meta-arguments of the component kind, not part of its configuration
    skip: frozenset[str]
    override: dict[str, Any] | None = None
    #: attribute path -> position, filled by each decoding (shared with the ComponentSpec)
    positions: dict[str, SourcePos] = field(default_factory=dict)
    #: ``build.X`` names the bodies refer to: "<unknown>" until the builder provides them
    referenced: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.referenced = sorted({ref[1] for scoped in self.bodies for ref in body_references(scoped.body)
                                  if ref[0] == "build" and len(ref) > 1})

    def __call__(self, generated: dict[str, Any] | None) -> dict[str, Any]:
        diags = Diagnostics()
        ctx = self.build.scope.context({"source": self.build.source_value,
                                        "build": build_value(self.build.build_name, generated, self.referenced)})
        positions: dict[str, SourcePos] = {}
        result = decode_config(self.bodies, ctx, self.skip, positions, diags)
        if result is None or diags.has_errors:
            raise diags
        if self.override:
            result.update(self.override)
        self.positions.update(positions)
        return result


def decode_config(bodies: Sequence[Scoped], ctx: _hcl.EvalContext, skip: frozenset[str],
                  positions: dict[str, SourcePos], diags: Diagnostics, prefix: str = "") -> dict[str, Any] | None:
    """Evaluate block bodies into plain data: attributes, and nested blocks as lists of objects."""
    result: dict[str, Any] = {}
    ok = True
    for scoped in bodies:
        body_ctx = scoped.context(ctx)
        body = scoped.body
        for name, attr in body.attributes.items():
            if not prefix and name in skip:
                continue
            value = evaluate(attr.expr, body_ctx, diags)
            if value is None:
                ok = False
                continue
            result[name] = V.to_python(value, unknown_as=UNKNOWN_TEXT)
            positions[prefix + name] = attr.pos
        for nested in expand(body, body_ctx, {}, diags):
            items = result.setdefault(nested.type, [])
            if not isinstance(items, list):
                diags.error("Duplicate argument", f'"{nested.type}" is set both as an argument and as a block.',
                            nested.pos)
                ok = False
                continue
            path = f"{prefix}{nested.type}.{len(items)}"
            positions[path] = nested.pos
            inner = decode_config([nested], body_ctx, skip, positions, diags, path + ".")
            if inner is None:
                ok = False
                continue
            items.append(inner)
    return result if ok else None


def component(kind: str, type_name: str, bodies: list[Scoped], build: BuildScope, skip: frozenset[str],
              pos: SourcePos, diags: Diagnostics, override: dict[str, Any] | None = None) -> ComponentSpec:
    """A component whose configuration is decoded on demand; decoded once now to report errors."""
    config = DeferredConfig(build, bodies, skip, override)
    spec = ComponentSpec(kind=kind, type=type_name, config=config, pos=pos, positions=config.positions)
    try:
        config(None)
    except Diagnostics as exc:
        diags.extend(exc)
    return spec


def provisioner(scoped: Scoped, build: BuildScope, diags: Diagnostics) -> ComponentSpec:
    """A ``provisioner`` or ``error-cleanup-provisioner`` block, with its meta-arguments."""
    attrs = scoped.body.attributes
    meta = _meta(attrs, PROVISIONER_META, _meta_context(scoped, build), diags)
    override: dict[str, Any] | None = None
    raw_override = meta.get("override")
    if isinstance(raw_override, dict):
        for key in (build.source_name, build.source_ref):
            if isinstance(raw_override.get(key), dict):
                override = raw_override[key]
                break
    spec = component("provisioner", scoped.labels[0], [scoped], build, PROVISIONER_META, scoped.pos, diags,
                     override)
    _apply_meta(spec, meta, attrs, diags)
    return spec


def post_processor(scoped: Scoped, build: BuildScope, diags: Diagnostics) -> ComponentSpec:
    """A ``post-processor`` block, with its meta-arguments."""
    attrs = scoped.body.attributes
    meta = _meta(attrs, POST_PROCESSOR_META, _meta_context(scoped, build), diags)
    spec = component("post-processor", scoped.labels[0], [scoped], build, POST_PROCESSOR_META, scoped.pos, diags)
    _apply_meta(spec, meta, attrs, diags)
    if "keep_input_artifact" in meta:
        spec.keep_input_artifact = bool(meta["keep_input_artifact"])
    return spec


def _meta_context(scoped: Scoped, build: BuildScope) -> _hcl.EvalContext:
    return build.scope.context({"source": build.source_value, "build": build_value(build.build_name, None),
                                **scoped.extras})


def _meta(attrs: Mapping[str, _hcl.Attribute], names: frozenset[str], ctx: _hcl.EvalContext,
          diags: Diagnostics) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for name, attr in attrs.items():
        if name not in names:
            continue
        value = evaluate(attr.expr, ctx, diags)
        if value is not None:
            meta[name] = V.to_python(value, unknown_as=UNKNOWN_TEXT)
    return meta


def _apply_meta(spec: ComponentSpec, meta: dict[str, Any], attrs: Mapping[str, _hcl.Attribute],
                diags: Diagnostics) -> None:
    from bakehouse.sdk.problems import parse_duration

    if "name" in meta:
        spec.name = str(meta["name"])
    for key, field_name in (("only", "only"), ("except", "except_")):
        if key in meta:
            items = meta[key]
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                diags.error(f"Invalid {key}", f'{key} must be a list of source names like "docker.base".',
                            attrs[key].pos)
                continue
            setattr(spec, field_name, list(items))
    if "only" in meta and "except" in meta:
        diags.error("Only one of only and except", "A component can have only or except, not both.",
                    attrs["except"].pos)
    for key in ("pause_before", "timeout"):
        if key in meta:
            try:
                setattr(spec, key, parse_duration(meta[key]))
            except (ValueError, TypeError) as exc:
                diags.error(f"Invalid {key}", str(exc), attrs[key].pos)
    if "max_retries" in meta:
        try:
            spec.max_retries = int(meta["max_retries"])
        except (ValueError, TypeError):
            diags.error("Invalid max_retries", "max_retries must be a whole number.", attrs["max_retries"].pos)
    if "continue_on_error" in meta:
        spec.continue_on_error = bool(meta["continue_on_error"])


def selected(spec: ComponentSpec, source_ref: str) -> bool:
    """Whether ``only``/``except`` let the component run for the source."""
    if spec.only and source_ref not in spec.only:
        return False
    if spec.except_ and source_ref in spec.except_:
        return False
    return True


def build_value(build_name: str, generated: Mapping[str, Any] | None, referenced: Sequence[str] = ()) -> V.Value:
    """``build``: its name, and what the builder generated ("<unknown>" until it has)."""
    attributes: dict[str, V.Value] = {"name": V.string(build_name)}
    for key in (*BUILD_GENERATED_KEYS, *referenced):
        if key != "name":
            attributes[key] = V.string(UNKNOWN_TEXT)
    if generated:
        for key, raw in generated.items():
            attributes[str(key)] = V.from_python(raw)
    return V.object_value(attributes)


def body_references(body: _hcl.Body) -> list[tuple[str, ...]]:
    """Every traversal the body's expressions, nested blocks included, refer to."""
    refs: list[tuple[str, ...]] = []
    for attr in body.attributes.values():
        refs.extend(attr.expr.references())
    for block in body.blocks:
        refs.extend(body_references(block.body))
    return refs
