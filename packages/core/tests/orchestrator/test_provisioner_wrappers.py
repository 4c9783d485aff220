"""pause_before / timeout / max_retries / continue_on_error and only/except."""

import time

import pytest
from bakehouse.orchestrator.provisioning import (
    Component,
    ProvisionerTimeout,
    ProvisionHook,
    applies_to,
    run_with_retries,
)
from bakehouse.sdk import HOOK_CLEANUP_PROVISION, HOOK_PROVISION, BuildInfo, Cancelled, Context, Ui
from orchestrator_plans import RecordingProvisioner, reset, spec

INFO = BuildInfo(name="a", builder_type="null", build_name="null.a")


class ListUi(Ui):
    def __init__(self):
        self.lines = []

    def say(self, message):
        self.lines.append(("say", message))

    def message(self, message):
        self.lines.append(("message", message))

    def error(self, message):
        self.lines.append(("error", message))

    def texts(self):
        return [text for _, text in self.lines]


def hook_with(*specs, cleanup=None, ui=None):
    ui = ui or ListUi()
    components = [Component(s, RecordingProvisioner()) for s in specs]
    for component in components:
        component.instance.prepare(component.spec.config(None), INFO)
    cleanup_component = Component(cleanup, RecordingProvisioner()) if cleanup else None
    return ProvisionHook(ui, INFO, "null.a", components, cleanup_component, run_id="RUN"), ui


def test_retries_say_packer_messages_and_use_fresh_contexts():
    reset()
    hook, ui = hook_with(
        spec("provisioner", "recording", {"id": "p", "fail_times": 2}, max_retries=2)
    )
    hook.run(HOOK_PROVISION, ui, None, {}, Context())
    assert ui.texts() == [
        'Provisioner failed with "failure 1", retrying with 2 trie(s) left',
        'Provisioner failed with "failure 2", retrying with 1 trie(s) left',
    ]
    contexts = [c["ctx"] for c in RecordingProvisioner.calls]
    assert len(contexts) == 3 and len({id(c) for c in contexts}) == 3


def test_retry_limit_reached_raises_last_error():
    reset()
    hook, ui = hook_with(
        spec("provisioner", "recording", {"id": "p", "fail_times": 5}, max_retries=1)
    )
    with pytest.raises(RuntimeError, match="failure 2"):
        hook.run(HOOK_PROVISION, ui, None, {}, Context())
    assert ui.texts()[-1] == "retry limit reached."


def test_timeout_cancels_attempt_and_next_retry_is_not_already_cancelled():
    reset()
    hook, ui = hook_with(
        spec(
            "provisioner",
            "recording",
            {"id": "p", "sleep": 5, "fail_times": 0},
            timeout=0.2,
            max_retries=1,
        )
    )
    started = time.monotonic()
    with pytest.raises(ProvisionerTimeout, match="timed out after 200ms"):
        hook.run(HOOK_PROVISION, ui, None, {}, Context())
    assert time.monotonic() - started < 3
    assert [c["cancelled_at_start"] for c in RecordingProvisioner.calls] == [False, False]
    assert "Setting a 200ms timeout for the next provisioner..." in ui.texts()
    assert "Cancelling provisioner after a timeout..." in ui.texts()


def test_timeout_still_applies_with_pause_before():
    reset()
    hook, ui = hook_with(
        spec("provisioner", "recording", {"id": "p", "sleep": 5}, pause_before=0.1, timeout=0.2)
    )
    with pytest.raises(ProvisionerTimeout):
        hook.run(HOOK_PROVISION, ui, None, {}, Context())
    assert ui.texts()[:2] == [
        "Pausing 100ms before the next provisioner...",
        "Setting a 200ms timeout for the next provisioner...",
    ]


def test_continue_on_error_keeps_the_build_going():
    reset()
    hook, ui = hook_with(
        spec("provisioner", "recording", {"id": "bad", "fail_times": 9}, continue_on_error=True),
        spec("provisioner", "recording", {"id": "good"}),
    )
    hook.run(HOOK_PROVISION, ui, None, {}, Context())
    assert [c["id"] for c in RecordingProvisioner.calls] == ["bad", "good"]
    assert ui.texts()[0].startswith(
        'Warning: Provisioner failed with "failure 1", but continue_on_error is set'
    )


def test_cancellation_is_not_swallowed_by_continue_on_error_or_retries():
    reset()
    hook, ui = hook_with(
        spec(
            "provisioner",
            "recording",
            {"id": "p", "sleep": 5},
            continue_on_error=True,
            max_retries=3,
        )
    )
    ctx = Context()
    import threading

    threading.Timer(0.2, ctx.cancel).start()
    with pytest.raises(Cancelled):
        hook.run(HOOK_PROVISION, ui, None, {}, ctx)
    assert len(RecordingProvisioner.calls) == 1


def test_only_and_except_match_exact_source_reference():
    assert applies_to(spec("provisioner", "x", only=["null.a"]), "null.a")
    assert not applies_to(spec("provisioner", "x", only=["null.b"]), "null.a")
    assert not applies_to(spec("provisioner", "x", only=["*.a"]), "null.a")  # no globs
    assert not applies_to(spec("provisioner", "x", except_=["null.a"]), "null.a")
    reset()
    hook, ui = hook_with(
        spec("provisioner", "recording", {"id": "skipped"}, only=["null.other"]),
        spec("provisioner", "recording", {"id": "ran"}, except_=["null.other"]),
    )
    hook.run(HOOK_PROVISION, ui, None, {}, Context())
    assert [c["id"] for c in RecordingProvisioner.calls] == ["ran"]


def test_cleanup_hook_runs_only_the_error_cleanup_provisioner():
    reset()
    hook, ui = hook_with(
        spec("provisioner", "recording", {"id": "main"}),
        cleanup=spec("provisioner", "recording", {"id": "cleanup"}),
    )
    hook.cleanup_provisioner.instance.prepare({"id": "cleanup"}, INFO)
    hook.run(HOOK_CLEANUP_PROVISION, ui, None, {}, Context())
    assert [c["id"] for c in RecordingProvisioner.calls] == ["cleanup"]


def test_config_is_reevaluated_with_generated_data():
    reset()
    seen = []

    def thunk(generated):
        seen.append(generated)
        return {"id": "p"}

    from bakehouse.template.plan import ComponentSpec
    from orchestrator_plans import POS

    s = ComponentSpec("provisioner", "recording", thunk, POS)
    hook, ui = hook_with(s)
    hook.run(HOOK_PROVISION, ui, None, {"ID": "i-123"}, Context())
    assert seen[0] is None
    assert seen[1] == {"ID": "i-123", "PackerRunUUID": "RUN"}


def test_run_with_retries_zero_retries_no_messages():
    ui = ListUi()
    with pytest.raises(ValueError):
        run_with_retries(ui, Context(), 0, lambda ctx: (_ for _ in ()).throw(ValueError("x")))
    assert ui.texts() == []


def test_a_provisioner_ignoring_its_timeout_is_abandoned(monkeypatch):
    from bakehouse.orchestrator import provisioning

    monkeypatch.setattr(provisioning, "TIMEOUT_GRACE_SECONDS", 0.3)
    ui = ListUi()
    started = time.monotonic()
    with pytest.raises(ProvisionerTimeout, match="did not stop"):
        provisioning.run_with_timeout(ui, Context(), 0.2, lambda ctx: time.sleep(5))
    assert time.monotonic() - started < 2
    assert "Cancelling provisioner after a timeout..." in ui.texts()
