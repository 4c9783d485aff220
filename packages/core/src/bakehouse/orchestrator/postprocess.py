"""Post-processor chains, with Packer's keep / force-override / destroy rules.

Each chain starts from the builder's artifact. For every post-processor:
an error abandons the chain (and is recorded), a ``None`` artifact abandons
it silently. ``keep`` is the post-processor's answer unless the user set
``keep_input_artifact`` — but a post-processor that returns ``keep=True`` with
``force_override=True`` wins over a user ``false``. The first post-processor
keeping its input keeps the builder's artifact; a later one keeping its
input emits the intermediate artifact, otherwise that artifact is destroyed.
The builder's artifact is listed first when kept, destroyed otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bakehouse.orchestrator.provisioning import Component, config_error_text
from bakehouse.sdk.artifact import Artifact
from bakehouse.sdk.components import BuildInfo
from bakehouse.sdk.context import Cancelled, Context
from bakehouse.sdk.problems import ConfigError
from bakehouse.template.plan import ComponentSpec

log = logging.getLogger("bakehouse.orchestrator.postprocess")


@dataclass
class ChainOutcome:
    artifacts: list[Artifact] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def running_message(spec: ComponentSpec) -> str:
    if spec.name and spec.name != spec.type:
        return f"Running post-processor: {spec.name} (type {spec.type})"
    return f"Running post-processor: {spec.type}"


def decide_keep(spec: ComponentSpec, keep: bool, force_override: bool) -> bool:
    """The effective keep-input decision for one post-processor result."""
    if spec.keep_input_artifact is None:
        return keep
    if force_override and keep:
        return True
    return spec.keep_input_artifact


def _destroy(artifact: Artifact, errors: list[str]) -> None:
    try:
        artifact.destroy()
    except Exception as exc:
        log.debug("destroying artifact %s failed", artifact.id, exc_info=True)
        errors.append(f"Failed cleaning up prior artifact: {exc}")


def run_chains(
    chains: list[list[Component]],
    artifact: Artifact,
    build: BuildInfo,
    ctx: Context,
    ui_for: Callable[[ComponentSpec], Any],
    say: Callable[[str], None],
    generated_defaults: dict[str, Any] | None = None,
) -> ChainOutcome:
    """Run every chain on ``artifact``; return the artifacts to report and the errors."""
    outcome = ChainOutcome()
    if not chains:
        outcome.artifacts.append(artifact)
        return outcome
    keep_builder_artifact = False
    for chain in chains:
        current: Artifact | None = artifact
        for index, component in enumerate(chain):
            ctx.check()
            assert current is not None
            spec = component.spec
            say(running_message(spec))
            generated = dict(generated_defaults or {})
            state = current.state("generated_data")
            if isinstance(state, dict):
                generated.update(state)
            try:
                component.instance.prepare(spec.config(generated), build)
                result, keep, force_override = component.instance.post_process(
                    ui_for(spec), current, ctx
                )
            except Cancelled:
                raise
            except ConfigError as exc:
                outcome.errors.append(f"Post-processor failed: {config_error_text(spec, exc)}")
                current = None
                break
            except Exception as exc:
                if ctx.cancelled:
                    raise Cancelled(ctx.reason or "context canceled") from exc
                outcome.errors.append(f"Post-processor failed: {exc}")
                current = None
                break
            if result is None:
                current = None
                break
            kept = decide_keep(spec, bool(keep), bool(force_override))
            if index == 0:
                keep_builder_artifact = keep_builder_artifact or kept
            elif kept:
                outcome.artifacts.append(current)
            else:
                _destroy(current, outcome.errors)
            current = result
        if current is not None:
            outcome.artifacts.append(current)
    if keep_builder_artifact:
        outcome.artifacts.insert(0, artifact)
    else:
        _destroy(artifact, outcome.errors)
    return outcome
