"""multistep: steps run in order, cleanups of the steps that ran run in reverse
on success, halt, error and cancellation; -on-error=abort skips them."""

from __future__ import annotations

from bakehouse.sdk import CONTINUE, HALT, Action, Cancelled, Context, Runner, StateBag, Step, Ui


class RecordingUi(Ui):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, message: str) -> None:
        self.lines.append("say: " + message)

    def message(self, message: str) -> None:
        self.lines.append("message: " + message)

    def error(self, message: str) -> None:
        self.lines.append("error: " + message)


class Recorder(Step):
    def __init__(self, name: str, log: list[str], outcome: object = CONTINUE) -> None:
        self.name = name
        self.log = log
        self.outcome = outcome

    def run(self, state: StateBag) -> Action:
        self.log.append("run " + self.name)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        if callable(self.outcome):
            return self.outcome(state)  # type: ignore[no-any-return]
        return self.outcome  # type: ignore[return-value]

    def cleanup(self, state: StateBag) -> None:
        self.log.append("cleanup " + self.name)


def run(steps: list[Step], on_error: str = "cleanup", ctx: Context | None = None) -> tuple[StateBag, RecordingUi]:
    ui = RecordingUi()
    state = StateBag(ui=ui, ctx=ctx or Context())
    Runner(steps, on_error=on_error).run(state)
    return state, ui


def test_success_runs_every_step_then_cleans_up_in_reverse() -> None:
    log: list[str] = []
    state, _ = run([Recorder("a", log), Recorder("b", log), Recorder("c", log)])
    assert log == ["run a", "run b", "run c", "cleanup c", "cleanup b", "cleanup a"]
    assert state.get("error") is None and not state["halted"] and not state["cancelled"]


def test_halt_stops_and_cleans_only_what_ran() -> None:
    log: list[str] = []
    state, _ = run([Recorder("a", log), Recorder("b", log, HALT), Recorder("c", log)])
    assert log == ["run a", "run b", "cleanup b", "cleanup a"]
    assert state["halted"]


def test_exception_is_recorded_and_cleanups_still_run() -> None:
    log: list[str] = []
    boom = RuntimeError("container failed to start")
    state, _ = run([Recorder("a", log), Recorder("b", log, boom), Recorder("c", log)])
    assert state["error"] is boom
    assert log == ["run a", "run b", "cleanup b", "cleanup a"]


def test_cancel_during_a_step_stops_before_the_next_and_cleans_up() -> None:
    log: list[str] = []
    ctx = Context()

    def cancel_now(state: StateBag) -> Action:
        ctx.cancel("interrupted")
        return CONTINUE

    state, _ = run([Recorder("a", log), Recorder("b", log, cancel_now), Recorder("c", log)], ctx=ctx)
    assert state["cancelled"]
    assert log == ["run a", "run b", "cleanup b", "cleanup a"]


def test_a_step_raising_cancelled_counts_as_cancellation() -> None:
    log: list[str] = []
    state, _ = run([Recorder("a", log), Recorder("b", log, Cancelled())])
    assert state["cancelled"] and state.get("error") is None
    assert log == ["run a", "run b", "cleanup b", "cleanup a"]


def test_on_error_abort_keeps_resources_and_says_so() -> None:
    log: list[str] = []
    state, ui = run(
        [Recorder("create container", log), Recorder("provision", log, HALT)], on_error="abort"
    )
    assert log == ["run create container", "run provision"]
    assert 'error: Step "provision" failed, aborting...' in ui.lines
    assert "error: aborted: skipping cleanup of step 'create container'" in ui.lines


def test_on_error_abort_still_cleans_up_after_success() -> None:
    log: list[str] = []
    run([Recorder("a", log)], on_error="abort")
    assert log == ["run a", "cleanup a"]


def test_a_failing_cleanup_does_not_stop_the_other_cleanups() -> None:
    log: list[str] = []

    class BadCleanup(Recorder):
        def cleanup(self, state: StateBag) -> None:
            super().cleanup(state)
            raise OSError("device busy")

    _, ui = run([Recorder("a", log), BadCleanup("b", log), Recorder("c", log)])
    assert log == ["run a", "run b", "run c", "cleanup c", "cleanup b", "cleanup a"]
    assert "error: Error cleaning up b: device busy" in ui.lines


def test_context_callbacks_children_and_check() -> None:
    parent = Context()
    child = parent.child()
    seen: list[str] = []
    child.on_cancel(lambda: seen.append("child"))
    parent.cancel("stop")
    assert child.cancelled and child.reason == "stop" and seen == ["child"]
    late: list[str] = []
    child.on_cancel(lambda: late.append("late"))
    assert late == ["late"]
    try:
        child.check()
    except Cancelled as exc:
        assert exc.reason == "stop"
    else:
        raise AssertionError("check() did not raise on a cancelled context")


class AnsweringUi(RecordingUi):
    """A terminal whose user types ``answers`` in turn, recorded with the questions."""

    def __init__(self, answers: list[str]) -> None:
        super().__init__()
        self.answers = answers

    def ask(self, question: str) -> str:
        self.lines.append("ask: " + question)
        return self.answers.pop(0)


def test_debug_pauses_before_cleanup_only_after_a_completed_pause() -> None:
    # Packer's debug runner puts a pause step after each step: the failed step
    # is cleaned up, but its pause (and so the pause before its cleanup) never ran.
    log: list[str] = []
    ui = AnsweringUi([""] * 3)
    state = StateBag(ui=ui, ctx=Context())
    Runner([Recorder("a", log), Recorder("b", log, HALT)], debug=True).run(state)
    assert log == ["run a", "run b", "cleanup b", "cleanup a"]
    assert [line for line in ui.lines if line.startswith("ask: ")] == [
        "ask: Pausing after run of step 'a'. Press enter to continue.",
        "ask: Pausing before cleanup of step 'a'. Press enter to continue.",
    ]


def test_on_error_ask_repeats_the_question_after_an_incorrect_answer() -> None:
    log: list[str] = []
    ui = AnsweringUi(["x", "a"])
    state = StateBag(ui=ui, ctx=Context())
    Runner([Recorder("a", log), Recorder("b", log, HALT)], on_error="ask").run(state)
    assert log == ["run a", "run b"]  # "a": abort, nothing cleaned up
    assert 'say: Incorrect input: "x"' in ui.lines
    assert sum(line.startswith("ask: [c] Clean up and exit") for line in ui.lines) == 2
