"""The communicator: how provisioners reach the machine being built.

A builder owns one communicator (Docker exec, SSH, a local directory, ...)
and hands it to the provision hook. Provisioners run in other processes; the
core relays every call, streaming file contents and command output in chunks
so memory stays flat whatever the size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from bakehouse.sdk.context import Context

#: Exit status reported when the connection dropped while a command ran
#: (Packer's value; ``expect_disconnect`` treats it as success).
EXIT_DISCONNECTED = 2300218

OutputCallback = Callable[[bytes], None]


@dataclass(frozen=True)
class FileInfo:
    """Metadata sent along with an upload."""

    size: int | None = None
    mode: int = 0o644


class Communicator(ABC):
    """Runs commands on, and copies files to and from, the machine being built."""

    @abstractmethod
    def execute(
        self,
        command: str,
        *,
        on_stdout: OutputCallback,
        on_stderr: OutputCallback,
        ctx: Context,
        stdin: BinaryIO | None = None,
    ) -> int:
        """Run ``command`` with ``/bin/sh -c`` semantics; return its exit status.

        Output is delivered in chunks as it arrives. When ``ctx`` is cancelled
        the command is stopped on the remote side too and :class:`Cancelled`
        is raised.
        """

    @abstractmethod
    def upload(self, dst: str, src: BinaryIO, info: FileInfo = FileInfo()) -> None:
        """Copy the readable stream ``src`` to the remote file ``dst``."""

    @abstractmethod
    def download(self, src: str, dst: BinaryIO) -> None:
        """Copy the remote file ``src`` into the writable stream ``dst``."""

    @abstractmethod
    def upload_dir(self, dst: str, src: str, exclude: Sequence[str] = ()) -> None:
        """Copy the local directory ``src`` to ``dst`` (rsync semantics:
        ``src/`` copies the contents, ``src`` the directory itself)."""

    @abstractmethod
    def download_dir(self, src: str, dst: str, exclude: Sequence[str] = ()) -> None:
        """Copy the remote directory ``src`` to the local ``dst``."""
