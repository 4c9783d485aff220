"""Byte progress: bars on a terminal only, lines printed above them, throttled
updates from streams."""

from __future__ import annotations

import io

from bakehouse.sdk.progress import ProgressReader, ProgressWriter
from bakehouse.testing import FakeUi
from bakehouse.ui import RootUi


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_are_drawn_on_a_terminal_and_removed_when_done() -> None:
    out = Terminal()
    root = RootUi(out)
    ui = root.build_ui("docker.app")
    ui.progress("Pulling busybox", 5 * 1024 * 1024, 10 * 1024 * 1024)
    ui.say("a line while transferring")
    assert root._progress is not None
    ui.progress("Pulling busybox", 10 * 1024 * 1024, 10 * 1024 * 1024)
    assert root._progress is None, "a finished transfer leaves no bar"
    text = out.getvalue()
    assert "docker.app: Pulling busybox" in text
    assert "5.2/10.5 MB" in text
    assert "==> docker.app: a line while transferring" in text


def test_no_bars_in_a_pipe_or_machine_readable() -> None:
    for out, machine in ((io.StringIO(), False), (Terminal(), True)):
        root = RootUi(out, machine_readable=machine)
        root.build_ui("b").progress("Uploading x", 1, 2)
        assert root._progress is None and out.getvalue() == ""


def test_reader_and_writer_report_throttled_and_final() -> None:
    ui = FakeUi()
    calls: list[tuple[str, int, int]] = []
    ui.progress = lambda task, done, total=0: calls.append((task, done, total))  # type: ignore[method-assign]
    reader = ProgressReader(io.BytesIO(b"x" * 1000), ui, "Uploading f", 1000)
    while reader.read(10):
        pass
    assert calls[0] == ("Uploading f", 10, 1000)
    assert calls[-1] == ("Uploading f", 1000, 1000)
    assert len(calls) < 10, "updates are throttled"
    calls.clear()
    sink = io.BytesIO()
    writer = ProgressWriter(sink, ui, "Downloading g")
    for _ in range(100):
        writer.write(b"y" * 10)
    writer.finish()
    assert sink.getvalue() == b"y" * 1000
    assert calls[-1] == ("Downloading g", 1000, 1000)
