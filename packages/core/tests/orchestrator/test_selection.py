from bakehouse.orchestrator.selection import filter_chains, select_builds
from orchestrator_plans import null_build, spec


def _names(selection):
    return [b.name for b in selection.builds]


def test_only_glob_star_spans_dots():
    builds = [null_build("basic"), null_build("second")]
    builds[0].name = "mybuild.null.basic"
    builds[1].name = "mybuild.null.second"
    selection = select_builds(builds, ["*.basic"], [])
    assert _names(selection) == ["mybuild.null.basic"]
    assert selection.warnings == []


def test_only_with_question_mark_and_several_patterns():
    builds = [null_build("a1"), null_build("a2"), null_build("b1")]
    selection = select_builds(builds, ["null.a?", "null.b1"], [])
    assert _names(selection) == ["null.a1", "null.a2", "null.b1"]


def test_only_matching_nothing_warns_with_possible_names():
    builds = [null_build("basic")]
    selection = select_builds(builds, ["nomatch"], [])
    assert selection.builds == []
    assert len(selection.warnings) == 1
    assert "nomatch" in selection.warnings[0] and "null.basic" in selection.warnings[0]


def test_except_removes_builds_and_keeps_order():
    builds = [null_build("a"), null_build("b"), null_build("c")]
    assert _names(select_builds(builds, [], ["null.b"])) == ["null.a", "null.c"]


def test_except_cuts_post_processor_chain_at_matching_name_or_type():
    chain = [
        spec("post-processor", "compress", name="first"),
        spec("post-processor", "manifest", name="second"),
        spec("post-processor", "checksum"),
    ]
    other = [spec("post-processor", "checksum", name="lonely")]
    assert [[s.name for s in c] for c in filter_chains([chain, other], ["second"])] == [
        ["first"],
        ["lonely"],
    ]
    # matching the first element drops the whole chain
    assert [[s.type for s in c] for c in filter_chains([chain], ["compress"])] == []
    # by type, for unnamed post-processors
    assert [[s.type for s in c] for c in filter_chains([chain], ["checksum"])] == [
        ["compress", "manifest"]
    ]


def test_except_applies_to_post_processors_of_selected_builds():
    build = null_build("a", post_processor_chains=[[spec("post-processor", "manifest", name="m")]])
    selection = select_builds([build], [], ["m"])
    assert _names(selection) == ["null.a"]
    assert selection.builds[0].post_processor_chains == []
    assert selection.warnings == []
    # the original plan is not modified
    assert len(build.post_processor_chains) == 1


def test_legacy_json_builds_also_answer_to_their_builder_name_exactly():
    builds = [null_build("a"), null_build("b")]
    for build in builds:
        build.aliases = (build.name.split(".", 1)[1],)
    only = select_builds(builds, ["b"], [])
    assert _names(only) == ["null.b"] and only.warnings == []
    assert _names(select_builds(builds, [], ["a"])) == ["null.b"]
    assert _names(select_builds(builds, ["?"], [])) == []  # an alias is matched exactly, not as a glob
