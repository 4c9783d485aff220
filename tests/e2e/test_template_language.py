"""The template language end to end: `bakehouse build` with the null builder and
shell-local provisioners whose output files prove what the template evaluated to."""

from __future__ import annotations

import os
from pathlib import Path

NULL_SOURCE = 'source "null" "basic" {\n  communicator = "none"\n}\n'


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def output_of(result: object) -> str:
    return f"exit={result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"  # type: ignore[attr-defined]


def test_variable_precedence_default_env_auto_file_cli(bakehouse, tmp_path: Path) -> None:
    out = tmp_path / "value.txt"
    write(tmp_path, "build.pkr.hcl", NULL_SOURCE + f"""
variable "x" {{
  type    = string
  default = "default"
}}
build {{
  sources = ["source.null.basic"]
  provisioner "shell-local" {{
    inline = ["printf '%s' '${{var.x}}' > {out}"]
  }}
}}
""")
    result = bakehouse("build", "build.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    assert out.read_text() == "default"

    result = bakehouse("build", ".", env={"PKR_VAR_x": "from-env"})
    assert result.returncode == 0, output_of(result)
    assert out.read_text() == "from-env"

    write(tmp_path, "z.auto.pkrvars.hcl", 'x = "from-auto-file"\n')
    result = bakehouse("build", ".", env={"PKR_VAR_x": "from-env"})
    assert result.returncode == 0, output_of(result)
    assert out.read_text() == "from-auto-file"

    varfile = write(tmp_path, "explicit.pkrvars.hcl", 'x = "from-var-file"\n')
    result = bakehouse("build", "-var", "x=from-cli", "-var-file", str(varfile), ".", env={"PKR_VAR_x": "from-env"})
    assert result.returncode == 0, output_of(result)
    assert out.read_text() == "from-cli"

    result = bakehouse("build", "-var-file", str(varfile), ".", env={"PKR_VAR_x": "from-env"})
    assert result.returncode == 0, output_of(result)
    assert out.read_text() == "from-var-file"


def test_failed_variable_validation_stops_the_build_with_the_message(bakehouse, tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    write(tmp_path, "build.pkr.hcl", NULL_SOURCE + f"""
variable "size" {{
  type    = number
  default = 10
  validation {{
    condition     = var.size <= 100
    error_message = "The size must be at most 100."
  }}
}}
build {{
  sources = ["source.null.basic"]
  provisioner "shell-local" {{
    inline = ["touch {marker}"]
  }}
}}
""")
    result = bakehouse("build", "-var", "size=500", "build.pkr.hcl")
    combined = result.stdout + result.stderr
    assert result.returncode == 1, output_of(result)
    assert "The size must be at most 100." in combined
    assert "build.pkr.hcl line 5" in combined
    assert "Traceback" not in combined
    assert not marker.exists()

    result = bakehouse("build", "-var", "size=50", "build.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    assert marker.exists()


def test_sensitive_values_are_redacted_everywhere(bakehouse, tmp_path: Path) -> None:
    secret = "s3cr3t-Pa55w0rd-value"
    out = tmp_path / "secret.txt"
    log_path = tmp_path / "bakehouse.log"
    write(tmp_path, "build.pkr.hcl", NULL_SOURCE + f"""
variable "password" {{
  type      = string
  sensitive = true
}}
local "derived" {{
  expression = "derived-${{var.password}}-x"
  sensitive  = true
}}
build {{
  sources = ["source.null.basic"]
  provisioner "shell-local" {{
    inline = [
      "echo password is ${{var.password}}",
      "echo derived is ${{local.derived}}",
      "echo stderr ${{var.password}} 1>&2",
      "printf '%s' '${{var.password}}' > {out}",
    ]
  }}
}}
""")
    result = bakehouse("build", "build.pkr.hcl", env={
        "PKR_VAR_password": secret, "BAKEHOUSE_LOG": "1", "BAKEHOUSE_LOG_PATH": str(log_path),
    })
    assert result.returncode == 0, output_of(result).replace(secret, "<leaked>")
    # The provisioner really received the secret...
    assert out.read_text() == secret
    # ...and no output channel shows it.
    assert secret not in result.stdout
    assert secret not in result.stderr
    assert "<sensitive>" in result.stdout
    assert log_path.exists()
    assert secret not in log_path.read_text(errors="replace")


def test_locals_are_evaluated_in_dependency_order(bakehouse, tmp_path: Path) -> None:
    out = tmp_path / "greeting.txt"
    write(tmp_path, "a.pkr.hcl", """
locals {
  greeting = "${local.salutation}, ${local.target}!"
}
local "target" {
  expression = upper(var.who)
}
""")
    write(tmp_path, "b.pkr.hcl", NULL_SOURCE + f"""
variable "who" {{
  default = "world"
}}
locals {{
  salutation = join(" ", ["hello", "there"])
}}
build {{
  sources = ["source.null.basic"]
  provisioner "shell-local" {{
    inline = ["printf '%s' '${{local.greeting}}' > {out}"]
  }}
}}
""")
    result = bakehouse("build", ".")
    assert result.returncode == 0, output_of(result)
    assert out.read_text() == "hello there, WORLD!"


def test_cycle_between_locals_is_reported_with_its_members(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "build.pkr.hcl", NULL_SOURCE + """
locals {
  first  = "${local.second}-a"
  second = "${local.third}-b"
  third  = "${local.first}-c"
}
build {
  sources = ["source.null.basic"]
}
""")
    result = bakehouse("build", "build.pkr.hcl")
    combined = result.stdout + result.stderr
    assert result.returncode == 1, output_of(result)
    assert "Cycle: local.first -> local.second -> local.third -> local.first" in combined
    assert "build.pkr.hcl line 6" in combined
    assert "Traceback" not in combined


def test_dynamic_blocks_generate_provisioners(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "build.pkr.hcl", NULL_SOURCE + f"""
locals {{
  files = {{ alpha = "A", beta = "B" }}
}}
build {{
  sources = ["source.null.basic"]
  dynamic "provisioner" {{
    for_each = local.files
    iterator = f
    labels   = ["shell-local"]
    content {{
      inline = ["printf '%s' '${{f.value}}' > {tmp_path}/${{f.key}}.txt"]
    }}
  }}
}}
""")
    result = bakehouse("build", "build.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    assert (tmp_path / "alpha.txt").read_text() == "A"
    assert (tmp_path / "beta.txt").read_text() == "B"


def test_source_overrides_rename_and_extend_a_source(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "build.pkr.hcl", f"""
source "null" "base" {{
  communicator = "none"
}}
build {{
  name    = "app"
  sources = ["null.base"]
  source "source.null.base" {{
    name = "renamed"
  }}
  provisioner "shell-local" {{
    inline = ["printf '%s' '${{build.name}} ${{source.type}}.${{source.name}}' > {tmp_path}/${{source.name}}.txt"]
  }}
  provisioner "shell-local" {{
    only   = ["null.renamed"]
    inline = ["touch {tmp_path}/only-renamed.txt"]
  }}
}}
""")
    result = bakehouse("build", "build.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    assert (tmp_path / "base.txt").read_text() == "app null.base"
    assert (tmp_path / "renamed.txt").read_text() == "app null.renamed"
    assert (tmp_path / "only-renamed.txt").exists()
    assert "app.null.base" in result.stdout and "app.null.renamed" in result.stdout

    # -only selects by the renamed build name.
    for name in ("base.txt", "renamed.txt", "only-renamed.txt"):
        (tmp_path / name).unlink()
    result = bakehouse("build", "-only", "app.null.renamed", "build.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    assert (tmp_path / "renamed.txt").exists() and not (tmp_path / "base.txt").exists()


def test_template_error_points_at_file_and_line_without_traceback(bakehouse, tmp_path: Path) -> None:
    write(tmp_path, "build.pkr.hcl", NULL_SOURCE + """
build {
  sources = ["source.null.basic"]
  provisioner "shell-local" {
    inline = [var.not_declared]
  }
}
""")
    result = bakehouse("build", "build.pkr.hcl")
    combined = result.stdout + result.stderr
    assert result.returncode == 1, output_of(result)
    assert "build.pkr.hcl line 8" in combined
    assert "Traceback" not in combined
    assert os.path.exists(tmp_path / "build.pkr.hcl")


def test_data_sources_feed_locals_in_dependency_order(bakehouse, tmp_path: Path) -> None:
    out = tmp_path / "data.txt"
    write(tmp_path, "build.pkr.hcl", NULL_SOURCE + f"""
locals {{
  final = "${{data.null.second.output}}!"
}}
data "null" "second" {{
  input = "${{data.null.first.output}}-then-second"
}}
data "null" "first" {{
  input = upper(local.seed)
}}
locals {{
  seed = "first"
}}
build {{
  sources = ["source.null.basic"]
  provisioner "shell-local" {{
    inline = ["printf '%s' '${{local.final}}' > {out}"]
  }}
}}
""")
    result = bakehouse("build", "build.pkr.hcl")
    assert result.returncode == 0, output_of(result)
    assert out.read_text() == "FIRST-then-second!"


def test_sensitive_values_are_redacted_in_machine_readable_output(bakehouse, tmp_path: Path) -> None:
    secret = "mr-s3cr3t-token-value"
    write(tmp_path, "build.pkr.hcl", NULL_SOURCE + """
variable "token" {
  type      = string
  sensitive = true
}
build {
  sources = ["source.null.basic"]
  provisioner "shell-local" {
    inline = ["echo token=${var.token}"]
  }
}
""")
    result = bakehouse("build", "-machine-readable", "-var", f"token={secret}", "build.pkr.hcl")
    assert result.returncode == 0, output_of(result).replace(secret, "<leaked>")
    assert secret not in result.stdout and secret not in result.stderr
    assert "token=<sensitive>" in result.stdout
