"""Helpers shared by the command modules.

Flags follow Packer: single-dash long flags (``-var k=v``, ``-only=a,b``) and
their double-dash forms (``--var``, ``--only``) are both accepted, as is the
``-flag=value`` spelling.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
    from bakehouse.hcl.parser import Body
    from bakehouse.orchestrator.components import ComponentFactory
    from bakehouse.plugin.manager import PluginManager
    from bakehouse.template.plan import Template
    from bakehouse.ui import RootUi


class UsageError(Exception):
    """A command-line mistake: the dispatcher prints it with the help, exit 1."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of exiting with status 2,
    and understands Go-style booleans (``-force``, ``-color=false``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        #: boolean flag name -> dest, for the ``-name=value`` spelling
        self.go_bools: dict[str, str] = {}

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if args is not None:
            args = [self._rewrite_bool(arg) for arg in args]
        return super().parse_known_args(args, namespace)

    def _rewrite_bool(self, arg: str) -> str:
        """``-name=false`` -> the hidden ``--name=false`` option; ``-name=true`` -> ``-name``."""
        if not arg.startswith("-") or "=" not in arg:
            return arg
        name, value = arg.lstrip("-").split("=", 1)
        if name not in self.go_bools:
            return arg
        try:
            enabled = parse_bool(value)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"argument -{name}: {exc}") from None
        return f"-{name}" if enabled else f"--{_FALSE_PREFIX}{name}"


_FALSE_PREFIX = "bakehouse-false-"


def flag(parser: argparse.ArgumentParser | Any, name: str, **kwargs: Any) -> argparse.Action:
    """Add ``-name`` and ``--name`` for one option."""
    action: argparse.Action = parser.add_argument(f"-{name}", f"--{name}", **kwargs)
    return action


def parse_bool(text: str) -> bool:
    """Go's flag boolean syntax (``-color=false``)."""
    lowered = text.strip().lower()
    if lowered in ("1", "t", "true", "yes", "on"):
        return True
    if lowered in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def bool_flag(
    parser: argparse.ArgumentParser | Any, name: str, help: str, default: bool = False
) -> None:
    """A Go-style boolean flag: ``-x`` (true), ``-x=true``, ``-x=false``.

    A bare ``-x`` never consumes the next argument (``-force t.pkr.hcl``).
    """
    dest = name.replace("-", "_")
    flag(parser, name, dest=dest, action="store_true", default=default, help=help)
    parser.add_argument(
        f"--{_FALSE_PREFIX}{name}", dest=dest, action="store_false", help=argparse.SUPPRESS
    )
    if isinstance(parser, ArgumentParser):
        parser.go_bools[name] = dest
    else:  # an argument group: register on its parser
        container = getattr(parser, "_container", None)
        while container is not None and not isinstance(container, ArgumentParser):
            container = getattr(container, "_container", None)
        if container is not None:
            container.go_bools[name] = dest


def _var_assignment(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"-var argument {text!r} must be in the form key=value")
    key, value = text.split("=", 1)
    if not key:
        raise argparse.ArgumentTypeError(f"-var argument {text!r} has an empty variable name")
    return key, value


