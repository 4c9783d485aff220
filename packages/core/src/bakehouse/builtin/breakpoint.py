"""The ``breakpoint`` provisioner: pause the build until the user presses Enter."""

from __future__ import annotations

import threading
from typing import Any

from bakehouse.sdk.communicator import Communicator
from bakehouse.sdk.components import Provisioner
from bakehouse.sdk.config import Config
from bakehouse.sdk.context import Context
from bakehouse.sdk.ui import Ui


class BreakpointConfig(Config):
    note: str = ""
    disable: bool = False


class BreakpointProvisioner(Provisioner):
    """Packer's breakpoint: with a terminal, waits for Enter; ``disable`` skips it."""

    config_schema = BreakpointConfig
    config: BreakpointConfig

    def provision(
        self, ui: Ui, communicator: Communicator | None, generated: dict[str, Any], ctx: Context
    ) -> None:
        if self.config.disable:
            ui.say(f'Breakpoint provisioner with note "{self.config.note}" disabled; continuing...')
            return
        ui.say(f'Pausing at breakpoint provisioner with note "{self.config.note}".')
        done = threading.Event()
        failure: list[BaseException] = []

        def wait_for_enter() -> None:
            try:
                ui.ask("Press enter to continue.")
            except BaseException as exc:  # no terminal: report it to the build
                failure.append(exc)
            finally:
                done.set()

        threading.Thread(target=wait_for_enter, daemon=True, name="breakpoint").start()
        while not done.wait(0.2):
            ctx.check()
        if failure:
            raise RuntimeError(f"breakpoint needs a terminal: {failure[0]}")
