"""The ``manifest`` post-processor: records what each build produced, in Packer's JSON format.

The file holds ``{"builds": [...], "last_run_uuid": "..."}``; each run appends
its builds, so one manifest can describe several runs (with ``-force``, a new
run starts the file afresh, as Packer). ``strip_time`` leaves ``build_time``
out, and ``custom_data`` (when not set) and ``files`` (an artifact without
files, e.g. the null builder's) are ``null``, as Packer's JSON has them.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from typing import Any

from bakehouse.sdk.artifact import Artifact
from bakehouse.sdk.components import PostProcessor
from bakehouse.sdk.config import Config
from bakehouse.sdk.context import Context
from bakehouse.sdk.ui import Ui


class ManifestConfig(Config):
    output: str = "packer-manifest.json"
    strip_path: bool = False
    strip_time: bool = False
    custom_data: dict[str, str] | None = None


class ManifestPostProcessor(PostProcessor):
    config_schema = ManifestConfig
    config: ManifestConfig

    def _entry(self, artifact: Artifact) -> dict[str, Any]:
        files = []
        for path in artifact.files:
            try:
                size = os.path.getsize(path)
            except OSError:
                size = 0
            files.append(
                {"name": os.path.basename(path) if self.config.strip_path else path, "size": size}
            )
        entry: dict[str, Any] = {"name": self.build.name, "builder_type": self.build.builder_type}
        if not self.config.strip_time:  # Packer's build_time is omitempty
            entry["build_time"] = int(time.time())
        custom = self.config.custom_data
        entry.update(
            files=files or None,  # Go's nil slice: null for an artifact without files
            artifact_id=artifact.id,
            packer_run_uuid=self.build.run_id,
            custom_data=None if custom is None else dict(custom),
        )
        return entry

    def post_process(self, ui: Ui, artifact: Artifact, ctx: Context) -> tuple[Artifact, bool, bool]:
        output = self.config.output
        ui.say(f"Adding build to manifest {output}")
        directory = os.path.dirname(output)
        if directory:
            os.makedirs(directory, exist_ok=True)
        # Parallel builds append to the same manifest: lock, read, append, write.
        with open(output, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            text = fh.read()
            manifest: dict[str, Any] = {"builds": [], "last_run_uuid": ""}
            if text.strip():
                try:
                    loaded = json.loads(text)
                except ValueError as exc:
                    raise RuntimeError(f"manifest {output} is not valid JSON: {exc}") from None
                fresh = self.build.force and isinstance(loaded, dict) and (
                    loaded.get("last_run_uuid") != self.build.run_id
                )
                if isinstance(loaded, dict) and not fresh:
                    manifest.update(loaded)
            manifest.setdefault("builds", [])
            manifest["builds"].append(self._entry(artifact))
            manifest["last_run_uuid"] = self.build.run_id
            fh.seek(0)
            fh.truncate()
            json.dump(manifest, fh, indent=2)
            fh.write("\n")
        # Packer: the manifest keeps the artifact it describes, whatever the user says.
        return artifact, True, True
