"""Running a local command so that nothing it starts outlives the build.

The command runs in its own session (so its process group holds the command
and everything it forks). Three ways it can be stopped:

* the build's :class:`~bakehouse.sdk.Context` is cancelled (Ctrl-C, timeout,
  core gone): the whole group gets SIGTERM, then SIGKILL after a grace period;
* this plugin process dies without running any Python (SIGKILL): a tiny
  watchdog ``/bin/sh`` holds the read end of a pipe whose write end only this
  process has; the kernel closes it, ``read`` returns, the watchdog kills the
  group and removes the files it was given (the temporary script and its
  journal entry). Packer leaves such grandchildren running;
* normal exit: the watchdog is dismissed; background processes the script
  deliberately left running are the user's business, as in Packer.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from bakehouse.sdk import Cancelled, Context

log = logging.getLogger("bakehouse_plugin_shell.local")

#: Seconds between SIGTERM and SIGKILL for a cancelled command.
KILL_GRACE_SECONDS = 3.0
#: Once the command exited, stop reading after this many seconds without
#: output (a process it left in the background may hold the pipes forever).
DRAIN_SECONDS = 1.0


class CommandStartError(RuntimeError):
    """The command could not be started at all (missing interpreter, ...)."""


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


_WATCHDOG = 'read pgid; read _; [ -n "$pgid" ] && kill -KILL -"$pgid" 2>/dev/null; [ $# -eq 0 ] || rm -f -- "$@"'


def _start_watchdog(orphan_files: Sequence[str]) -> tuple[subprocess.Popen[bytes], int]:
    """A /bin/sh that kills the process group whose id it reads first, then
    removes ``orphan_files``, as soon as our end of its stdin closes. Started
    before the command so that the command never runs unwatched for longer
    than one ``write``."""
    read_end, write_end = os.pipe()
    try:
        watchdog = subprocess.Popen(
            ["/bin/sh", "-c", _WATCHDOG, "bakehouse-shell-watchdog", *orphan_files],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    return watchdog, write_end


def _dismiss_watchdog(watchdog: subprocess.Popen[bytes], write_end: int) -> None:
    # Kill it first: closing the pipe first would make it kill the group,
    # including background processes the user wanted to keep.
    watchdog.kill()
    watchdog.wait()
    os.close(write_end)


def run_local_command(
    argv: Sequence[str],
    *,
    on_stdout: Callable[[bytes], None],
    on_stderr: Callable[[bytes], None],
    ctx: Context,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    orphan_files: Sequence[str] = (),
) -> int:
    """Run ``argv``; deliver output chunks as they come; return the exit status.

    A command killed by a signal reports ``128 + signal`` as a shell would.
    Raises :class:`Cancelled` when ``ctx`` was cancelled (after the process
    group is gone) and :class:`CommandStartError` when ``argv[0]`` cannot run.
    ``orphan_files`` are removed by the watchdog if this process dies meanwhile.
    """
    ctx.check()
    watchdog, watchdog_pipe = _start_watchdog(orphan_files)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    except OSError as exc:
        _dismiss_watchdog(watchdog, watchdog_pipe)
        raise CommandStartError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
    pgid = proc.pid
    try:
        os.write(watchdog_pipe, f"{pgid}\n".encode())
    except OSError:  # the watchdog is gone; cancellation still works without it
        log.debug("watchdog for pgid %d is not running", pgid)

    lock = threading.Lock()
    finished = False
    kill_timer: list[threading.Timer] = []

    def stop_group() -> None:
        # Registered on a context that may outlive this command: do nothing
        # once the command is done, so a later cancel never signals a stale pgid.
        with lock:
            if finished:
                return
            log.debug("cancelling local command (pgid %d)", pgid)
            _signal_group(pgid, signal.SIGTERM)
            timer = threading.Timer(KILL_GRACE_SECONDS, _signal_group, (pgid, signal.SIGKILL))
            timer.daemon = True
            timer.start()
            kill_timer.append(timer)

    ctx.on_cancel(stop_group)
    try:
        _pump_until_exit(proc, on_stdout, on_stderr)
        status = proc.wait()
    finally:
        with lock:
            finished = True
            for timer in kill_timer:
                timer.cancel()
        if ctx.cancelled or proc.returncode is None:
            # Stragglers that ignored SIGTERM, or we are unwinding from an error.
            _signal_group(pgid, signal.SIGKILL)
            proc.wait()
        _dismiss_watchdog(watchdog, watchdog_pipe)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    if ctx.cancelled:
        raise Cancelled(ctx.reason or "context canceled")
    return status if status >= 0 else 128 - status


def _pump_until_exit(
    proc: subprocess.Popen[bytes],
    on_stdout: Callable[[bytes], None],
    on_stderr: Callable[[bytes], None],
) -> None:
    """Forward output until both pipes close, or until the command has exited
    and its pipes stayed silent for DRAIN_SECONDS (a background child keeps
    them open). Output that keeps flowing keeps being forwarded."""
    assert proc.stdout is not None and proc.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ, on_stdout)
    selector.register(proc.stderr, selectors.EVENT_READ, on_stderr)
    exited_or_last_output: float | None = None
    try:
        while selector.get_map():
            if exited_or_last_output is None and proc.poll() is not None:
                exited_or_last_output = time.monotonic()
            if exited_or_last_output is not None and time.monotonic() - exited_or_last_output >= DRAIN_SECONDS:
                log.debug("command exited; a background process still holds its output open")
                return
            for key, _ in selector.select(timeout=0.2):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                key.data(chunk)
                if exited_or_last_output is not None:
                    exited_or_last_output = time.monotonic()
    finally:
        selector.close()
