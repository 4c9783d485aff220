"""Functions that depend on where they are called: ``templatefile``, ``env``,
``aws_secretsmanager``/``aws_secretsmanager_raw``, and the secret-store
functions Bakehouse does not support (``vault``, ``consul_key``).

The AWS functions do not talk to AWS themselves: the core never imports boto3.
They run the ``amazon-secretsmanager`` data source of bakehouse-plugin-aws
through the template loader's data source runner (``fctx.extra["datasource_runner"]``),
so the secret is read by the same code, with the same credentials chain, as
``data "amazon-secretsmanager"``. Without a runner (``validate -syntax-only``,
``console`` without a template) the result is unknown.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from bakehouse.hcl.function import Function, FunctionContext, FunctionError
from bakehouse.hcl.functions._util import define, p
from bakehouse.hcl.values import DYNAMIC, STRING, Value, string, unknown


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


#: The data source the AWS secret functions run, and its position in diagnostics.
SECRETS_DATASOURCE = "amazon-secretsmanager"


def _aws_secret(function: str, output: str) -> Callable[[list[Value], FunctionContext], Value]:
    def impl(args: list[Value], fctx: FunctionContext) -> Value:
        if len(args) > 2:
            raise FunctionError(f"{function}() takes a secret name and at most one key", 2)
        name = args[0].as_str()
        key = args[1].as_str() if len(args) > 1 else ""
        runner = fctx.extra.get("datasource_runner")
        if runner is None:
            return unknown(STRING)
        cache: dict[tuple[str, str, str], str] = fctx.extra.setdefault("aws_secrets", {})
        if (name, key, output) not in cache:
            cache[(name, key, output)] = _read_secret(function, runner, name, key, output)
        return string(cache[(name, key, output)]).with_sensitive(True)

    return impl


def _read_secret(function: str, runner: Callable[..., dict[str, object]], name: str, key: str,
                 output: str) -> str:
    from bakehouse.hcl.diagnostics import Diagnostics, SourcePos

    config = {"name": name, "key": key} if key else {"name": name}
    try:
        result = runner(SECRETS_DATASOURCE, config, SourcePos(f"{function}()", 1))
    except Diagnostics as diagnostics:
        details = "; ".join(d.detail or d.summary for d in diagnostics.items if d.is_error) or "failed"
        raise FunctionError(f"{function}({name!r}): {details}") from None
    except Exception as exc:  # the runner reports plugin and AWS failures as exceptions
        raise FunctionError(f"{function}({name!r}) reads the secret through the {SECRETS_DATASOURCE} "
                            f"data source: {exc}") from None
    return str(result.get(output, ""))


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
        [p("secret_id", S)], _aws_secret("aws_secretsmanager", "value"), var_param=p("key", S), returns=S
    ),
    "aws_secretsmanager_raw": define(
        [p("secret_id", S)], _aws_secret("aws_secretsmanager_raw", "secret_string"), returns=S
    ),
    "vault": define([p("path", S), p("key", S)], _unsupported("vault"), returns=S),
    "consul_key": define([p("key", S)], _unsupported("consul_key"), returns=S),
}
