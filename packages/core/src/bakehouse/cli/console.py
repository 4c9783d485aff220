"""``bakehouse console [flags] [TEMPLATE]``: evaluate expressions against a template.

Interactive on a terminal (``> `` prompt; ``exit``, ``help``, ``variables``).
With stdin piped, every non-empty line is one expression and gets one line of
output, so a batch of expressions can be checked in one process. Results are
printed like ``jsonencode`` (see :mod:`bakehouse.template.render`); an invalid
expression prints its diagnostic on stderr and evaluation goes on; the exit
status is 1 when any expression failed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bakehouse.cli.common import add_var_flags

HELP = """The console evaluates HCL expressions with the template's variables, locals and functions.
Type an expression (for example: upper(var.name), local.tags, 1 + 2) and press enter.
Commands: help (this text), variables (list var.* and local.*), exit (or Ctrl-D) to quit."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_var_flags(parser)
    parser.add_argument("-config-type", "--config-type", dest="config_type", default="hcl2",
                        help="accepted for Packer compatibility; only hcl2 is supported")
    parser.add_argument("target", nargs="?", metavar="TEMPLATE",
                        help="a template file or directory whose variables and locals are loaded")


def run(args: argparse.Namespace) -> int:
    from bakehouse import log
    from bakehouse.hcl.diagnostics import Diagnostics
    from bakehouse.template.loader import load, standalone_context

    loaded = None
    if args.target:
        loaded, diags = load(args.target, variables=list(args.vars), var_files=list(args.var_files),
                             stop_on_error=False)
        # Like Packer, variables not set yet are simply unknown in the console;
        # any other error in the template ends the command before it starts.
        diags.items = [d for d in diags.items if not d.summary.startswith("Unset variable")]
        if diags:
            sys.stderr.write(log.redact(str(diags)) + "\n\n")
        if diags.has_errors:
            return 1
        log.add_sensitive(loaded.template.sensitive_values)
    context = loaded.context if loaded is not None and loaded.context is not None else standalone_context(
        args.target or ".")

    interactive = sys.stdin.isatty()
    failed = False
    line_number = 0
    while True:
        if interactive:
            sys.stdout.write("> ")
            sys.stdout.flush()
        try:
            line = sys.stdin.readline()
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            break
        if not line:
            if interactive:
                sys.stdout.write("\n")
            break
        line_number += 1
        text = line.strip()
        if not text:
            continue
        if text == "exit":
            break
        if text == "help":
            print(HELP)
            continue
        if text == "variables":
            _print_variables(loaded)
            continue
        try:
            print(_evaluate_line(text, context, line_number), flush=True)
        except Diagnostics as diags:
            failed = True
            sys.stderr.write(log.redact(str(diags)) + "\n")
            sys.stderr.flush()
    return 1 if failed else 0


def _evaluate_line(text: str, context: Any, line_number: int) -> str:
    from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
    from bakehouse.hcl.evaluator import evaluate
    from bakehouse.hcl.parser import parse_expression
    from bakehouse.hcl.values import EvalError
    from bakehouse.template.render import render_value

    try:
        expr = parse_expression(text, filename="<console-input>", line=line_number)
        return render_value(evaluate(expr, context))
    except EvalError as exc:
        diags = Diagnostics()
        diags.error(exc.message, exc.detail, exc.pos or SourcePos("<console-input>", line_number, 1))
        raise diags from None


def _print_variables(loaded: Any) -> None:
    from bakehouse.template.render import render_value

    if loaded is None:
        print("No template loaded: there are no variables.")
        return
    for name, var in sorted(loaded.variables.items()):
        print(f"var.{name}: {render_value(var.value) if var.value is not None else '<unset>'}")
    for name, value in sorted(loaded.locals.items()):
        print(f"local.{name}: {render_value(value)}")
