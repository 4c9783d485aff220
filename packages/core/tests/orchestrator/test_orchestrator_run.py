"""Whole runs of hand-built plans through the orchestrator, with in-process components."""

import io
import time

from bakehouse.orchestrator.runner import BuildOptions, Orchestrator
from bakehouse.template.plan import Template
from bakehouse.ui import RootUi
from orchestrator_plans import RecordingProvisioner, TestComponents, null_build, reset, spec


def run(builds, **options):
    reset()
    out = io.StringIO()
    ui = RootUi(out, color=False)
    template = Template("t.pkr.hcl", ".", builds)
    code = Orchestrator(template, BuildOptions(**options), ui, TestComponents()).run()
    return code, out.getvalue()


def sleeper(id_, seconds=0.3, **meta):
    return spec("provisioner", "recording", {"id": id_, "sleep": seconds}, **meta)


def test_all_builds_succeed_exit_zero_and_summary():
    code, out = run([null_build("a", [sleeper("a", 0)]), null_build("b")])
    assert code == 0
    assert "==> null.a: Build 'null.a' finished after" in out
    assert "==> Builds finished. The artifacts of successful builds are:" in out
    assert out.count("--> null.a: Did not export anything. This is the null builder") == 1
    assert "--> null.b: Did not export anything" in out
    assert "Wait completed after" in out


def test_failing_build_does_not_stop_siblings():
    bad = spec("provisioner", "recording", {"id": "bad", "fail_times": 1})
    code, out = run([null_build("bad", [bad]), null_build("good", [sleeper("good", 0.2)])])
    assert code == 1
    assert "Build 'null.bad' errored after" in out and "failure 1" in out
    assert "Build 'null.good' finished after" in out
    assert "==> Some builds didn't complete successfully and had errors:" in out
    assert "--> null.bad: failure 1" in out
    assert "--> null.good: Did not export anything" in out


def test_parallel_builds_limit_is_honoured():
    builds = [null_build(str(i), [sleeper(str(i), 0.3)]) for i in range(4)]
    code, _ = run(builds, parallel_builds=2)
    assert code == 0
    assert RecordingProvisioner.max_running == 2


def test_parallel_builds_zero_means_unlimited():
    builds = [null_build(str(i), [sleeper(str(i), 0.4)]) for i in range(4)]
    started = time.monotonic()
    code, _ = run(builds, parallel_builds=0)
    assert code == 0
    assert RecordingProvisioner.max_running == 4
    assert time.monotonic() - started < 1.5


def test_only_matching_nothing_is_an_error():
    code, out = run([null_build("a")], only=["nomatch"])
    assert code == 1
    assert "did not match any build" in out and "null.a" in out
    assert "Error: No builds to run" in out


def test_config_error_is_reported_at_template_position_before_any_build_runs():
    broken = null_build("broken")
    broken.builder = spec("builder", "null", {"bogus_option": 1})
    code, out = run([broken, null_build("ok", [sleeper("ok", 0)])])
    assert code == 1
    assert "Error: Invalid configuration for builder \"null\" in build 'null.broken'" in out
    assert "on t.pkr.hcl line 3, column 1" in out
    assert out.index("Invalid configuration") < out.index("Build 'null.ok' finished")
    assert "Build 'null.broken'" not in out


def test_unknown_component_type_lists_known_types():
    plan = null_build("a", [spec("provisioner", "nope")])
    code, out = run([plan])
    assert code == 1
    assert "Unknown provisioner type 'nope'" in out and "sleep" in out


def test_post_processor_failure_fails_build_and_drops_its_artifacts():
    plan = null_build(
        "a",
        post_processor_chains=[
            [spec("post-processor", "scripted", {"fail": "exploded"})],
            [spec("post-processor", "scripted", {"id": "ok"}, name="second")],
        ],
    )
    code, out = run([plan])
    assert code == 1
    assert "1 error(s) occurred:\n\n* Post-processor failed: exploded" in out
    assert "Running post-processor: second (type scripted)" in out
    assert "Builds finished but no artifacts were created." in out


def _run_with_interrupts(builds, delays, **options):
    import signal
    import threading

    reset()
    out = io.StringIO()
    orchestrator = Orchestrator(
        Template("t.pkr.hcl", ".", builds),
        BuildOptions(**options),
        RootUi(out, color=False),
        TestComponents(),
    )
    for delay in delays:
        threading.Timer(delay, orchestrator.interrupts._handler, args=(signal.SIGINT, None)).start()
    started = time.monotonic()
    code = orchestrator.run()
    return code, out.getvalue(), time.monotonic() - started


def test_interrupt_cancels_running_builds_and_starts_no_more():
    builds = [null_build(str(i), [sleeper(str(i), 30)]) for i in range(3)]
    code, out, took = _run_with_interrupts(builds, [0.5], parallel_builds=2)
    assert code == 1
    assert took < 10
    assert "Cancelling build after receiving interrupt" in out
    assert "Cleanly cancelled builds after being interrupted." in out
    assert "Builds finished" not in out
    # the third build waited for the semaphore and never started
    assert sorted(c["id"] for c in RecordingProvisioner.calls) == ["0", "1"]
    assert "Build 'null.2'" not in out


def test_second_interrupt_stops_waiting():
    import threading

    release = threading.Event()

    class Stubborn(RecordingProvisioner):
        def provision(self, ui, communicator, generated, ctx):
            release.wait(30)  # ignores cancellation, like a hung remote command

    TestComponents.extra[("provisioner", "stubborn")] = Stubborn
    try:
        code, out, took = _run_with_interrupts(
            [null_build("s", [spec("provisioner", "stubborn")])], [0.3, 0.8]
        )
    finally:
        release.set()
        del TestComponents.extra[("provisioner", "stubborn")]
    assert code == 1
    assert took < 5
    assert "Second interrupt received" in out
