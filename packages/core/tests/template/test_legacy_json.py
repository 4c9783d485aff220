"""Legacy JSON templates converted to HCL2 (the pieces the e2e tests do not spell out)."""

import json

import pytest
from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.template.legacy_json import (
    convert_json_template,
    go_layout_to_formatdate,
    hcl_quote,
    upgrade_json_template,
)


@pytest.mark.parametrize(
    ("layout", "formatdate"),
    [
        ("2006-01-02", "YYYY-MM-DD"),
        ("2006-01-02T15:04:05Z07:00", "YYYY-MM-DD'T'hh:mm:ssZ"),
        ("Jan 2 15:04 MST", "MMM D hh:mm ZZZ"),
        ("20060102150405", "YYYYMMDDhhmmss"),
    ],
)
def test_go_layouts_become_formatdate_specs(layout, formatdate):
    assert go_layout_to_formatdate(layout) == formatdate


def test_literal_text_is_escaped_for_hcl():
    assert hcl_quote('a "b" ${c} %{d}\n') == '"a \\"b\\" $${c} %%{d}\\n"'


def _write(tmp_path, template):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template, indent=2))
    return str(path)


def test_nested_settings_become_blocks_or_maps(tmp_path):
    path = _write(tmp_path, {"builders": [{
        "type": "amazon-ebs",
        "tags": {"Name": "x", "team name": "y"},
        "source_ami_filter": {"filters": {"name": "ubuntu-*"}, "owners": ["self"], "most_recent": True},
        "launch_block_device_mappings": [{"device_name": "/dev/sda1"}, {"device_name": "/dev/sdb"}],
    }]})
    text = convert_json_template(path)
    assert 'tags = {\n    Name = "x"\n    "team name" = "y"\n  }' in text
    assert "  source_ami_filter {\n" in text and "most_recent = true" in text
    assert text.count("launch_block_device_mappings {") == 2


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ({"builders": []}, "needs a \"builders\" list"),
        ({"builders": [{"type": "null"}, {"type": "null"}]}, 'Two builders are named "null"'),
        ({"builders": [{"type": "null"}], "provisioners": [{"type": "x", "only": ["nope"]}]},
         'names the builder "nope"'),
        ({"builders": [{"type": "null", "x": "{{user `undeclared`}}"}]}, 'user variable "undeclared"'),
        ({"variables": {"a": "{{user `b`}}"}, "builders": [{"type": "null"}]}, "cannot use another variable"),
        ({"builders": [{"type": "null", "x": "{{env `HOME`}}"}]}, "env can only be used in the default"),
    ],
)
def test_problems_are_diagnostics_naming_the_cause(tmp_path, template, message):
    with pytest.raises(Diagnostics) as caught:
        convert_json_template(_write(tmp_path, template))
    assert any(message in d.detail for d in caught.value.items), [d.detail for d in caught.value.items]
    assert all(d.pos is not None and d.pos.filename.endswith("t.json") for d in caught.value.items)


def test_upgrade_keeps_unsupported_calls_with_a_warning(tmp_path):
    path = _write(tmp_path, {"builders": [{"type": "null", "x": "{{consul_key `a/b`}}"}]})
    text, warnings = upgrade_json_template(path)
    assert 'x = "{{consul_key `a/b`}}"' in text
    assert [w.summary for w in warnings.items] == ["Template function left as it is"]


@pytest.mark.parametrize(
    ("call", "expression"),
    [
        ('{{split "a-b" "-" 1}}', 'split("-", "a-b")[1]'),
        ("{{split (user `v`) `,` 0}}", 'split(",", var.v)[0]'),
        ("{{ split (build_name | upper) `L` 0 }}", 'split("L", upper(source.name))[0]'),
        ("{{replace_all `-` `_` (user `v`)}}", 'join("_", split("-", var.v))'),
        ("{{user `v` | replace_all `-` `_` | upper}}", 'upper(join("_", split("-", var.v)))'),
        ("{{replace `-` `_` -1 build_name}}", 'join("_", split("-", source.name))'),
        ("{{replace `-` `_` 0 build_name}}", "source.name"),
        ("{{replace `|` `(` 2 `a|b`}}",
         'join("(", concat(slice(split("|", "a|b"), 0, min(2, length(split("|", "a|b")) - 1)), '
         '[join("|", slice(split("|", "a|b"), min(2, length(split("|", "a|b")) - 1), '
         'length(split("|", "a|b"))))]))'),
    ],
)
def test_split_and_replace_become_literal_hcl_expressions(tmp_path, call, expression):
    text = convert_json_template(_write(tmp_path, {"variables": {"v": "x"}, "builders": [{"type": "null", "x": call}]}))
    assert f'x = "${{{expression}}}"' in text, text


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("{{split `a-b` `-`}}", "split takes 3 arguments (string, separator, index), not 2"),
        ("{{replace `a` `b` `abc`}}", "replace takes 4 arguments (old, new, count, string), not 3"),
        ("{{replace `a` `b` `x` `abc`}}", "the count of replace (its third argument) must be a number"),
        ("{{replace_all `` `_` `ab`}}", "empty old string"),
        ("{{replace_all `a` `b` `abc}}", 'Cannot read the arguments of "{{replace_all `a` `b` `abc}}" from "`abc"'),
        ("{{replace_all `a` `b` (upper `x`}}", 'from "(upper `x`"'),
        ("{{replace_all `a` `b` (consul_key `x`)}}", 'The template function "consul_key"'),
    ],
)
def test_bad_split_and_replace_calls_are_errors_naming_the_call(tmp_path, call, message):
    with pytest.raises(Diagnostics) as caught:
        convert_json_template(_write(tmp_path, {"builders": [{"type": "null", "x": call}]}))
    details = [d.detail for d in caught.value.items]
    assert any(message in detail for detail in details), details
    assert all(d.pos is not None and d.pos.line == 5 for d in caught.value.items), caught.value.items
