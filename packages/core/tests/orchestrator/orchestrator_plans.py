"""Hand-built build plans and small in-process components for orchestrator tests."""

from __future__ import annotations

import threading
import time
from typing import Any

from bakehouse.hcl.diagnostics import SourcePos
from bakehouse.orchestrator.components import BuiltinComponents
from bakehouse.sdk import Artifact, Context, PostProcessor, Provisioner, SimpleArtifact
from bakehouse.template.plan import BuildPlan, ComponentSpec

POS = SourcePos("t.pkr.hcl", 3, 1)


def spec(kind: str, type_: str, config: dict[str, Any] | None = None, **meta: Any) -> ComponentSpec:
    cfg = dict(config or {})
    return ComponentSpec(kind, type_, lambda generated, c=cfg: dict(c), POS, **meta)


def null_build(name: str, provisioners: list[ComponentSpec] | None = None, **kw: Any) -> BuildPlan:
    return BuildPlan(
        name=f"null.{name}",
        build_block_name="",
        source_type="null",
        source_name=name,
        builder=spec("builder", "null"),
        provisioners=provisioners or [],
        **kw,
    )


class RecordingProvisioner(Provisioner):
    """Records each call; fails the first ``fail_times`` calls; may sleep."""

    calls: list[dict[str, Any]] = []
    lock = threading.Lock()
    running = 0
    max_running = 0

    def provision(
        self, ui: Any, communicator: Any, generated: dict[str, Any], ctx: Context
    ) -> None:
        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.max_running = max(cls.max_running, cls.running)
            attempt = sum(1 for c in cls.calls if c["id"] == self.config.get("id"))
            cls.calls.append(
                {"id": self.config.get("id"), "ctx": ctx, "cancelled_at_start": ctx.cancelled}
            )
        try:
            if self.config.get("sleep"):
                if ctx.wait(float(self.config["sleep"])):
                    ctx.check()
            if attempt < int(self.config.get("fail_times", 0)):
                raise RuntimeError(f"failure {attempt + 1}")
        finally:
            with cls.lock:
                cls.running -= 1


class DestroyTracking(SimpleArtifact):
    destroyed: list[str] = []

    def destroy(self) -> None:
        type(self).destroyed.append(self.id)


class ScriptedPostProcessor(PostProcessor):
    """Returns what its config says: a new artifact id, keep, force_override, or an error."""

    def post_process(
        self, ui: Any, artifact: Artifact, ctx: Context
    ) -> tuple[Artifact | None, bool, bool]:
        if self.config.get("fail"):
            raise RuntimeError(self.config["fail"])
        if self.config.get("none"):
            return None, False, False
        new = DestroyTracking("test.pp", self.config["id"], f"artifact {self.config['id']}")
        return new, bool(self.config.get("keep", False)), bool(self.config.get("force", False))


class TestComponents(BuiltinComponents):
    """The built-ins plus the test components above."""

    extra = {
        ("provisioner", "recording"): RecordingProvisioner,
        ("post-processor", "scripted"): ScriptedPostProcessor,
    }

    def create(self, kind: str, type: str, build_key: str) -> Any:
        cls = self.extra.get((kind, type))
        if cls is not None:
            return cls()
        return super().create(kind, type, build_key)


def reset() -> None:
    RecordingProvisioner.calls = []
    RecordingProvisioner.running = 0
    RecordingProvisioner.max_running = 0
    DestroyTracking.destroyed = []


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False
