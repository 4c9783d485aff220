"""Helpers for the docker plugin's in-process tests: a recording Ui and a Hook
that runs plain functions against the builder's communicator, the way the
core runs provisioners."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bakehouse.sdk import (
    HOOK_CLEANUP_PROVISION,
    HOOK_PROVISION,
    BuildInfo,
    Communicator,
    Context,
    Hook,
    Ui,
)
from bakehouse.testing import FakeUi as RecordingUi  # noqa: F401  (the docker tests' name)

ProvisionFunction = Callable[[Communicator, dict[str, Any], Context], None]


@dataclass
class FunctionHook(Hook):
    """Runs ``provision`` functions for the provision hook, ``on_cleanup`` for the cleanup hook."""

    provision: list[ProvisionFunction] = field(default_factory=list)
    on_cleanup: list[ProvisionFunction] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def run(self, name: str, ui: Ui, communicator: Communicator | None, data: dict[str, Any], ctx: Context) -> None:
        self.calls.append((name, dict(data)))
        functions = {HOOK_PROVISION: self.provision, HOOK_CLEANUP_PROVISION: self.on_cleanup}.get(name, [])
        for function in functions:
            ctx.check()
            assert communicator is not None
            function(communicator, data, ctx)


def run_shell(communicator: Communicator, command: str, ctx: Context) -> tuple[int, str, str]:
    """Run ``command``; return (status, stdout, stderr)."""
    out: list[bytes] = []
    err: list[bytes] = []
    status = communicator.execute(command, on_stdout=out.append, on_stderr=err.append, ctx=ctx)
    return status, b"".join(out).decode(), b"".join(err).decode()


def build_info(run_id: str, on_error: str = "cleanup", name: str = "test") -> BuildInfo:
    return BuildInfo(name=name, builder_type="docker", build_name=f"docker.{name}", run_id=run_id, on_error=on_error)
