r"""Packer 1.16's HCL function library.

``FUNCTIONS`` maps every function name Packer registers (except ``try``,
``can`` and ``convert``, which take unevaluated expressions and live in the
evaluator) to a :class:`bakehouse.hcl.function.Function`. ``ENV_FUNCTION`` is
``env()``, which Packer offers only while evaluating ``variable`` defaults;
the template loader adds it to that context alone.

Injectable sources for tests go in ``FunctionContext.extra``: ``clock``,
``start_time``, ``uuid4``, ``bcrypt_salt``, ``environ``.

Known differences from Packer (Go), kept small on purpose:

* regular expressions run on the ``regex`` module with RE2 syntax translated
  (ASCII ``\d \w \s \b``, ``$`` at end of text, scoped inline flags); the
  ``U`` flag is refused, and a search stops after 5 s because a backtracking
  engine is not linear-time like RE2;
* ``base64gzip`` frames the stream exactly as Go does, but the deflate data
  comes from zlib: identical for short inputs, possibly different bytes (same
  content) for long ones;
* ``textencodebase64``/``textdecodebase64`` resolve encoding names through
  Python's codec registry (``UTF-16`` as Go's big-endian-with-BOM), so a few
  IANA aliases differ;
* ``unix_timestamp_parse`` is limited to years 1..9999;
* ``setproduct`` refuses results of more than a million elements.
"""

from __future__ import annotations

from bakehouse.hcl.function import Function
from bakehouse.hcl.functions import (
    collections,
    contextual,
    crypto,
    datetime,
    encoding,
    filesystem,
    network,
    numeric,
    strings,
)
from bakehouse.hcl.functions.contextual import ENV_FUNCTION

__all__ = ["ENV_FUNCTION", "FUNCTIONS", "UNSUPPORTED", "EVALUATOR_FUNCTIONS"]

FUNCTIONS: dict[str, Function] = {}
for _module in (
    strings,
    collections,
    numeric,
    encoding,
    filesystem,
    datetime,
    crypto,
    network,
    contextual,
):
    _overlap = FUNCTIONS.keys() & _module.FUNCTIONS.keys()
    assert not _overlap, f"function defined twice: {_overlap}"
    FUNCTIONS.update(_module.FUNCTIONS)
FUNCTIONS = dict(sorted(FUNCTIONS.items()))

# Registered so that a call gives a clear "not supported" error, not "unknown function".
UNSUPPORTED = frozenset({"vault", "consul_key"})
# Implemented by the evaluator because their arguments are unevaluated expressions.
EVALUATOR_FUNCTIONS = frozenset({"try", "can", "convert"})
