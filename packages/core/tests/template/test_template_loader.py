"""The template loader: variables and precedence, validation, locals, sensitive
values, sources and builds, provisioners, post-processors, dynamic blocks,
positions and diagnostics."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.template.loader import load, load_template
from bakehouse.template.plan import Template


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(excinfo: pytest.ExceptionInfo[Diagnostics]) -> list[str]:
    return [d.summary for d in excinfo.value.items if d.is_error]


def shell_inline(template: Template, build: int = 0, provisioner: int = 0, data: dict | None = None) -> list[str]:
    config = template.builds[build].provisioners[provisioner].config(data)
    inline: list[str] = config["inline"]
    return inline


PRECEDENCE_TEMPLATE = """
variable "x" {
  type    = string
  default = "default"
}
source "null" "a" { communicator = "none" }
build {
  sources = ["source.null.a"]
  provisioner "shell-local" { inline = ["echo ${var.x}"] }
}
"""


# --------------------------------------------------------------------- precedence


@pytest.fixture
def precedence_dir(tmp_path: Path) -> Path:
    write(tmp_path, "v.pkr.hcl", PRECEDENCE_TEMPLATE)
    return tmp_path


def value_of_x(target: Path, **kwargs: object) -> str:
    template, _ = load_template(str(target), environ=kwargs.pop("environ", {}), **kwargs)  # type: ignore[arg-type]
    return shell_inline(template)[0].removeprefix("echo ")


def test_default_is_lowest(precedence_dir: Path) -> None:
    assert value_of_x(precedence_dir / "v.pkr.hcl") == "default"


def test_environment_beats_default(precedence_dir: Path) -> None:
    assert value_of_x(precedence_dir, environ={"PKR_VAR_x": "env"}) == "env"


def test_auto_var_file_beats_environment_only_for_a_directory(precedence_dir: Path) -> None:
    write(precedence_dir, "z.auto.pkrvars.hcl", 'x = "auto"\n')
    assert value_of_x(precedence_dir, environ={"PKR_VAR_x": "env"}) == "auto"
    # A file target does not read auto var files.
    assert value_of_x(precedence_dir / "v.pkr.hcl", environ={"PKR_VAR_x": "env"}) == "env"


def test_auto_var_files_apply_in_lexical_order(precedence_dir: Path) -> None:
    write(precedence_dir, "b.auto.pkrvars.hcl", 'x = "b"\n')
    write(precedence_dir, "a.auto.pkrvars.hcl", 'x = "a"\n')
    assert value_of_x(precedence_dir) == "b"


def test_var_files_apply_in_order_after_auto_files(precedence_dir: Path) -> None:
    write(precedence_dir, "z.auto.pkrvars.hcl", 'x = "auto"\n')
    f1 = write(precedence_dir, "f1.pkrvars.hcl", 'x = "file1"\n')
    f2 = write(precedence_dir, "f2.pkrvars.hcl", 'x = "file2"\n')
    assert value_of_x(precedence_dir, var_files=[str(f2), str(f1)]) == "file1"
    assert value_of_x(precedence_dir, var_files=[str(f1), str(f2)]) == "file2"


def test_cli_var_beats_every_var_file_whatever_the_order(precedence_dir: Path) -> None:
    f1 = write(precedence_dir, "f1.pkrvars.hcl", 'x = "file1"\n')
    f2 = write(precedence_dir, "f2.pkrvars.hcl", 'x = "file2"\n')
    assert value_of_x(precedence_dir, var_files=[str(f1), str(f2)], variables=[("x", "cli")]) == "cli"
    assert value_of_x(precedence_dir, variables=[("x", "a"), ("x", "b")]) == "b"


def test_variable_keeps_a_value_per_source_and_picks_by_precedence(precedence_dir: Path) -> None:
    write(precedence_dir, "z.auto.pkrvars.hcl", 'x = "auto"\n')
    f1 = write(precedence_dir, "f1.pkrvars.hcl", 'x = "file1"\n')
    # given out of precedence order: -var first, the environment last
    loaded, diags = load(str(precedence_dir), variables=[("x", "cli")], var_files=[str(f1)],
                         environ={"PKR_VAR_x": "env"})
    assert not diags.has_errors
    var = loaded.variables["x"]
    assert [(given.source, given.value.as_str()) for given in var.values] == [
        ("default", "default"), ("env", "env"), ("varfile", "auto"), ("varfile", "file1"), ("cmd", "cli")]
    assert var.value is not None and var.value.as_str() == "cli" and var.value_source == "cmd"
    assert var.default is not None and var.default.as_str() == "default"


def test_a_value_that_does_not_convert_is_reported_and_not_kept(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", 'variable "n" {\n  type    = number\n  default = 1\n}\n')
    loaded, diags = load(str(tmp_path), environ={"PKR_VAR_n": "not a number"})
    assert [d.summary for d in diags.items if d.is_error] == ["Invalid value for variable"]
    var = loaded.variables["n"]
    assert [given.source for given in var.values] == ["default"]
    assert var.value is not None and var.value.as_number() == 1


def test_cli_value_is_literal_for_strings_and_parsed_for_other_types(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
variable "s" { type = string }
variable "l" { type = list(number) }
variable "m" { type = map(string) }
source "null" "a" { communicator = "none" }
build {
  sources = ["null.a"]
  provisioner "shell-local" { inline = ["${var.s}", "n=${length(var.l)}", "${var.l[1] + 1}", var.m.k] }
}
""")
    template, _ = load_template(str(tmp_path), environ={},
                                variables=[("s", "[1, 2]"), ("l", "[1, 2]"), ("m", '{k = "v"}')])
    # A lone interpolation keeps the value's type (HCL unwraps "${x}").
    assert shell_inline(template) == ["[1, 2]", "n=2", 3, "v"]


