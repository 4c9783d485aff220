"""The ``null`` builder's options as a config model, for ``bakehouse plugins docs``.

The builder itself checks these arguments by hand (see
:mod:`bakehouse.builtin.null_builder`) so that a null build does not import
pydantic; this model documents the same options and must stay in step with it
(``tests`` compare the two).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from bakehouse.sdk.config import Config


class NullConfig(Config):
    """Packer's null builder options: only the communicator ones.

    The ``ssh_*`` options are validated by :class:`bakehouse.sdk.ssh.SSHConfig`
    when ``communicator = "ssh"``; importing it (paramiko) is skipped otherwise,
    which keeps the common ``none`` case fast.
    """

    model_config = ConfigDict(extra="allow")

    communicator: Literal["ssh", "none"] = "none"
