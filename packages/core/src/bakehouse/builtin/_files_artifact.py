"""The artifact of the file-producing built-in post-processors (artifice, checksum, compress).

As in Packer: no id, the files it consists of, and ``destroy`` removes them
(a later post-processor that does not keep its input deletes them).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from bakehouse.sdk.artifact import Artifact


@dataclass
class FilesArtifact(Artifact):
    builder_id_: str
    files_: list[str] = field(default_factory=list)
    string_: str = ""

    @property
    def builder_id(self) -> str:
        return self.builder_id_

    @property
    def id(self) -> str:
        return ""

    @property
    def files(self) -> list[str]:
        return list(self.files_)

    def string(self) -> str:
        return self.string_

    def destroy(self) -> None:
        for path in self.files_:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)