def test_env_value_of_a_typed_variable_is_parsed_and_converted(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
variable "n" { type = number }
variable "flags" { type = list(string) }
source "null" "a" { communicator = "none" }
build {
  sources = ["null.a"]
  provisioner "shell-local" { inline = ["n=${var.n * 2}", join(",", var.flags)] }
}
""")
    template, _ = load_template(str(tmp_path), environ={"PKR_VAR_n": "21", "PKR_VAR_flags": '["a", "b"]'})
    assert shell_inline(template) == ["n=42", "a,b"]


def test_unset_variable_is_an_error_with_position(tmp_path: Path) -> None:
    path = write(tmp_path, "t.pkr.hcl", 'variable "needed" {\n  type = string\n}\n')
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(path), environ={})
    [diag] = [d for d in excinfo.value.items if d.is_error]
    assert diag.summary == 'Unset variable "needed"'
    assert diag.pos is not None and diag.pos.filename == str(path) and diag.pos.line == 1


def test_undeclared_cli_var_is_an_error_and_undeclared_file_var_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", PRECEDENCE_TEMPLATE)
    varfile = write(tmp_path, "extra.pkrvars.hcl", 'x = "ok"\nnot_declared = 1\n')
    template, warnings = load_template(str(tmp_path), environ={}, var_files=[str(varfile)])
    assert shell_inline(template) == ["echo ok"]
    [warning] = warnings.items
    assert warning.summary == "Undefined variable" and warning.pos is not None and warning.pos.line == 2
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={}, variables=[("nope", "1")])
    assert errors_of(excinfo) == ["Undefined -var variable"]


def test_var_file_with_unknown_extension_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", PRECEDENCE_TEMPLATE)
    odd = write(tmp_path, "vars.txt", 'x = "y"\n')
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={}, var_files=[str(odd)])
    assert errors_of(excinfo) == ["Could not guess format of variable file"]


def test_var_file_value_of_wrong_type_is_an_error_at_its_line(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", 'variable "n" {\n  type = number\n  default = 1\n}\n')
    varfile = write(tmp_path, "v.pkrvars.hcl", '\nn = "not a number"\n')
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={}, var_files=[str(varfile)])
    [diag] = [d for d in excinfo.value.items if d.is_error]
    assert diag.summary == "Invalid value for variable"
    assert diag.pos is not None and diag.pos.filename == str(varfile) and diag.pos.line == 2


def test_env_function_only_in_variable_defaults(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
variable "home" { default = env("BH_TEST_HOME") }
locals { bad = env("BH_TEST_HOME") }
""")
    loaded, diags = load(str(tmp_path), environ={"BH_TEST_HOME": "/home/x"})
    assert loaded.variables["home"].value.as_str() == "/home/x"
    errors = [d for d in diags.items if d.is_error]
    assert errors and errors[0].pos is not None and errors[0].pos.line == 3