def add_var_flags(parser: argparse.ArgumentParser | Any) -> None:
    """``-var key=value`` (repeatable, ordered) and ``-var-file path`` (repeatable, ordered).

    Results: ``args.vars: list[tuple[str, str]]``, ``args.var_files: list[str]``.
    """
    flag(
        parser,
        "var",
        dest="vars",
        action="append",
        default=[],
        type=_var_assignment,
        metavar="KEY=VALUE",
        help="variable for templates, can be used multiple times",
    )
    flag(
        parser,
        "var-file",
        dest="var_files",
        action="append",
        default=[],
        metavar="PATH",
        help="JSON or HCL2 file containing user variables, can be used multiple times",
    )


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class _ExtendComma(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        current = list(getattr(namespace, self.dest, None) or [])
        current.extend(values)
        setattr(namespace, self.dest, current)


def add_selection_flags(parser: argparse.ArgumentParser | Any) -> None:
    """``-only`` / ``-except``: comma-separated globs on full build names, repeatable.

    Results: ``args.only: list[str]``, ``args.except_: list[str]``.
    """
    flag(
        parser,
        "only",
        dest="only",
        action=_ExtendComma,
        default=[],
        type=_comma_list,
        metavar="NAMES",
        help="build only the specified builds (comma-separated globs)",
    )
    flag(
        parser,
        "except",
        dest="except_",
        action=_ExtendComma,
        default=[],
        type=_comma_list,
        metavar="NAMES",
        help="run all builds and post-processors other than these (comma-separated globs)",
    )


def add_ui_flags(parser: argparse.ArgumentParser | Any) -> None:
    """``-color``, ``-timestamp-ui`` and ``-machine-readable`` (also global)."""
    bool_flag(
        parser, "color", "disable color output with -color=false (on by default)", default=True
    )
    bool_flag(parser, "timestamp-ui", "prefix every UI line with an RFC3339 timestamp")
    bool_flag(parser, "machine-readable", "produce machine-readable output")


def add_target(parser: argparse.ArgumentParser | Any, required: bool = True) -> None:
    parser.add_argument(
        "target",
        nargs=None if required else "?",
        metavar="TEMPLATE",
        help="a template file (*.pkr.hcl) or a directory of them",
    )


def make_ui(args: argparse.Namespace, sensitive_values: Sequence[str] = ()) -> RootUi:
    """The root UI for a command, honouring -color, -timestamp-ui, -machine-readable.

    ``sensitive_values`` are registered for redaction in every output and log.
    """
    from bakehouse import log
    from bakehouse.ui import RootUi

    log.add_sensitive(sensitive_values)
    machine = bool(getattr(args, "machine_readable", False))
    color = bool(getattr(args, "color", True))
    if machine or os.environ.get("BAKEHOUSE_NO_COLOR") or os.environ.get("NO_COLOR"):
        color = False
    try:
        isatty = sys.stdout.isatty()
    except (AttributeError, ValueError):
        isatty = False
    if not isatty and os.environ.get("BAKEHOUSE_FORCE_COLOR") != "1":
        color = False
    return RootUi(
        stream=sys.stdout,
        color=color,
        timestamps=bool(getattr(args, "timestamp_ui", False)),
        machine_readable=machine,
    )


def datasource_runner(factory: ComponentFactory) -> Any:
    """A ``datasource_runner`` for the template loader: runs data sources through
    the command's component factory (built-in or plugin), one short-lived
    process per source."""
    from bakehouse.sdk.problems import ConfigError

    def run(type_: str, config: dict[str, Any], pos: SourcePos) -> dict[str, Any]:
        from bakehouse.hcl.diagnostics import Diagnostics

        key = f"datasource:{type_}:{pos}"
        try:
            source = factory.create("datasource", type_, key)
            source.configure(config)
            result: dict[str, Any] = source.execute()
            return result
        except ConfigError as exc:
            diagnostics = Diagnostics()
            for problem in exc.problems:
                diagnostics.error(
                    f"Invalid {type_} data source configuration", problem.message, pos
                )
            raise diagnostics from None
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM while a data source's plugin never answers:
            # say which one held the template up before it is stopped.
            import sys

            for waiting in factory.unanswered():
                sys.stderr.write(f"Plugin {waiting}; stopping it.\n")
            raise
        finally:
            factory.release(key)

    return run


#: Summary of the warning for a name set in a var file but not declared.
UNDECLARED_VAR_WARNING = "Undefined variable"


def drop_undeclared_var_warnings(warnings: Diagnostics) -> None:
    """Remove the "Undefined variable" warnings (var-file names not declared)."""
    warnings.items = [w for w in warnings.items if w.summary != UNDECLARED_VAR_WARNING]


@contextlib.contextmanager
def kept_until_exit() -> Iterator[None]:
    """Around loading the template, which a command keeps until it exits: no
    cyclic garbage collection meanwhile, and none rescans what was loaded
    afterwards (``gc.freeze``): a 10,000-line template is some 300,000 objects,
    which every full collection walked again. Reference counting still frees
    what is dropped (parse trees are acyclic); only cyclic garbage made while
    loading stays until the command exits."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def start_plugins_early(args: argparse.Namespace, manager: PluginManager) -> dict[str, Body] | None:
    """Parse the template's files and start the plugin processes its builds
    name (:mod:`bakehouse.template.prescan`) before it is evaluated: their
    start-up overlaps the core's. Not with ``-only``/``-except`` (a build
    left out must not start a plugin). Returns the parsed files for
    :func:`load_template` (None: the loader parses, and reports, as usual)."""
    from bakehouse.template.prescan import (
        cached_components,
        parse_target,
        remember_components,
        used_components,
    )

    target = getattr(args, "target", None) or "."
    selected_all = not getattr(args, "only", None) and not getattr(args, "except_", None)
    if selected_all:
        # Files unchanged since the last run: start the plugins before even
        # importing the parser (the loader parses afterwards).
        cached = cached_components(target)
        if cached is not None:
            manager.start_early(cached)
            return None
    with kept_until_exit():  # as load_template's: collections do not walk the syntax tree
        parsed = parse_target(target)
    if parsed is not None:
        builds = used_components(parsed)
        if selected_all:
            manager.start_early(builds)
        remember_components(target, builds)
    return parsed


def load_template(
    args: argparse.Namespace,
    ui: RootUi | None = None,
    *,
    syntax_only: bool = False,
    components: ComponentFactory | None = None,
    parsed: dict[str, Body] | None = None,
) -> tuple[Template | None, Diagnostics | None]:
    """Load ``args.target`` with ``args.vars``/``args.var_files``; print diagnostics.

    Data sources run through ``components`` (the command's component factory);
    without one they are not run. ``parsed``: the files already parsed.

    Returns ``(template, warnings)``; the template is None when loading failed
    (the errors have then been printed on ``ui``, or stdout when ``ui`` is None).
    """
    from bakehouse.hcl.diagnostics import Diagnostics
    from bakehouse.template.loader import load_template as load
    from bakehouse.ui.diagnostics import print_diagnostics

    if ui is None:
        ui = make_ui(args)
    target = getattr(args, "target", None) or "."
    if not os.path.exists(target):
        diagnostics = Diagnostics()
        diagnostics.error(
            "Failed to read template",
            f"The path {target!r} does not exist: give a *.pkr.hcl file or a directory.",
        )
        print_diagnostics(ui, diagnostics)
        return None, diagnostics
    try:
        with kept_until_exit():
            template, warnings = load(
                target,
                variables=list(getattr(args, "vars", []) or []),
                var_files=list(getattr(args, "var_files", []) or []),
                environ=os.environ,
                datasource_runner=datasource_runner(components) if components is not None else None,
                syntax_only=syntax_only,
                parsed=parsed,
            )
    except Diagnostics as diagnostics:
        print_diagnostics(ui, diagnostics)
        return None, diagnostics
    from bakehouse import log

    log.add_sensitive(template.sensitive_values)
    # build: as Packer 1.16, undeclared names in var files are silent unless
    # -warn-on-undeclared-var (commands without that flag keep the warning).
    if getattr(args, "warn_on_undeclared_var", None) is False:
        drop_undeclared_var_warnings(warnings)
    if warnings:
        print_diagnostics(ui, warnings)
    return template, warnings


def check_required_plugins(template: Template, ui: RootUi, target: str) -> bool:
    """Whether every ``required_plugins`` entry is met; if not, say which
    ``bakehouse init`` would fix it. Nothing is discovered without entries."""
    if not template.required_plugins:
        return True
    from bakehouse.cli.init import discovered_plugins
    from bakehouse.plugin.requirements import (
        RequirementError,
        find_installation,
        missing_message,
        requirements_of,
    )

    try:
        requirements = requirements_of(template.required_plugins)
    except RequirementError as exc:
        ui.error(f"Error: Invalid required_plugins entry: {exc}")
        return False
    plugins = discovered_plugins()
    missing = [r for r in requirements if find_installation(r, plugins) is None]
    if missing:
        ui.error("Error: Missing plugins\n\n" + missing_message(missing, target))
        return False
    return True
