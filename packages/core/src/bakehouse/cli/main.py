"""``bakehouse``: the supervisor and the command dispatcher.

The process the user starts is a small supervisor. Right after the minimal
imports it forks (``os.fork``) a worker that does the real work, then only
waits for it. If the worker dies by a signal or an uncaught
exception, the supervisor writes ``crash.log`` in the current directory with
the traceback, the last log lines, the version and the command line (secrets
redacted) and tells the user where it is.

Signals: the supervisor ignores SIGINT (the terminal delivers Ctrl-C to the
whole foreground process group, so the worker gets it directly) and forwards
SIGTERM to the worker, which cancels its builds as for Ctrl-C.

Commands are modules ``bakehouse.cli.<name>`` with ``add_arguments(parser)``
and ``run(args) -> int``; they are imported only when dispatched so that
``bakehouse version`` stays fast.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from types import FrameType

#: Command name -> (module under ``bakehouse.cli``, one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("build", "build image(s) from template"),
    "validate": ("validate", "check that a template is valid"),
    "inspect": ("inspect", "see components of a template"),
    "fmt": ("fmt", "rewrites HCL2 config files to canonical format"),
    "console": ("console", "creates a console for testing variable interpolation"),
    "hcl2_upgrade": ("hcl2_upgrade", "transform a JSON template into an HCL2 template"),
    "init": ("init", "install the plugins a template requires (packer.required_plugins)"),
    "cleanup": ("cleanup", "remove temporary resources left by runs that died"),
    "plugins": ("plugins", "interact with installed plugins"),
    "version": ("version", "prints the Bakehouse version"),
}

#: Test-only hook: ``BAKEHOUSE_TEST_CRASH=exception`` (or ``1``) makes the worker
#: raise an uncaught exception, ``BAKEHOUSE_TEST_CRASH=signal`` makes it die by
#: SIGSEGV, after the command started. Used by tests/e2e/test_crash_log.py.
TEST_CRASH_ENV = "BAKEHOUSE_TEST_CRASH"

#: Set in the worker so that nested invocations in the same process tree can
#: tell they are supervised (and for debugging).
SUPERVISED_ENV = "BAKEHOUSE_SUPERVISED"

#: Exit status of a worker that raised an uncaught exception.
CRASH_EXIT = 70

_CRASH_LOG_TAIL_LINES = 200


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        "Usage: bakehouse [--version] [--help] <command> [<args>]",
        "",
        "Available commands are:",
    ]
    for name, (_module, summary) in COMMANDS.items():
        lines.append(f"    {name.ljust(width)}    {summary}")
    return "\n".join(lines) + "\n"


def _available(name: str) -> bool:
    """A command is offered when its module is installed (others' areas may lag)."""
    import importlib.util

    module = COMMANDS[name][0]
    return importlib.util.find_spec(f"bakehouse.cli.{module}") is not None


def dispatch(argv: list[str]) -> int:
    """Parse ``argv`` (without the program name) and run the command. In the worker."""
    # -machine-readable is global and may appear anywhere, as in Packer.
    machine_readable = False
    rest: list[str] = []
    for arg in argv:
        if arg in ("-machine-readable", "--machine-readable"):
            machine_readable = True
        else:
            rest.append(arg)
    if not rest or rest[0] in ("-h", "-help", "--help", "help"):
        sys.stdout.write(_usage())
        return 0 if rest else 1
    if rest[0] in ("-v", "-version", "--version"):
        rest = ["version", *rest[1:]]
    name, command_args = rest[0], rest[1:]
    if name == "plugin":  # Packer's silent alias
        name = "plugins"
    if name not in COMMANDS or not _available(name):
        sys.stderr.write(f"bakehouse: unknown command {name!r}\n\n{_usage()}")
        return 1

    import importlib

    from bakehouse.cli.common import ArgumentParser, UsageError

    module = importlib.import_module(f"bakehouse.cli.{COMMANDS[name][0]}")
    parser = ArgumentParser(prog=f"bakehouse {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    try:
        args = parser.parse_args(command_args)
    except UsageError as exc:
        sys.stderr.write(f"Error: {exc}\n\n")
        sys.stderr.write(parser.format_help())
        return 1
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    args.machine_readable = machine_readable or bool(getattr(args, "machine_readable", False))
    args.argv = ["bakehouse", *argv]

    crash = os.environ.get(TEST_CRASH_ENV, "")
    if crash == "signal":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif crash:
        raise RuntimeError("crash requested by BAKEHOUSE_TEST_CRASH (test hook)")

    result: int = module.run(args)
    return result


# --------------------------------------------------------------------------- worker


def _terminate_as_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


#: In each supervisor's temporary directory: ``<pid> <start time>`` of the
#: supervisor, so that ``bakehouse cleanup`` can tell a directory whose owner
#: was killed (SIGKILL leaves it behind) from one in use.
RUN_DIR_PREFIX = "bakehouse-run-"
RUN_DIR_MARKER = "supervisor"

_PR_SET_PDEATHSIG = 1

#: In the worker: its supervisor's ``bakehouse-run-*`` directory. ``build``
#: records it in its journal so that ``bakehouse cleanup`` can remove it after
#: a SIGKILL of both, whatever ``TMPDIR`` the cleanup runs with.
supervisor_dir: str | None = None


def _die_with_supervisor(supervisor_pid: int) -> None:
    """SIGTERM this worker when the supervisor dies (even by SIGKILL), so the
    builds are cancelled and cleaned up instead of carrying on unsupervised."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the supervisor's SIGTERM forward still works
        pass
    if os.getppid() != supervisor_pid:  # it died between fork and prctl
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_process(argv: list[str], crash_dir: str, supervisor_pid: int) -> int:
    """The forked worker's whole life; returns its exit status.

    The child never returns into the supervisor's code: the caller passes this
    status to ``os._exit``, so the supervisor's ``finally`` blocks and atexit
    handlers do not run twice. An exception that escapes ``_worker`` is a crash
    (status 1, traceback on stderr); ``sys.exit(code)`` gives ``code``.
    """
    try:
        _worker(argv, crash_dir, supervisor_pid)
        code = 0
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            sys.stderr.write(f"{exc.code}\n")
            code = 1
    except BaseException:
        import traceback

        sys.stderr.write("bakehouse worker:\n")
        traceback.print_exc()
        code = 1
    finally:
        import threading

        # As at a normal interpreter exit: wait for non-daemon threads.
        threading._shutdown()  # type: ignore[attr-defined]
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except (AttributeError, ValueError, OSError):
                pass
    return code


def _worker(argv: list[str], crash_dir: str, supervisor_pid: int) -> None:
    """Body of the forked worker process."""
    global supervisor_dir
    _die_with_supervisor(supervisor_pid)
    supervisor_dir = crash_dir
    try:
        _work(argv, crash_dir)
    finally:
        if os.getppid() != supervisor_pid:
            # Orphaned: nobody else will remove the supervisor's directory.
            import shutil

            shutil.rmtree(crash_dir, ignore_errors=True)


def _work(argv: list[str], crash_dir: str) -> None:
    # `console` and prompts read the user's terminal as UTF-8 text, whatever the locale.
    try:
        sys.stdin = open(0, encoding=sys.getdefaultencoding(), closefd=False)  # noqa: SIM115
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Until a command installs its own handling (build cancels its builds),
    # SIGTERM interrupts like Ctrl-C so that `finally` blocks still stop plugins.
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    os.environ[SUPERVISED_ENV] = "1"
    # A fatal signal (SIGSEGV in a C extension, SIGABRT...) leaves no Python
    # exception: faulthandler writes every thread's stack for the crash report.
    import faulthandler

    fault_file = open(os.path.join(crash_dir, "fault.txt"), "w", encoding="utf-8")  # noqa: SIM115
    faulthandler.enable(file=fault_file, all_threads=True)
    from bakehouse import log

    log.setup(crash_capture_path=os.path.join(crash_dir, "worker.log"))
    try:
        code = dispatch(argv)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        # Ctrl-C outside a build (parsing, console...): a quiet exit, not a crash.
        sys.stderr.write("Interrupted.\n")
        code = 1
    except BaseException:
        import traceback

        text = traceback.format_exc()
        try:
            log.get("bakehouse.cli").error("uncaught exception in worker:\n%s", text)
        except Exception:  # logging itself is broken; the traceback file still says it
            pass
        with open(os.path.join(crash_dir, "traceback.txt"), "w", encoding="utf-8") as fh:
            fh.write(log.redact(text))
        sys.stdout.flush()
        code = CRASH_EXIT
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


# ---------------------------------------------------------------------- supervisor


_child_pid: int | None = None


def _forward_sigterm(signum: int, _frame: FrameType | None) -> None:
    if _child_pid is not None:
        try:
            os.kill(_child_pid, signum)
        except ProcessLookupError:
            pass


def redact_argv(argv: list[str]) -> list[str]:
    """Hide the values of ``-var k=v`` (they may be secrets) for crash reports."""
    redacted: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            key = arg.split("=", 1)[0]
            redacted.append(f"{key}=<redacted>")
            hide_next = False
            continue
        bare = arg.lstrip("-")
        if bare == "var":
            hide_next = True
            redacted.append(arg)
        elif bare.startswith("var="):
            key = bare[4:].split("=", 1)[0]
            redacted.append(f"{arg[: len(arg) - len(bare)]}var={key}=<redacted>")
        else:
            redacted.append(arg)
    return redacted


#: Signals by which a process dies of its own fault (a bug); any other one
#: that kills the worker came from outside (kill, the out-of-memory killer).
_CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,
                            signal.SIGABRT, signal.SIGSYS, signal.SIGTRAP})


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"uncaught exception (exit status {exitcode})"


def _write_private(path: str, text: str) -> None:
    """Write a 0600 file (a crash report quotes log lines: only its owner reads it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _write_crash_log(argv: list[str], crash_dir: str, exitcode: int | None) -> str:
    from bakehouse import __version__

    reason = _exit_reason(exitcode)
    traceback_text = ""
    try:
        with open(os.path.join(crash_dir, "traceback.txt"), encoding="utf-8") as fh:
            traceback_text = fh.read()
    except OSError:
        try:
            with open(os.path.join(crash_dir, "fault.txt"), encoding="utf-8", errors="replace") as fh:
                traceback_text = fh.read()
        except OSError:
            traceback_text = ""
        if not traceback_text.strip():
            traceback_text = "(no Python traceback: the worker died without running its handlers)\n"
    tail: list[str] = []
    try:
        with open(os.path.join(crash_dir, "worker.log"), encoding="utf-8", errors="replace") as fh:
            from collections import deque

            tail = list(deque(fh, maxlen=_CRASH_LOG_TAIL_LINES))
    except OSError:
        pass
    path = os.path.join(os.getcwd(), "crash.log")
    content = [
        "Bakehouse crash report",
        f"version: {__version__}",
        f"python: {sys.version.split()[0]}",
        f"argv: {' '.join(redact_argv(argv))}",
        f"reason: {reason}",
        "",
        "Traceback:",
        traceback_text.rstrip("\n"),
        "",
        f"Last {len(tail)} log lines:",
        "".join(tail).rstrip("\n"),
        "",
    ]
    try:
        _write_private(path, "\n".join(content))
    except OSError:
        # Not in crash_dir: the supervisor removes that directory on its way out.
        fd, path = tempfile.mkstemp(prefix="bakehouse-crash-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(content))
    return path


def supervise(argv: list[str]) -> int:
    """Fork the worker, wait for it, and report a crash. Returns the exit status."""
    global _child_pid
    crash_dir = tempfile.mkdtemp(prefix=RUN_DIR_PREFIX)
    try:
        with open(os.path.join(crash_dir, RUN_DIR_MARKER), "w", encoding="ascii") as fh:
            fh.write(f"{os.getpid()} {time.time():.3f}\n")
        supervisor_pid = os.getpid()
        # Ignore Ctrl-C before forking would make the child inherit SIG_IGN; the
        # worker restores its own handlers first thing.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # Output buffered now would be written twice, once by each process.
        sys.stdout.flush()
        sys.stderr.flush()
        worker_pid = os.fork()
        if worker_pid == 0:  # the worker: never returns
            status = 1
            try:
                status = _worker_process(argv, crash_dir, supervisor_pid)
            finally:
                os._exit(status)
        _child_pid = worker_pid
        signal.signal(signal.SIGTERM, _forward_sigterm)
        exitcode: int | None = None
        while exitcode is None:
            try:
                _, wait_status = os.waitpid(worker_pid, 0)  # retried after a signal handler (PEP 475)
            except ChildProcessError:
                break
            exitcode = os.waitstatus_to_exitcode(wait_status)
        crashed = exitcode is not None and (
            exitcode < 0
            and -exitcode not in (signal.SIGINT, signal.SIGTERM)
            or exitcode == CRASH_EXIT
        )
        if exitcode is not None and exitcode < 0 and not crashed:
            return 1  # interrupted or terminated before handlers existed
        if not crashed:
            return int(exitcode or 0)
        path = _write_crash_log(argv, crash_dir, exitcode)
        if exitcode is not None and exitcode < 0 and -exitcode not in _CRASH_SIGNALS:
            # Not a bug of ours: another process (or the kernel's out-of-memory
            # killer) killed the worker, which had no chance to clean up.
            sys.stderr.write(
                f"\nBakehouse was {_exit_reason(exitcode)} (worker pid {worker_pid}) before it "
                "could stop its plugins and remove its temporary resources.\n"
                "Run `bakehouse cleanup` to remove what it left behind.\n"
                f"The last log lines are in {path}\n"
            )
            return 1
        banner = "!" * 23 + " BAKEHOUSE CRASH " + "!" * 23
        sys.stderr.write(
            f"\n{banner}\n\nBakehouse crashed ({_exit_reason(exitcode)})! "
            "This is always a bug; please report it.\n"
            f"A crash log with the traceback and the last log lines was written to:\n\n"
            f"    {path}\n\n{banner}\n"
        )
        return 1
    finally:
        import shutil

        shutil.rmtree(crash_dir, ignore_errors=True)


def main() -> None:
    """Console-script entry point."""
    argv = sys.argv[1:]
    if os.environ.get("BAKEHOUSE_NO_SUPERVISOR") == "1":
        # Debugging aid: run the command in this process (no crash.log).
        from bakehouse import log

        log.setup()
        sys.exit(dispatch(argv))
    _exit_now(supervise(argv))


def _exit_now(code: int) -> None:
    """End the supervisor without the interpreter's teardown: the worker did the
    work and has exited, so nothing here needs finalizing (no atexit handler, no
    logging, no plugin), and the teardown costs 5-10 ms after the last output
    of every command. The worker and the plugins end the same way."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        code = code or 120  # the status Python gives when it cannot flush at exit
    os._exit(code)


if __name__ == "__main__":
    main()