def test_nullable_is_not_a_variable_argument(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", 'variable "x" {\n  default  = 1\n  nullable = true\n}\n')
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    [diag] = [d for d in excinfo.value.items if d.is_error]
    assert diag.summary == "Unsupported argument" and diag.pos is not None and diag.pos.line == 3


def test_legacy_variables_block(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
variables { region = "eu-west-1" }
source "null" "a" { communicator = "none" }
build {
  sources = ["null.a"]
  provisioner "shell-local" { inline = [var.region] }
}
""")
    template, _ = load_template(str(tmp_path), environ={}, variables=[("region", "us-east-1")])
    assert shell_inline(template) == ["us-east-1"]


# --------------------------------------------------------------------- validation

VALIDATED = """
variable "size" {
  type    = number
  default = 10
  validation {
    condition     = var.size < 100
    error_message = "The size must be below 100."
  }
}
"""


def test_validation_passes_and_fails_with_the_message(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", VALIDATED)
    load_template(str(tmp_path), environ={})
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={}, variables=[("size", "500")])
    [diag] = [d for d in excinfo.value.items if d.is_error]
    assert diag.summary == "Invalid value for cmd variable"
    assert "The size must be below 100." in diag.detail


def test_validation_message_must_be_a_sentence(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", VALIDATED.replace("The size must be below 100.", "too big"))
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    assert errors_of(excinfo) == ["Invalid validation error message"]


def test_validation_condition_must_refer_to_its_variable(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", VALIDATED.replace("var.size < 100", "1 < 100"))
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    assert errors_of(excinfo) == ["Invalid variable validation condition"]


# ------------------------------------------------------------------------- locals


def test_locals_resolve_in_dependency_order_across_blocks_and_files(tmp_path: Path) -> None:
    write(tmp_path, "a.pkr.hcl", """
locals { greeting = "${local.word}, ${local.name}!" }
local "name" { expression = upper(var.who) }
""")
    write(tmp_path, "b.pkr.hcl", """
variable "who" { default = "world" }
locals { word = "hello" }
source "null" "a" { communicator = "none" }
build {
  sources = ["null.a"]
  provisioner "shell-local" { inline = [local.greeting] }
}
""")
    template, _ = load_template(str(tmp_path), environ={})
    assert shell_inline(template) == ["hello, WORLD!"]


def test_cycle_between_locals_is_named(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
locals {
  a = local.b
  b = local.c
  c = local.a
  ok = 1
}
""")
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    [diag] = [d for d in excinfo.value.items if d.is_error]
    assert diag.summary == "Cycle: local.a -> local.b -> local.c -> local.a"
    assert diag.pos is not None and diag.pos.line == 3


def test_self_reference_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", "locals {\n  a = local.a\n}\n")
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    assert errors_of(excinfo) == ["Self reference: local.a"]


def test_duplicate_local_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", 'locals {\n  a = 1\n}\nlocal "a" {\n  expression = 2\n}\n')
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    assert errors_of(excinfo) == ["Duplicate local definition"]


def test_data_sources_run_in_dependency_order_through_the_runner(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
locals { prefix = "img" }
data "lookup" "second" { input = "${data.lookup.first.output}-2" }
data "lookup" "first" { input = "${local.prefix}-1" }
locals { final = data.lookup.second.output }
""")
    calls: list[tuple[str, dict]] = []

    def runner(type_: str, config: dict, pos: object) -> dict:
        calls.append((type_, config))
        return {"output": config["input"].upper()}

    loaded, diags = load(str(tmp_path), environ={}, datasource_runner=runner)
    assert not diags.has_errors, str(diags)
    assert calls == [("lookup", {"input": "img-1"}), ("lookup", {"input": "IMG-1-2"})]
    assert loaded.locals["final"].as_str() == "IMG-1-2"


def test_data_source_outputs_are_unknown_without_a_runner(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
data "lookup" "x" { input = "a" }
source "null" "a" { communicator = "none" }
build {
  sources = ["null.a"]
  provisioner "shell-local" { inline = [data.lookup.x.output] }
}
""")
    template, _ = load_template(str(tmp_path), environ={})
    assert shell_inline(template) == ["<unknown>"]


# ---------------------------------------------------------------------- sensitive


def test_sensitive_values_are_collected_with_lines_of_multiline_values(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
variable "password" {
  type      = string
  default   = "hunter2-secret"
  sensitive = true
}
variable "keys" {
  type      = map(string)
  default   = { a = "key-one", b = "line1\\r\\nline2" }
  sensitive = true
}
variable "public" { default = "visible" }
local "token" {
  expression = "tok-${var.public}"
  sensitive  = true
}
""")
    template, _ = load_template(str(tmp_path), environ={})
    for secret in ("hunter2-secret", "key-one", "line1", "line2", "line1\nline2", "tok-visible"):
        assert secret in template.sensitive_values
    assert "visible" not in template.sensitive_values
    assert set(template.sensitive_names) == {"var.password", "var.keys", "local.token"}


# -------------------------------------------------------------------------- builds


BUILDS = """
variable "image" { default = "base-image" }
source "null" "base" {
  communicator = "none"
  label        = "${source.type}/${source.name}/${var.image}"
}
build {
  name    = "demo"
  sources = ["null.base"]
  source "source.null.base" {
    name  = "ubuntu"
    extra = "added"
  }
  provisioner "shell-local" {
    name   = "say"
    only   = ["null.ubuntu"]
    inline = ["echo ${source.type}.${source.name} ${build.name} ${build.ID}"]
  }
  provisioner "shell-local" {
    except         = ["null.ubuntu"]
    pause_before   = "1m30s"
    timeout        = "10s"
    max_retries    = 3
    continue_on_error = true
    inline         = ["base only"]
    override = {
      base = { inline = ["overridden"] }
    }
  }
  error-cleanup-provisioner "shell-local" { inline = ["cleanup"] }
  post-processor "manifest" {
    keep_input_artifact = true
  }
  post-processors {
    post-processor "checksum" { name = "sums" }
    post-processor "manifest" { only = ["null.base"] }
  }
}
build {
  source "null.base" {}
}
"""


def test_build_names_sources_and_overrides(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", BUILDS)
    template, _ = load_template(str(tmp_path), environ={})
    assert [b.name for b in template.builds] == ["demo.null.base", "demo.null.ubuntu", "null.base"]
    base, ubuntu, plain = template.builds
    assert base.builder.config(None) == {"communicator": "none", "label": "null/base/base-image"}
    assert ubuntu.builder.config(None) == {"communicator": "none", "label": "null/ubuntu/base-image",
                                           "extra": "added"}
    assert (ubuntu.source_type, ubuntu.source_name, ubuntu.build_block_name) == ("null", "ubuntu", "demo")
    assert plain.build_block_name == "" and plain.builder.config(None)["label"] == "null/base/base-image"
    assert base.build_block_index == 0 and plain.build_block_index == 1


def test_provisioner_meta_arguments_and_only_except(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", BUILDS)
    template, _ = load_template(str(tmp_path), environ={})
    base, ubuntu, _plain = template.builds
    [say] = ubuntu.provisioners
    assert say.name == "say" and say.only == ["null.ubuntu"]
    assert say.config(None) == {"inline": ["echo null.ubuntu demo <unknown>"]}
    assert say.config({"ID": "i-123"}) == {"inline": ["echo null.ubuntu demo i-123"]}
    [other] = base.provisioners
    assert (other.pause_before, other.timeout, other.max_retries, other.continue_on_error) == (90.0, 10.0, 3, True)
    assert other.except_ == ["null.ubuntu"]
    assert other.config(None) == {"inline": ["overridden"]}
    assert base.error_cleanup_provisioner is not None
    assert base.error_cleanup_provisioner.config(None) == {"inline": ["cleanup"]}


def test_post_processor_chains(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", BUILDS)
    template, _ = load_template(str(tmp_path), environ={})
    base, ubuntu, _plain = template.builds
    assert [[p.type for p in chain] for chain in base.post_processor_chains] == [["manifest"],
                                                                                 ["checksum", "manifest"]]
    assert base.post_processor_chains[0][0].keep_input_artifact is True
    assert base.post_processor_chains[0][0].config(None) == {}
    assert base.post_processor_chains[1][0].name == "sums"
    assert [[p.type for p in chain] for chain in ubuntu.post_processor_chains] == [["manifest"], ["checksum"]]


def test_source_override_may_not_redefine_an_argument(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
source "null" "base" { communicator = "none" }
build {
  source "null.base" {
    name         = "other"
    communicator = "ssh"
  }
}
""")
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    [diag] = [d for d in excinfo.value.items if d.is_error]
    assert diag.summary == "Duplicate argument" and diag.pos is not None and diag.pos.line == 6


def test_unknown_source_and_missing_sources(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
source "null" "base" { communicator = "none" }
build {
  sources = ["null.nope", "bad"]
}
build {
}
""")
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    assert errors_of(excinfo) == ["Unknown source", "Invalid source reference", "Missing sources"]


def test_only_one_error_cleanup_provisioner(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
source "null" "base" { communicator = "none" }
build {
  sources = ["null.base"]
  error-cleanup-provisioner "shell-local" { inline = ["a"] }
  error-cleanup-provisioner "shell-local" { inline = ["b"] }
}
""")
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    assert errors_of(excinfo) == ["Only one error-cleanup-provisioner is allowed"]


# ------------------------------------------------------------------------- dynamic


def test_dynamic_blocks_in_sources_provisioners_and_configs(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
locals {
  names  = ["one", "two"]
  disks  = { a = 10, b = 20 }
}
source "null" "base" {
  communicator = "none"
  dynamic "disk" {
    for_each = local.disks
    iterator = d
    content {
      device = "/dev/sd${d.key}"
      size   = d.value
    }
  }
}
build {
  dynamic "source" {
    for_each = local.names
    labels   = ["null.base"]
    content {
      name = source.value
    }
  }
  dynamic "provisioner" {
    for_each = ["first", "second"]
    labels   = ["shell-local"]
    content {
      inline = ["${provisioner.value} on ${source.name}"]
    }
  }
}
""")
    template, _ = load_template(str(tmp_path), environ={})
    assert [b.name for b in template.builds] == ["null.one", "null.two"]
    one = template.builds[0]
    assert one.builder.config(None)["disk"] == [{"device": "/dev/sda", "size": 10}, {"device": "/dev/sdb", "size": 20}]
    assert [p.config(None)["inline"] for p in one.provisioners] == [["first on one"], ["second on one"]]


# ----------------------------------------------------------------------- positions


def test_positions_of_attributes_and_nested_blocks(tmp_path: Path) -> None:
    path = write(tmp_path, "t.pkr.hcl", """source "null" "base" {
  communicator = "none"
  changes      = ["a", "b"]
  launch_block_device_mappings {
    device_name = "/dev/sda"
  }
  launch_block_device_mappings {
    device_name = "/dev/sdb"
    volume_size = 8
  }
}
build {
  sources = ["null.base"]
}
""")
    template, _ = load_template(str(path), environ={})
    builder = template.builds[0].builder
    builder.config(None)
    assert builder.position_of(("changes", 1)).line == 3
    assert builder.position_of(("launch_block_device_mappings", 1, "volume_size")).line == 9
    assert builder.position_of(("launch_block_device_mappings", 0)).line == 4
    # a component reading a single block as an object names its options without the index
    assert builder.position_of(("launch_block_device_mappings", "device_name")).line == 5
    assert builder.position_of(("nothing",)).line == 1
    assert builder.pos.filename == str(path)


def test_all_errors_are_collected_with_positions(tmp_path: Path) -> None:
    path = write(tmp_path, "t.pkr.hcl", """
variable "a" { default = 1 }
locals {
  x = var.nope
  y = undefined_function(1)
}
source "null" "base" {
  communicator = "none"
  bad          = local.missing
}
build {
  sources = ["null.base"]
}
""")
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(path), environ={})
    lines = sorted(d.pos.line for d in excinfo.value.items if d.is_error and d.pos is not None)
    assert lines[:2] == [4, 5]


def test_syntax_error_is_a_diagnostic_with_position(tmp_path: Path) -> None:
    path = write(tmp_path, "t.pkr.hcl", 'source "null" "a" {\n  x = = 1\n}\n')
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(path), environ={})
    [diag] = [d for d in excinfo.value.items if d.is_error]
    assert diag.pos is not None and diag.pos.line == 2


def test_syntax_only_skips_unset_variables(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", 'variable "x" {\n  type = string\n}\n')
    template, _ = load_template(str(tmp_path), environ={}, syntax_only=True)
    assert template.builds == []


def test_packer_block_required_version_and_plugins(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
packer {
  required_version = ">= 1.7.0"
  required_plugins {
    docker = {
      source  = "github.com/hashicorp/docker"
      version = ">= 1.0.0"
    }
  }
}
""")
    template, _ = load_template(str(tmp_path), environ={})
    assert template.required_plugins == {"docker": {"source": "github.com/hashicorp/docker", "version": ">= 1.0.0"}}
    write(tmp_path, "t.pkr.hcl", 'packer {\n  required_version = ">= 99.0"\n}\n')
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    assert errors_of(excinfo) == ["Unsupported Packer version"]


def test_path_and_packer_variables(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
source "null" "a" { communicator = "none" }
build {
  sources = ["null.a"]
  provisioner "shell-local" { inline = [path.root, packer.version] }
}
""")
    template, _ = load_template(str(tmp_path), environ={})
    assert shell_inline(template) == [str(tmp_path), "1.16.0"]


def test_long_chain_of_locals_declared_in_reverse_order(tmp_path: Path) -> None:
    count = 1100  # deeper than Python's recursion limit: the walk must be iterative
    lines = ["locals {"]
    for i in reversed(range(1, count)):
        lines.append(f"  l{i} = local.l{i - 1} + 1")
    lines.append("  l0 = 0")
    lines.append("}")
    write(tmp_path, "t.pkr.hcl", "\n".join(lines) + "\n")
    loaded, diags = load(str(tmp_path), environ={})
    assert not diags.has_errors, str(diags)
    assert loaded.locals[f"l{count - 1}"].as_number() == count - 1


def test_builder_specific_generated_data_is_unknown_until_the_build_runs(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
source "null" "a" { communicator = "none" }
build {
  sources = ["null.a"]
  provisioner "shell-local" { inline = ["ami=${build.SourceAMI} host=${build.Host}"] }
}
""")
    template, _ = load_template(str(tmp_path), environ={})
    assert shell_inline(template) == ["ami=<unknown> host=<unknown>"]
    assert shell_inline(template, data={"SourceAMI": "ami-123", "Host": "10.0.0.1"}) == ["ami=ami-123 host=10.0.0.1"]


def test_deferred_config_decodes_each_call_with_its_own_data_and_diagnostics(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
source "null" "a" { communicator = "none" }
build {
  sources = ["null.a"]
  provisioner "shell-local" { inline = ["id=${build.ID}", build.Port == "<unknown>" ? 0 : 10 / build.Port] }
}
""")
    template, _ = load_template(str(tmp_path), environ={})
    spec = template.builds[0].provisioners[0]
    with pytest.raises(Diagnostics) as excinfo:
        spec.config({"ID": "bad", "Port": "port"})
    [problem] = [d for d in excinfo.value.items if d.is_error]
    assert problem.pos is not None and problem.pos.line == 5
    # Build threads call the same config at once: each gets its own values, and a
    # failing call leaves nothing behind for the others.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: spec.config({"ID": f"i-{i}", "Port": "5"}), range(16)))
    assert [r["inline"] for r in results] == [[f"id=i-{i}", 2] for i in range(16)]
    assert spec.position_of(("inline", 0)).line == 5


def test_optional_object_attributes_get_their_defaults(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
variable "disk" {
  type = object({
    size = number
    kind = optional(string, "gp3")
  })
}
source "null" "a" { communicator = "none" }
build {
  sources = ["null.a"]
  provisioner "shell-local" { inline = ["${var.disk.kind}:${var.disk.size}"] }
}
""")
    varfile = write(tmp_path, "v.pkrvars.hcl", "disk = { size = 8 }\n")
    template, _ = load_template(str(tmp_path), environ={}, var_files=[str(varfile)])
    assert shell_inline(template) == ["gp3:8"]
    template, _ = load_template(str(tmp_path), environ={}, variables=[("disk", '{ size = 9, kind = "io2" }')])
    assert shell_inline(template) == ["io2:9"]


def test_variable_default_may_not_refer_to_variables(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", 'variable "a" {\n  default = "x"\n}\nvariable "b" {\n  default = var.a\n}\n')
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    [diag] = [d for d in excinfo.value.items if d.is_error]  # no follow-up "Unset variable"
    assert diag.summary == "Variables not allowed" and diag.pos is not None and diag.pos.line == 5


def test_errors_in_locals_and_builds_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "t.pkr.hcl", """
locals {
  a = local.nope
}
source "null" "s" { communicator = "none" }
build {
  sources = ["null.s", "docker.nope"]
  provisioner "shell-local" { inline = [upper(1, 2)] }
}
""")
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    assert sorted(d.pos.line for d in excinfo.value.items if d.is_error and d.pos) == [3, 7, 8]


def test_json_var_files(precedence_dir: Path) -> None:
    write(precedence_dir, "a.auto.pkrvars.json", '{"x": "from-auto-json"}')
    assert value_of_x(precedence_dir) == "from-auto-json"
    explicit = write(precedence_dir, "explicit.pkrvars.json", '{"x": "from-json-file"}')
    assert value_of_x(precedence_dir, var_files=[str(explicit)]) == "from-json-file"
