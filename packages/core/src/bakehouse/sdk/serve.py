"""``serve()``: the one call a plugin's ``main()`` makes.

Implemented on top of :mod:`bakehouse.rpc`. Usage::

    from bakehouse.sdk import serve
    def main() -> None:
        serve(plugin="bakehouse-plugin-example", version="1.0.0",
              builders={"example": ExampleBuilder},
              provisioners={}, post_processors={}, datasources={})

``EXE describe`` prints the JSON description and exits; ``EXE serve`` (what
the core runs) speaks the RPC protocol on the pipes the core passed in.
Anything else prints a short usage to stderr and exits 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bakehouse.sdk.components import Builder, Datasource, PostProcessor, Provisioner


def serve(
    *,
    plugin: str,
    version: str,
    builders: Mapping[str, type[Builder] | str] | None = None,
    provisioners: Mapping[str, type[Provisioner] | str] | None = None,
    post_processors: Mapping[str, type[PostProcessor] | str] | None = None,
    datasources: Mapping[str, type[Datasource] | str] | None = None,
    cleaners: str | None = None,
) -> None:
    """Describe or serve the given components, depending on ``sys.argv``. Never returns.

    A component may be given as ``"package.module:Class"`` instead of the class:
    its module is then imported when the core first creates the component, so
    ``describe`` and the handshake do not pay for it. ``cleaners`` likewise names
    a ``"module:function"`` that registers journal cleaners (or a ``"module"``
    whose import registers them), loaded before the first cleanup request."""
    from bakehouse.rpc.server import serve_plugin

    serve_plugin(
        plugin=plugin,
        version=version,
        builders=dict(builders or {}),
        provisioners=dict(provisioners or {}),
        post_processors=dict(post_processors or {}),
        datasources=dict(datasources or {}),
        cleaners=cleaners,
    )
