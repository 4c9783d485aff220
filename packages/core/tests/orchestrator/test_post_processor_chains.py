"""Packer's post-processor chain rules (keep_input_artifact, force_override, destroy)."""

from bakehouse.orchestrator.postprocess import decide_keep, run_chains
from bakehouse.orchestrator.provisioning import Component
from bakehouse.sdk import BuildInfo, Context
from orchestrator_plans import DestroyTracking, ScriptedPostProcessor, reset, spec

INFO = BuildInfo(name="a", builder_type="null", build_name="null.a")


def pp(config, **meta):
    s = spec("post-processor", "scripted", config, **meta)
    instance = ScriptedPostProcessor()
    return Component(s, instance)


def run(chains):
    reset()
    builder_artifact = DestroyTracking("test.builder", "builder", "builder artifact")
    said = []
    outcome = run_chains(
        chains, builder_artifact, INFO, Context(), ui_for=lambda s: None, say=said.append
    )
    return outcome, [a.id for a in outcome.artifacts], said


def test_no_chains_reports_the_builder_artifact():
    outcome, ids, _ = run([])
    assert ids == ["builder"] and outcome.errors == []
    assert DestroyTracking.destroyed == []


def test_single_pp_not_keeping_input_destroys_builder_artifact():
    _, ids, said = run([[pp({"id": "p1"})]])
    assert ids == ["p1"]
    assert DestroyTracking.destroyed == ["builder"]
    assert said == ["Running post-processor: scripted"]


def test_keep_input_artifact_true_keeps_builder_artifact_first():
    _, ids, _ = run([[pp({"id": "p1"}, keep_input_artifact=True)]])
    assert ids == ["builder", "p1"]
    assert DestroyTracking.destroyed == []


def test_user_false_is_ignored_when_pp_forces_keep():
    _, ids, _ = run([[pp({"id": "p1", "keep": True, "force": True}, keep_input_artifact=False)]])
    assert ids == ["builder", "p1"]
    assert decide_keep(spec("post-processor", "x", keep_input_artifact=False), True, True) is True
    assert decide_keep(spec("post-processor", "x", keep_input_artifact=False), True, False) is False
    assert decide_keep(spec("post-processor", "x"), True, False) is True


def test_chain_destroys_intermediate_unless_kept():
    _, ids, _ = run(
        [[pp({"id": "p1"}), pp({"id": "p2"}), pp({"id": "p3"}, keep_input_artifact=True)]]
    )
    # p1 is destroyed (p2 did not keep it), p2 is kept by p3, p3 is the chain's result
    assert ids == ["p2", "p3"]
    assert sorted(DestroyTracking.destroyed) == ["builder", "p1"]


def test_failing_pp_abandons_its_chain_but_not_the_next():
    chain1 = [pp({"fail": "boom"}), pp({"id": "never"})]
    chain2 = [pp({"id": "p2"}, name="second")]
    outcome, ids, said = run([chain1, chain2])
    assert outcome.errors == ["Post-processor failed: boom"]
    assert ids == ["p2"]
    assert "Running post-processor: second (type scripted)" in said
    assert all("never" not in s for s in said) and len(said) == 2


def test_nil_artifact_abandons_chain_silently():
    outcome, ids, _ = run(
        [[pp({"none": True}), pp({"id": "never"})], [pp({"id": "p2"}, keep_input_artifact=True)]]
    )
    assert outcome.errors == []
    assert ids == ["builder", "p2"]


def test_each_chain_starts_from_the_builder_artifact():
    seen = []

    class Spy(ScriptedPostProcessor):
        def post_process(self, ui, artifact, ctx):
            seen.append(artifact.id)
            return super().post_process(ui, artifact, ctx)

    def spy(config, **meta):
        return Component(spec("post-processor", "spy", config, **meta), Spy())

    run([[spy({"id": "a1"}), spy({"id": "a2"})], [spy({"id": "b1"})]])
    assert seen == ["builder", "a1", "builder"]
