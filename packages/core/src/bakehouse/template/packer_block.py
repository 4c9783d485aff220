"""The ``packer { }`` block: ``required_version`` and ``required_plugins``."""

from __future__ import annotations

from collections.abc import Sequence

from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.hcl.schema import AttributeSpec, BlockSpec, BodySchema, decode_body
from bakehouse.template import _hcl
from bakehouse.template._hcl import V
from bakehouse.template.plan import Template
from bakehouse.template.scope import UNKNOWN_TEXT, evaluate
from bakehouse.template.versions import PACKER_COMPAT_VERSION, check_version_constraint

PACKER_SCHEMA = BodySchema(attributes=(AttributeSpec("required_version"),), blocks=(BlockSpec("required_plugins"),))
REQUIRED_PLUGINS_SCHEMA = BodySchema(any_attributes=True)


def read_packer_blocks(blocks: Sequence[_hcl.Block], root: str, template: Template, diags: Diagnostics) -> None:
    """Check ``required_version`` against the Packer version followed; record ``required_plugins``."""
    empty = _hcl.make_context({}, {}, root)
    for block in blocks:
        content = decode_body(block.body.attributes, block.body.blocks, PACKER_SCHEMA, diags, block.pos)
        attr = content.attributes.get("required_version")
        if attr is not None:
            value = evaluate(attr.expr, empty, diags)
            if value is not None and value.is_known and not value.is_null:
                constraint = value.as_str() if value.type == V.STRING else str(V.to_python(value))
                problem = check_version_constraint(PACKER_COMPAT_VERSION, constraint)
                if problem:
                    diags.error("Unsupported Packer version", problem, attr.pos)
        for nested in content.blocks:
            plugins = decode_body(nested.body.attributes, nested.body.blocks, REQUIRED_PLUGINS_SCHEMA, diags,
                                  nested.pos)
            for plugin_name, attr in plugins.attributes.items():
                value = evaluate(attr.expr, empty, diags)
                if value is None:
                    continue
                data = V.to_python(value, unknown_as=UNKNOWN_TEXT)
                if not isinstance(data, dict):
                    diags.error("Invalid required_plugins entry",
                                f'"{plugin_name}" must be an object like '
                                '{ source = "github.com/org/name", version = ">= 1.0" }.', attr.pos)
                    continue
                template.required_plugins[plugin_name] = {str(k): str(v) for k, v in data.items()}
