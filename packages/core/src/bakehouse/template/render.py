"""One-line rendering of HCL values for `console` and `inspect`.

The form is ``jsonencode``'s (strings quoted, object keys sorted, no spaces)
so that a line can be read back as JSON, except for the two marks a value can
carry: ``<unknown>`` (known only when the build runs) and ``<sensitive>``.
Numbers are printed exactly (``35.3``, ``1e+400`` stays a long integer).
"""

from __future__ import annotations

import json
from typing import Any

from bakehouse.hcl import values as V

UNKNOWN = "<unknown>"
SENSITIVE = "<sensitive>"


def render_value(value: Any, *, reveal_sensitive: bool = False) -> str:
    """Render ``value`` on one line; sensitive parts become ``<sensitive>`` unless revealed."""
    if value is None:
        return "null"
    if value.sensitive and not reveal_sensitive:
        return SENSITIVE
    if not value.is_known:
        return UNKNOWN
    if value.is_null:
        return "null"
    t = value.type
    if t == V.STRING:
        return json.dumps(value.as_str(), ensure_ascii=False)
    if t == V.NUMBER:
        return V.format_number(value.as_number())
    if t == V.BOOL:
        return "true" if value.as_bool() else "false"
    if t.is_sequence:
        return "[" + ",".join(render_value(v, reveal_sensitive=reveal_sensitive) for v in value.elements()) + "]"
    if t.is_mapping:
        items = sorted(value.items().items())
        return "{" + ",".join(
            json.dumps(k, ensure_ascii=False) + ":" + render_value(v, reveal_sensitive=reveal_sensitive)
            for k, v in items
        ) + "}"
    return json.dumps(str(V.to_python(value, unknown_as=UNKNOWN)))
