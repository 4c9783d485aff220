"""The ``file`` provisioner's options as a config model: for ``bakehouse plugins
docs`` and to report mistakes. The provisioner runs with
:class:`~bakehouse.builtin.file_provisioner.FileOptions`, which takes plainly
valid arguments without importing pydantic (a docker build's core would load it
for this provisioner alone); the two must stay in step (``tests`` compare them
with :func:`bakehouse.sdk.plain.plain_mismatches`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from bakehouse.builtin.file_provisioner import input_problem
from bakehouse.sdk.config import Config


class FileProvisionerConfig(Config):
    source: str = ""
    sources: list[str] = []
    content: str | None = None
    destination: str
    direction: Literal["upload", "download"] = "upload"
    generated: bool = False

    @model_validator(mode="after")
    def _inputs(self) -> FileProvisionerConfig:
        problem = input_problem(self)
        if problem:
            raise ValueError(problem)
        return self
