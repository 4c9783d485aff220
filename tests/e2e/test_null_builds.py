"""End to end: `bakehouse build` of null builds, through the real CLI and plugin processes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


TWO_SOURCES = """
variable "greeting" {
  type    = string
  default = "hello"
}

source "null" "first" {}
source "null" "second" {}

build {
  name    = "demo"
  sources = ["source.null.first", "source.null.second"]

  provisioner "shell-local" {
    inline = ["echo ${var.greeting} from ${source.name} > ${source.name}.txt"]
  }
}
"""


def test_null_build_with_shell_local_writes_a_file(bakehouse, tmp_path):
    write(tmp_path, "t.pkr.hcl", TWO_SOURCES)
    result = bakehouse("build", "-var", "greeting=hi", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "first.txt").read_text() == "hi from first\n"
    assert (tmp_path / "second.txt").read_text() == "hi from second\n"
    out = result.stdout
    assert "==> demo.null.first: Build 'demo.null.first' finished after" in out
    assert "==> Builds finished. The artifacts of successful builds are:" in out
    assert "--> demo.null.second: Did not export anything. This is the null builder" in out
    assert "Traceback" not in result.stdout + result.stderr


def test_variable_precedence_default_env_auto_file_then_cli(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        variable "x" {
          type    = string
          default = "default"
        }
        source "null" "v" {}
        build {
          sources = ["source.null.v"]
          provisioner "shell-local" {
            inline = ["echo x=${var.x} > result.txt"]
          }
        }
        """,
    )
    assert bakehouse("build", ".", cwd=tmp_path).returncode == 0
    assert (tmp_path / "result.txt").read_text() == "x=default\n"
    assert bakehouse("build", ".", cwd=tmp_path, env={"PKR_VAR_x": "env"}).returncode == 0
    assert (tmp_path / "result.txt").read_text() == "x=env\n"
    write(tmp_path, "z.auto.pkrvars.hcl", 'x = "auto"\n')
    assert bakehouse("build", ".", cwd=tmp_path, env={"PKR_VAR_x": "env"}).returncode == 0
    assert (tmp_path / "result.txt").read_text() == "x=auto\n"
    result = bakehouse("build", "-var", "x=cli", ".", cwd=tmp_path, env={"PKR_VAR_x": "env"})
    assert result.returncode == 0, result.stdout
    assert (tmp_path / "result.txt").read_text() == "x=cli\n"


