"""``build`` blocks: one :class:`BuildPlan` per source a build block uses.

A build block names its sources (``sources = [...]`` and ``source "type.name"
{ ... }`` blocks, which may rename and add to a source) and lists the
provisioners, the error-cleanup provisioner and the post-processor chains every
one of those builds runs, each filtered by its ``only``/``except``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
from bakehouse.hcl.schema import AttributeSpec, BlockSpec, BodySchema, decode_body
from bakehouse.sdk.components import BUILDER_META
from bakehouse.template import _hcl
from bakehouse.template._hcl import V
from bakehouse.template.components import (
    BuildScope,
    component,
    post_processor,
    provisioner,
    selected,
)
from bakehouse.template.dynamic import Scoped, expand
from bakehouse.template.plan import BuildPlan, Template
from bakehouse.template.scope import Scope, as_text, evaluate
from bakehouse.template.sources import SourceUse, source_key, source_override, source_use

BUILD_SCHEMA = BodySchema(
    attributes=(AttributeSpec("name"), AttributeSpec("description"), AttributeSpec("sources")),
    blocks=(BlockSpec("source", ("type.name",)), BlockSpec("provisioner", ("type",)),
            BlockSpec("error-cleanup-provisioner", ("type",), unique=True,
                      duplicate_summary="Only one error-cleanup-provisioner is allowed"),
            BlockSpec("post-processor", ("type",)), BlockSpec("post-processors"),
            BlockSpec("hcp_packer_registry")))
POST_PROCESSORS_SCHEMA = BodySchema(blocks=(BlockSpec("post-processor", ("type",)),))


@dataclass
class _BuildBlock:
    """A decoded build block, before it is made into one plan per source."""

    index: int  #: position among the template's build blocks
    name: str = ""
    uses: list[SourceUse] = field(default_factory=list)
    provisioners: list[Scoped] = field(default_factory=list)
    cleanup: list[Scoped] = field(default_factory=list)
    post_processor_chains: list[list[Scoped]] = field(default_factory=list)


def decode_builds(blocks: list[_hcl.Block], scope: Scope, sources: dict[str, Scoped], template: Template,
                  diags: Diagnostics) -> None:
    """Add a plan to ``template.builds`` for every source use of every build block."""
    ctx = scope.context()
    for index, block in enumerate(blocks):
        decoded = _decode_build(block, index, ctx, sources, diags)
        if decoded is not None:
            _make_plans(decoded, scope, template, diags)


def _decode_build(block: _hcl.Block, index: int, ctx: _hcl.EvalContext, sources: dict[str, Scoped],
                  diags: Diagnostics) -> _BuildBlock | None:
    build = _BuildBlock(index)
    source_refs: list[tuple[str, SourcePos]] = []
    content = decode_body(block.body.attributes, expand(block.body, ctx, {}, diags), BUILD_SCHEMA, diags, block.pos)
    for name, attr in content.attributes.items():
        value = evaluate(attr.expr, ctx, diags)
        if name == "name":
            if value is not None and value.is_known and not value.is_null:
                build.name = as_text(value)
        elif name == "sources" and value is not None:
            try:
                items = V.to_python(value)
            except V.EvalError as exc:
                diags.error("Invalid sources", str(exc), attr.pos)
                continue
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                diags.error("Invalid sources", 'sources must be a list of strings like "docker.base".', attr.pos)
                continue
            source_refs.extend((item, attr.pos) for item in items)

    for ref, pos in source_refs:
        key = source_key(ref, pos, sources, diags)
        if key is not None:
            build.uses.append(source_use(key, pos, sources))

    for scoped in content.blocks:
        if scoped.type == "source":
            use = source_override(scoped, ctx, sources, diags)
            if use is not None:
                build.uses.append(use)
        elif scoped.type == "provisioner":
            build.provisioners.append(scoped)
        elif scoped.type == "error-cleanup-provisioner":
            build.cleanup.append(scoped)
        elif scoped.type == "post-processor":
            build.post_processor_chains.append([scoped])
        elif scoped.type == "post-processors":
            chain = decode_body(scoped.body.attributes, expand(scoped.body, ctx, scoped.extras, diags),
                                POST_PROCESSORS_SCHEMA, diags, scoped.pos).blocks
            if chain:
                build.post_processor_chains.append(chain)
        elif scoped.type == "hcp_packer_registry":
            diags.warning("HCP Packer registry is not supported",
                          "The hcp_packer_registry block is ignored by Bakehouse.", scoped.pos)
    if not build.uses:
        if not source_refs:
            diags.error("Missing sources", "A build block needs at least one source: set "
                        'sources = ["type.name"] or add a source "type.name" {} block.', block.pos)
        return None
    return build


def _make_plans(build: _BuildBlock, scope: Scope, template: Template, diags: Diagnostics) -> None:
    seen: set[str] = set()
    for use in build.uses:
        ref = f"{use.type}.{use.name}"
        full = f"{build.name}.{ref}" if build.name else ref
        if full in seen:
            diags.error("Duplicate build", f"The build {full} is defined twice in this build block. "
                        'Give one of them another name with source "..." { name = "other" }.', use.pos)
            continue
        seen.add(full)
        template.builds.append(_plan(full, build, use, scope, diags))


def _plan(full: str, build: _BuildBlock, use: SourceUse, scope: Scope, diags: Diagnostics) -> BuildPlan:
    build_scope = BuildScope(scope, use.type, use.name, build.name)
    # The source block is where a builder configuration problem is best shown.
    builder = component("builder", use.type, use.bodies, build_scope, BUILDER_META, use.bodies[0].pos, diags)
    builder.name = use.name
    plan = BuildPlan(name=full, build_block_name=build.name, source_type=use.type, source_name=use.name,
                     builder=builder, build_block_index=build.index, source_label=use.label)
    for scoped in build.provisioners:
        spec = provisioner(scoped, build_scope, diags)
        if selected(spec, build_scope.source_ref):
            plan.provisioners.append(spec)
    for scoped in build.cleanup:
        spec = provisioner(scoped, build_scope, diags)
        if selected(spec, build_scope.source_ref):
            plan.error_cleanup_provisioner = spec
    for chain in build.post_processor_chains:
        specs = []
        for scoped in chain:
            spec = post_processor(scoped, build_scope, diags)
            if selected(spec, build_scope.source_ref):
                specs.append(spec)
        if specs:
            plan.post_processor_chains.append(specs)
    return plan
