"""Functions that depend on where they are called: ``templatefile``, ``env``,
and the secret-store functions Bakehouse deliberately does not support.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from bakehouse.hcl.function import Function, FunctionContext, FunctionError
from bakehouse.hcl.functions._util import define, p
from bakehouse.hcl.values import DYNAMIC, STRING, Value, string


def _templatefile(args: list[Value], fctx: FunctionContext) -> Value:
    path, variables = args[0].as_str(), args[1]
    if not variables.type.is_mapping:
        raise FunctionError(
            f"invalid vars value: must be a map or object, not {variables.type.friendly()}", 1
        )
    if fctx.render_template is None:
        raise FunctionError("templatefile() is not available in this context")
    return fctx.render_template(path, variables.items())


def _env(args: list[Value], fctx: FunctionContext) -> Value:
    environ = fctx.extra.get("environ")
    source = environ if environ is not None else os.environ
    return string(source.get(args[0].as_str(), ""))


def _unsupported(name: str) -> Callable[[list[Value], FunctionContext], Value]:
    def impl(args: list[Value], fctx: FunctionContext) -> Value:
        raise FunctionError(
            f"{name}() is not supported by Bakehouse: it needs a network secret store"
        )

    return impl


S = STRING
ENV_FUNCTION: Function = define(
    [p("key", S)],
    _env,
    returns=S,
    description="Value of an environment variable; only in variable defaults.",
)

FUNCTIONS: dict[str, Function] = {
    "templatefile": define([p("path", S), p("vars", DYNAMIC)], _templatefile, returns=S),
    "aws_secretsmanager": define(
        [p("secret_id", S)], _unsupported("aws_secretsmanager"), var_param=p("key", S), returns=S
    ),
    "aws_secretsmanager_raw": define(
        [p("secret_id", S)], _unsupported("aws_secretsmanager_raw"), returns=S
    ),
    "vault": define([p("path", S), p("key", S)], _unsupported("vault"), returns=S),
    "consul_key": define([p("key", S)], _unsupported("consul_key"), returns=S),
}
