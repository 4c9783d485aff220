"""The library as a whole: inventory, calling convention, and robustness."""

from __future__ import annotations

import itertools

import bcrypt
import pytest
from bakehouse.hcl.evaluator import call_function
from bakehouse.hcl.function import Function, FunctionContext
from bakehouse.hcl.functions import ENV_FUNCTION, EVALUATOR_FUNCTIONS, FUNCTIONS, UNSUPPORTED
from bakehouse.hcl.values import NUMBER, STRING, EvalError, Value, from_python, null, unknown
from fnsupport import HERE, error_of

# Packer 1.16's registry (hcl2template/functions.go) minus try/can/convert.
PACKER_FUNCTIONS = """
abs abspath alltrue anytrue aws_secretsmanager aws_secretsmanager_raw base64decode base64encode
base64gzip basename bcrypt ceil chomp chunklist cidrhost cidrnetmask cidrsubnet cidrsubnets
coalesce coalescelist compact concat consul_key contains csvdecode dirname distinct element
endswith file filebase64 fileexists fileset flatten floor format formatdate formatlist indent
index join jsondecode jsonencode keys legacy_isotime legacy_strftime length log lookup lower max
md5 merge min parseint pathexpand pow range regex regex_replace regexall replace reverse
rfc3339_parse rsadecrypt setintersection setproduct setunion sha1 sha256 sha512 signum slice sort
split startswith strcontains strrev substr sum templatefile textdecodebase64 textencodebase64
timeadd timestamp title trim trimprefix trimspace trimsuffix unix_timestamp_parse upper urlencode
uuidv4 uuidv5 values vault yamldecode yamlencode zipmap
""".split()


def test_library_registers_every_packer_function() -> None:
    assert sorted(FUNCTIONS) == sorted(PACKER_FUNCTIONS)
    assert len(FUNCTIONS) + len(EVALUATOR_FUNCTIONS) == 103
    assert all(isinstance(f, Function) for f in FUNCTIONS.values())
    assert "env" not in FUNCTIONS


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_secret_store_functions_say_they_are_not_supported(name: str) -> None:
    function = FUNCTIONS[name]
    args = [from_python("x")] * len(function.params)
    message = error_of(
        call_function, name, function, args, [HERE] * len(args), HERE, FunctionContext()
    )
    assert f"{name}() is not supported by Bakehouse: it needs a network secret store" in message


def test_env_reads_the_injected_environment_first() -> None:
    fctx = FunctionContext(extra={"environ": {"HOME_REGION": "eu-west-1"}})
    result = call_function("env", ENV_FUNCTION, [from_python("HOME_REGION")], [HERE], HERE, fctx)
    assert result.as_str() == "eu-west-1"
    missing = call_function("env", ENV_FUNCTION, [from_python("NOPE")], [HERE], HERE, fctx)
    assert missing.as_str() == ""


def test_arguments_are_converted_to_parameter_types(call) -> None:
    assert call("upper", 1).as_str() == "1"
    assert call("strcontains", "hello1", 1).as_bool() is True
    assert call("abs", "-3").as_number() == 3


def test_unknown_argument_gives_unknown_result_of_the_return_type(call) -> None:
    result = call("upper", unknown(STRING))
    assert not result.is_known and result.type == STRING
    assert not call("abs", unknown(NUMBER)).is_known


def test_null_argument_is_rejected_unless_allowed(call) -> None:
    assert "must not be null" in error_of(call, "upper", null(STRING))
    assert call("jsonencode", None).as_str() == "null"


def test_sensitive_arguments_make_sensitive_results(call) -> None:
    secret = from_python("hunter2").with_sensitive(True)
    assert call("upper", secret).sensitive
    assert call("sha256", secret).sensitive


SAMPLE_ARGUMENTS: list[object] = [
    None,
    "",
    "x",
    "%",
    "1.5",
    -1,
    0,
    2,
    1.5,
    10**30,
    True,
    [],
    ["a", 1],
    {"a": 1},
    [[]],
]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_fails_cleanly_on_odd_arguments(name: str) -> None:
    """Odd argument combinations give a value or a clean error, never a defect."""
    function = FUNCTIONS[name]
    arity = len(function.params) + (1 if function.var_param else 0)
    # bcrypt at its real cost would dominate the run; the cheapest salt keeps the check fast
    fctx = FunctionContext(
        base_dir="/nonexistent-bakehouse-dir", extra={"bcrypt_salt": lambda cost: bcrypt.gensalt(4)}
    )
    for combo in itertools.islice(itertools.product(SAMPLE_ARGUMENTS, repeat=max(arity, 1)), 400):
        args = [from_python(a) for a in combo[:arity]]
        try:
            result = call_function(name, function, args, [HERE] * len(args), HERE, fctx)
        except EvalError as exc:
            assert "unexpectedly" not in f"{exc} {exc.detail}", f"{name}{combo}: {exc.detail}"
        else:
            assert isinstance(result, Value)


@pytest.mark.parametrize(
    "name",
    sorted(
        set(FUNCTIONS) - UNSUPPORTED - {"timestamp", "uuidv4", "legacy_isotime", "legacy_strftime"}
    ),
)
def test_unknown_arguments_of_any_type_give_an_unknown_result(name: str) -> None:
    """Values only known at build time (unknown, type not yet decided) never make a call fail."""
    function = FUNCTIONS[name]
    count = len(function.params) + (1 if function.var_param else 0)
    args = [unknown()] * count
    result = call_function(name, function, args, [HERE] * count, HERE, FunctionContext())
    assert not result.is_known