def test_only_and_except_select_builds_with_globs(bakehouse, tmp_path):
    write(tmp_path, "t.pkr.hcl", TWO_SOURCES)
    result = bakehouse("build", "-only=*.second", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert (tmp_path / "second.txt").exists() and not (tmp_path / "first.txt").exists()
    (tmp_path / "second.txt").unlink()
    result = bakehouse("build", "--except", "demo.null.sec*", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert (tmp_path / "first.txt").exists() and not (tmp_path / "second.txt").exists()


def test_only_matching_nothing_is_an_error(bakehouse, tmp_path):
    write(tmp_path, "t.pkr.hcl", TWO_SOURCES)
    result = bakehouse("build", "-only", "nomatch", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1
    assert "nomatch" in result.stdout and "demo.null.first" in result.stdout
    assert "No builds to run" in result.stdout


def test_failing_provisioner_retries_and_sibling_still_succeeds(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        source "null" "ok" {}
        source "null" "bad" {}
        build {
          sources = ["source.null.ok", "source.null.bad"]
          provisioner "shell-local" {
            only        = ["null.bad"]
            inline      = ["exit 3"]
            max_retries = 2
          }
        }
        """,
    )
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    out = result.stdout
    assert result.returncode == 1
    assert "retrying with 2 trie(s) left" in out and "retrying with 1 trie(s) left" in out
    assert "retry limit reached." in out
    assert "Build 'null.bad' errored after" in out
    assert "Build 'null.ok' finished after" in out
    assert "==> Some builds didn't complete successfully and had errors:" in out
    assert "--> null.ok: Did not export anything" in out


def test_post_processor_failure_fails_the_build_but_other_chains_run(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        source "null" "pp" {}
        build {
          sources = ["source.null.pp"]
          post-processor "shell-local" {
            inline = ["exit 1"]
          }
          post-processors {
            post-processor "shell-local" {
              name   = "second"
              inline = ["echo chain2 > chain2.txt"]
            }
          }
        }
        """,
    )
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1
    assert (tmp_path / "chain2.txt").read_text() == "chain2\n"
    assert "1 error(s) occurred:" in result.stdout and "Post-processor failed" in result.stdout
    assert "Builds finished but no artifacts were created." in result.stdout
    (tmp_path / "chain2.txt").unlink()
    skipped = bakehouse("build", "-except=second", "t.pkr.hcl", cwd=tmp_path)
    assert not (tmp_path / "chain2.txt").exists()
    assert skipped.returncode == 1


def test_file_builder_with_manifest_and_checksum(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        source "file" "notes" {
          content = "baked"
          target  = "out/notes.txt"
        }
        build {
          sources = ["source.file.notes"]
          post-processor "checksum" {
            checksum_types = ["sha256"]
            output         = "out/{{.BuildName}}.{{.ChecksumType}}"
          }
          post-processor "manifest" {
            output      = "manifest.json"
            custom_data = { team = "bakers" }
          }
        }
        """,
    )
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "out/notes.txt").read_text() == "baked"
    import hashlib

    digest = hashlib.sha256(b"baked").hexdigest()
    assert (tmp_path / "out/notes.sha256").read_text() == f"{digest}\tnotes.txt\n"
    # As Packer: the builder's artifact is kept (checksum forces it) and the
    # checksum artifact holds the input's files and the checksum file.
    assert "--> file.notes: Stored file: out/notes.txt" in result.stdout
    assert "--> file.notes: Created artifact from files: out/notes.txt, out/notes.sha256" in result.stdout
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (build,) = manifest["builds"]
    assert build["name"] == "notes" and build["builder_type"] == "file"
    assert build["files"] == [{"name": "out/notes.txt", "size": 5}]
    assert build["artifact_id"] == "File"  # Packer's file builder artifact id
    assert build["custom_data"] == {"team": "bakers"}
    assert manifest["last_run_uuid"] == build["packer_run_uuid"] != ""


def test_machine_readable_output(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        source "null" "m" {}
        build {
          sources = ["source.null.m"]
          provisioner "shell-local" {
            inline = ["echo 'a, b'"]
          }
        }
        """,
    )
    result = bakehouse("build", "t.pkr.hcl", "-machine-readable", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert all(line.split(",", 1)[0].isdigit() for line in lines), lines
    fields = [line.split(",", 1)[1] for line in lines]
    assert "null.m,artifact-count,1" in fields
    assert "null.m,artifact,0,builder-id,fnoeding.null" in fields
    assert "null.m,artifact,0,end" in fields
    assert any(f.startswith(",ui,message,") and "a%!(PACKER_COMMA) b" in f for f in fields), fields
    assert "\033" not in result.stdout


def test_sensitive_values_never_printed(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        variable "token" {
          type      = string
          default   = "tok-12345"
          sensitive = true
        }
        source "null" "s" {}
        build {
          sources = ["source.null.s"]
          provisioner "shell-local" {
            inline = ["echo the token is ${var.token}"]
          }
        }
        """,
    )
    for flags in ((), ("-machine-readable",)):
        result = bakehouse("build", *flags, "t.pkr.hcl", cwd=tmp_path, env={"BAKEHOUSE_LOG": "1"})
        assert result.returncode == 0, result.stdout
        assert "tok-12345" not in result.stdout and "tok-12345" not in result.stderr
        assert "<sensitive>" in result.stdout


def test_config_error_reports_file_and_line_without_traceback(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        source "null" "c" {}
        build {
          sources = ["source.null.c"]
          provisioner "sleep" {
            duration = "ten seconds"
          }
        }
        """,
    )
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1
    assert "t.pkr.hcl line 6" in result.stdout, result.stdout
    assert "invalid duration" in result.stdout.lower()
    assert "Traceback" not in result.stdout + result.stderr


def test_usage_errors_print_help_and_exit_1(bakehouse, tmp_path):
    result = bakehouse("build", cwd=tmp_path)
    assert result.returncode == 1
    assert "usage: bakehouse build" in result.stderr
    bad = bakehouse("build", "-on-error=explode", "x.pkr.hcl", cwd=tmp_path)
    assert bad.returncode == 1 and "invalid -on-error value" in bad.stderr
    missing = bakehouse("build", "missing.pkr.hcl", cwd=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stdout
    unknown = bakehouse("bake", cwd=tmp_path)
    assert unknown.returncode == 1 and "Available commands are:" in unknown.stderr
    assert "Traceback" not in result.stderr + bad.stderr + missing.stderr + unknown.stderr


def test_version_and_plugins_installed(bakehouse, tmp_path):
    version = bakehouse("version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("Bakehouse v")
    machine = bakehouse("-machine-readable", "version", cwd=tmp_path)
    assert ",version," in machine.stdout
    plugins = bakehouse("plugins", "installed", cwd=tmp_path)
    assert plugins.returncode == 0
    assert "bakehouse-plugin-shell" in plugins.stdout
    assert "builder: file, null" in plugins.stdout


def test_parallel_builds_one_runs_builds_one_after_another(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        source "null" "p1" {}
        source "null" "p2" {}
        build {
          sources = ["source.null.p1", "source.null.p2"]
          provisioner "shell-local" {
            inline = ["date +%s.%N >> times-${source.name}.txt", "sleep 1", "date +%s.%N >> times-${source.name}.txt"]
          }
        }
        """,
    )
    result = bakehouse("build", "-parallel-builds=1", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    p1 = [float(x) for x in (tmp_path / "times-p1.txt").read_text().split()]
    p2 = [float(x) for x in (tmp_path / "times-p2.txt").read_text().split()]
    first, second = sorted([p1, p2])
    assert second[0] >= first[1], (first, second)


def test_example_null_hello_builds(bakehouse, tmp_path):
    import shutil

    example = Path(__file__).resolve().parents[2] / "examples" / "null-hello"
    copy = tmp_path / "null-hello"
    shutil.copytree(example, copy, ignore=shutil.ignore_patterns("output"))
    result = bakehouse("build", "-var", "who=tester", str(copy), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (copy / "output" / "hello.txt").read_text() == "Hello, tester! Baked by null.hello.\n"
    manifest = json.loads((copy / "output" / "manifest.json").read_text())
    assert manifest["builds"][0]["custom_data"] == {"greeted": "tester"}


def test_null_builder_over_ssh_with_file_and_shell_provisioners(bakehouse, tmp_path, sshd_server):
    """communicator = "ssh": the null builder connects to a real sshd on loopback;
    the built-in file provisioner uploads and downloads over SFTP, and the shell
    provisioner (a plugin process) runs commands through the same connection."""
    remote = tmp_path / "remote"
    remote.mkdir()  # as in Packer, the destination's parent directories must exist
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<h1>baked</h1>")
    write(
        tmp_path,
        "t.pkr.hcl",
        f"""
        source "null" "box" {{
          communicator         = "ssh"
          ssh_host             = "{sshd_server.host}"
          ssh_port             = {sshd_server.port}
          ssh_username         = "{sshd_server.user}"
          ssh_private_key_file = "{sshd_server.client_key}"
          ssh_timeout          = "30s"
        }}
        build {{
          sources = ["source.null.box"]
          provisioner "file" {{
            content     = "from content"
            destination = "{remote}/content.txt"
          }}
          provisioner "file" {{
            source      = "site"
            destination = "{remote}/"
          }}
          provisioner "shell" {{
            inline = ["cat {remote}/site/index.html > {remote}/copied.html", "echo shell ran"]
          }}
          provisioner "file" {{
            direction   = "download"
            source      = "{remote}/copied.html"
            destination = "downloaded/"
          }}
        }}
        """,
    )
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (remote / "content.txt").read_text() == "from content"
    assert (remote / "site" / "index.html").read_text() == "<h1>baked</h1>"
    assert (tmp_path / "downloaded" / "copied.html").read_text() == "<h1>baked</h1>"
    assert "shell ran" in result.stdout
    assert "Connected to SSH!" in result.stdout


def test_error_cleanup_provisioner_runs_after_a_failure(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        source "null" "e" {}
        build {
          sources = ["source.null.e"]
          provisioner "shell-local" {
            inline = ["exit 4"]
          }
          error-cleanup-provisioner "shell-local" {
            inline = ["echo cleaned > cleanup.txt"]
          }
        }
        """,
    )
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1
    assert (
        "Provisioning step had errors: Running the cleanup provisioner, if present..."
        in result.stdout
    )
    assert (tmp_path / "cleanup.txt").read_text() == "cleaned\n"


def test_provisioner_timeout_stops_the_plugin_command(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        source "null" "t" {}
        build {
          sources = ["source.null.t"]
          provisioner "shell-local" {
            pause_before = "100ms"
            timeout      = "1s"
            inline       = ["sleep 30", "echo not reached > reached.txt"]
          }
        }
        """,
    )
    import time

    started = time.monotonic()
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1
    assert time.monotonic() - started < 60  # the 30 s command did not run to its end
    out = result.stdout
    assert "Pausing 100ms before the next provisioner..." in out
    assert "Setting a 1s timeout for the next provisioner..." in out
    assert "Cancelling provisioner after a timeout..." in out
    assert "timed out after 1s" in out
    assert not (tmp_path / "reached.txt").exists()


def test_colours_announcement_and_timestamps(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        source "null" "one" {}
        source "null" "two" {}
        build {
          sources = ["source.null.one", "source.null.two"]
        }
        """,
    )
    colored = bakehouse("build", "t.pkr.hcl", cwd=tmp_path, env={"BAKEHOUSE_FORCE_COLOR": "1"})
    assert colored.returncode == 0, colored.stdout
    assert "\033[1;32mnull.one: output will be in this color.\033[0m" in colored.stdout
    assert "\033[1;36mnull.two: output will be in this color.\033[0m" in colored.stdout
    assert "\033[1;32m==> null.one: Build 'null.one' finished after" in colored.stdout
    plain = bakehouse(
        "build",
        "-color=false",
        "-timestamp-ui",
        "t.pkr.hcl",
        cwd=tmp_path,
        env={"BAKEHOUSE_FORCE_COLOR": "1"},
    )
    assert plain.returncode == 0, plain.stdout
    assert "\033" not in plain.stdout
    finished = [line for line in plain.stdout.splitlines() if "Build 'null.one' finished" in line]
    assert len(finished) == 1
    stamp, rest = finished[0].split(": ", 1)
    assert rest.startswith("==> null.one: ") and stamp[:4].isdigit() and "T" in stamp
    # as the flag's help says: every line (blank separators aside) carries the stamp
    unstamped = [line for line in plain.stdout.splitlines() if line and not line[:4].isdigit()]
    assert unstamped == [], unstamped


def test_each_build_gets_its_own_plugin_process(bakehouse, tmp_path):
    # Walks up from the provisioner's shell to the shell plugin process serving it.
    write(tmp_path, "find_plugin.sh", """
        p=$$
        while [ "$p" -gt 1 ]; do
          if tr '\\0' ' ' < /proc/$p/cmdline | grep -q bakehouse-plugin-shell; then echo $p; exit 0; fi
          p=$(awk '{print $4}' /proc/$p/stat)
        done
        exit 1
        """)
    write(tmp_path, "t.pkr.hcl", """
        source "null" "left" {}
        source "null" "right" {}
        build {
          sources = ["source.null.left", "source.null.right"]
          provisioner "shell-local" {
            inline = ["sh find_plugin.sh >> plugin-${source.name}.txt"]
          }
          provisioner "shell-local" {
            inline = ["sh find_plugin.sh >> plugin-${source.name}.txt"]
          }
        }
        """)
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    left = (tmp_path / "plugin-left.txt").read_text().split()
    right = (tmp_path / "plugin-right.txt").read_text().split()
    # both provisioners of a build run in that build's plugin process...
    assert len(left) == 2 and len(set(left)) == 1, left
    assert len(right) == 2 and len(set(right)) == 1, right
    # ...and the two builds never share one
    assert left[0] != right[0]
