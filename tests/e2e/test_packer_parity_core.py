"""End to end, through the real CLI: Packer behaviours of the core (issue 11, items 3-5)."""

from __future__ import annotations

import json
import lzma
import os
import re
import tarfile
import textwrap
from pathlib import Path


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_compress_post_processor_writes_xz_and_lz4(bakehouse, tmp_path):
    import shutil
    import subprocess

    from tests.support import require

    write(
        tmp_path,
        "t.pkr.hcl",
        """
        variable "output" { type = string }
        source "file" "f" {
          target  = "hello.txt"
          content = "hello compressed world"
        }
        build {
          sources = ["source.file.f"]
          post-processor "compress" { output = var.output }
        }
        """,
    )
    result = bakehouse("build", "-var", "output=out/hello.tar.xz", "t.pkr.hcl")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--> file.f: compressed artifacts in: out/hello.tar.xz" in result.stdout
    with lzma.open(tmp_path / "out" / "hello.tar.xz") as raw, tarfile.open(fileobj=raw) as archive:
        member = archive.extractfile("hello.txt")
        assert member is not None and member.read() == b"hello compressed world"

    require(shutil.which("lz4") is not None, "the lz4 command (apt package lz4)")
    result = bakehouse("build", "-var", "output=hello.txt.lz4", "t.pkr.hcl")
    assert result.returncode == 0, result.stdout + result.stderr
    decoded = subprocess.run(["lz4", "-d", "-c", str(tmp_path / "hello.txt.lz4")], capture_output=True, check=True)
    assert decoded.stdout == b"hello compressed world"

    # As Packer: an extension naming no format gets a tar compressed with gzip.
    result = bakehouse("build", "-var", "output=hello.box", "t.pkr.hcl")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hello.box names no archive format: writing a tar compressed with gzip" in result.stdout
    with tarfile.open(tmp_path / "hello.box", "r:gz") as archive:
        assert archive.getnames() == ["hello.txt"]


NULL_BUILD = """
source "null" "n" {}
build {
  sources = ["source.null.n"]
}
"""


def test_packer_log_variables_are_honoured_as_aliases(bakehouse, tmp_path):
    write(tmp_path, "t.pkr.hcl", NULL_BUILD)
    quiet = bakehouse("build", "t.pkr.hcl", env={"BAKEHOUSE_LOG": "", "PACKER_LOG": ""})
    assert quiet.returncode == 0 and "[DEBUG]" not in quiet.stderr
    logged = bakehouse("build", "t.pkr.hcl", env={"PACKER_LOG": "1"})
    assert logged.returncode == 0, logged.stdout + logged.stderr
    assert "[DEBUG] bakehouse: Bakehouse" in logged.stderr
    log_file = tmp_path / "packer.log"
    to_file = bakehouse("build", "t.pkr.hcl", env={"PACKER_LOG_PATH": str(log_file)})
    assert to_file.returncode == 0
    assert "[DEBUG] bakehouse: Bakehouse" in log_file.read_text()
    assert "[DEBUG]" not in to_file.stderr
    # As Packer: with PACKER_LOG too, the log goes to the file instead of stderr.
    both = bakehouse("build", "t.pkr.hcl", env={"PACKER_LOG": "1", "PACKER_LOG_PATH": str(log_file)})
    assert both.returncode == 0 and "[DEBUG]" not in both.stderr
    assert "[DEBUG] bakehouse: Bakehouse" in log_file.read_text()
    ours = bakehouse("build", "t.pkr.hcl", env={"BAKEHOUSE_LOG": "1", "BAKEHOUSE_LOG_PATH": str(log_file)})
    assert "[DEBUG] bakehouse: Bakehouse" in ours.stderr  # ours adds the file
    # Ours wins when both are set.
    off = bakehouse("build", "t.pkr.hcl", env={"PACKER_LOG": "1", "BAKEHOUSE_LOG": "0"})
    assert "[DEBUG]" not in off.stderr


def test_packer_plugin_path_is_searched(bakehouse, tmp_path, localdir_plugin_dir):
    env = {"BAKEHOUSE_PLUGIN_PATH": "", "PACKER_PLUGIN_PATH": str(localdir_plugin_dir)}
    result = bakehouse("plugins", "installed", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(localdir_plugin_dir / "bakehouse-plugin-localdir") in result.stdout
    without = bakehouse("plugins", "installed", env={"BAKEHOUSE_PLUGIN_PATH": "", "PACKER_PLUGIN_PATH": ""})
    assert "bakehouse-plugin-localdir" not in without.stdout


FLAKY_PROVISIONER = """
source "null" "n" {}
build {
  sources = ["source.null.n"]
  provisioner "shell-local" {
    inline = ["if [ -e marker ]; then echo second try worked; else touch marker; echo first try fails; exit 3; fi"]
  }
  error-cleanup-provisioner "shell-local" {
    inline = ["echo cleaned > cleanup.txt"]
  }
}
"""


def run_on_terminal(
    args: list[str], cwd: Path, typed: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run the real CLI with a pseudo-terminal as stdin, ``typed`` already typed into it."""
    import pty
    import subprocess

    from tests.support import bakehouse_exe

    master, slave = pty.openpty()
    try:
        os.write(master, typed.encode())
        proc = subprocess.run(
            [bakehouse_exe(), *args],
            cwd=cwd,
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, **(env or {})},
        )
    finally:
        os.close(slave)
        os.close(master)
    return proc.returncode, proc.stdout + proc.stderr


def test_on_error_ask_retries_the_failed_step_on_a_terminal(tmp_path):
    write(tmp_path, "t.pkr.hcl", FLAKY_PROVISIONER)
    code, output = run_on_terminal(["build", "-on-error=ask", "t.pkr.hcl"], tmp_path, "r\n")
    assert code == 0, output
    assert 'Step "StepProvision" failed' in output
    assert "[c] Clean up and exit, [a] abort without cleanup, or [r] retry step" in output
    assert "second try worked" in output
    assert not (tmp_path / "cleanup.txt").exists()


def test_on_error_ask_answered_abort_on_a_terminal_keeps_everything(tmp_path):
    # "x" is refused and the question asked again; "a" aborts: no cleanup step
    # runs, so neither does the error-cleanup provisioner.
    write(tmp_path, "t.pkr.hcl", FLAKY_PROVISIONER)
    code, output = run_on_terminal(["build", "-on-error=ask", "t.pkr.hcl"], tmp_path, "x\na\n")
    assert code == 1, output
    assert 'Incorrect input: "x"' in output
    assert "aborted: skipping cleanup of step 'StepProvision'" in output
    assert "aborted: skipping cleanup of step 'StepConnect'" in output
    assert not (tmp_path / "cleanup.txt").exists()


def test_on_error_ask_without_a_terminal_cleans_up_and_says_so(bakehouse, tmp_path):
    write(tmp_path, "t.pkr.hcl", FLAKY_PROVISIONER)
    result = bakehouse("build", "-on-error=ask", "t.pkr.hcl", input="")
    assert result.returncode == 1
    assert "-on-error=ask needs a terminal on stdin" in result.stdout
    assert "[c] Clean up" not in result.stdout
    # cleanup mode: the provisioning step's cleanup ran the error-cleanup provisioner
    assert (tmp_path / "cleanup.txt").read_text() == "cleaned\n"


def test_on_error_run_cleanup_provisioner_and_abort(bakehouse, tmp_path):
    write(tmp_path, "t.pkr.hcl", FLAKY_PROVISIONER)
    result = bakehouse("build", "-on-error=run-cleanup-provisioner", "t.pkr.hcl")
    assert result.returncode == 1, result.stdout
    assert (tmp_path / "cleanup.txt").read_text() == "cleaned\n"
    assert 'Step "StepProvision" failed, aborting...' in result.stdout
    assert "aborted: skipping cleanup of step 'StepConnect'" in result.stdout

    (tmp_path / "marker").unlink()
    (tmp_path / "cleanup.txt").unlink()
    result = bakehouse("build", "-on-error=abort", "t.pkr.hcl")
    assert result.returncode == 1
    assert "aborted: skipping cleanup of step 'StepProvision'" in result.stdout
    assert not (tmp_path / "cleanup.txt").exists()

    result = bakehouse("build", "-on-error=sometimes", "t.pkr.hcl")
    assert result.returncode == 1
    assert "choose one of cleanup, abort, ask, run-cleanup-provisioner" in result.stderr


def test_debug_pauses_after_every_builder_step_and_before_each_cleanup(tmp_path):
    write(tmp_path, "t.pkr.hcl", FLAKY_PROVISIONER.replace("exit 3", "exit 0"))
    code, output = run_on_terminal(["build", "-debug", "t.pkr.hcl"], tmp_path, "\n" * 8)
    assert code == 0, output
    pauses = [line.split(": ", 1)[-1] for line in output.splitlines() if "Pausing" in line]
    assert pauses == [
        "Pausing after run of step 'StepConnect'. Press enter to continue.",
        "Pausing before the next provisioner . Press enter to continue.",
        "Pausing after run of step 'StepProvision'. Press enter to continue.",
        "Pausing before cleanup of step 'StepProvision'. Press enter to continue.",
        "Pausing before cleanup of step 'StepConnect'. Press enter to continue.",
    ], output


def _loopback_http_server():
    """A real HTTP server on 127.0.0.1 answering /hello, /echo (POST) and 404 otherwise."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("x-tag", "one")  # Go canonicalises the names: one X-Tag key
            self.send_header("X-Tag", "two")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/hello":
                self._answer(200, b"hello from loopback")
            else:
                self._answer(404, b"nope")

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            payload = self.rfile.read(length).decode()
            self._answer(200, f"{self.headers.get('X-Token')}:{payload}".encode(), "application/json")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_http_data_source_reads_a_loopback_server(bakehouse, tmp_path):
    server = _loopback_http_server()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        write(
            tmp_path,
            "t.pkr.hcl",
            """
            variable "base" { type = string }
            data "http" "hello" {
              url = "${var.base}/hello"
            }
            data "http" "echo" {
              url             = "${var.base}/echo"
              method          = "POST"
              request_headers = { X-Token = "secret-token" }
              request_body    = "payload"
            }
            source "file" "out" {
              target  = "out.txt"
              content = "${data.http.hello.body}|${data.http.hello.request_headers["X-Tag"]}|${data.http.echo.body}|${join(",", keys(data.http.hello.request_headers))}"
            }
            build { sources = ["source.file.out"] }
            """,
        )
        result = bakehouse("build", "-var", f"base={base}", "t.pkr.hcl")
        assert result.returncode == 0, result.stdout + result.stderr
        text = (tmp_path / "out.txt").read_text()
        assert text.startswith("hello from loopback|one, two|secret-token:payload|"), text
        assert "X-Tag" in text.split("|")[3].split(",") and "x-tag" not in text, text

        write(tmp_path, "t.pkr.hcl", 'data "http" "missing" { url = "' + base + '/missing" }\n')
        result = bakehouse("validate", "-evaluate-datasources", "t.pkr.hcl")
        assert result.returncode == 1
        assert "Data source http.missing failed" in result.stdout
        assert "HTTP request error. Response code: 404" in result.stdout
        write(tmp_path, "t.pkr.hcl", 'data "http" "bad" {\n  url    = "' + base + '/hello"\n  method = "FETCH"\n}\n')
        result = bakehouse("validate", "-evaluate-datasources", "t.pkr.hcl")
        assert result.returncode == 1 and "The `method` must be one of HEAD, GET" in result.stdout
        assert "Traceback" not in result.stdout + result.stderr
    finally:
        server.shutdown()
        server.server_close()


def test_inline_shebang_on_the_first_line_replaces_the_default(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        source "null" "n" {}
        build {
          sources = ["source.null.n"]
          provisioner "shell-local" {
            # Without the first line, the default "/bin/sh -e" would stop at `false`.
            inline = ["#!/bin/sh", "false", "echo reached after false"]
          }
          provisioner "shell-local" {
            inline = ["false", "echo never printed"]
          }
        }
        """,
    )
    result = bakehouse("build", "t.pkr.hcl")
    assert "reached after false" in result.stdout
    assert "never printed" not in result.stdout
    assert result.returncode == 1


def test_undeclared_var_file_names_warn_only_with_warn_on_undeclared_var(bakehouse, tmp_path):
    write(tmp_path, "t.pkr.hcl", 'variable "x" {\n  type = string\n}\n' + NULL_BUILD)
    write(tmp_path, "v.pkrvars.hcl", 'x = "1"\ntypo = "2"\n')
    quiet = bakehouse("build", "-var-file=v.pkrvars.hcl", "t.pkr.hcl")
    assert quiet.returncode == 0, quiet.stdout
    assert "Undefined variable" not in quiet.stdout
    loud = bakehouse("build", "-warn-on-undeclared-var", "-var-file=v.pkrvars.hcl", "t.pkr.hcl")
    assert loud.returncode == 0, loud.stdout
    assert "Warning: Undefined variable" in loud.stdout
    assert 'A "typo" variable was set' in loud.stdout and "v.pkrvars.hcl" in loud.stdout


def test_inspect_with_only_and_except(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        source "null" "first" {}
        source "null" "second" {}
        build {
          name    = "app"
          sources = ["source.null.first", "source.null.second"]
          post-processor "manifest" {}
          post-processor "checksum" {
            name           = "sums"
            checksum_types = ["md5"]
          }
        }
        build {
          name    = "other"
          sources = ["source.null.first"]
        }
        """,
    )
    full = bakehouse("inspect", "t.pkr.hcl")
    assert full.returncode == 0, full.stdout
    assert "null.second" in full.stdout and "> other:" in full.stdout and "checksum.sums" in full.stdout

    only = bakehouse("inspect", "-only=app.*.second", "t.pkr.hcl")
    assert only.returncode == 0, only.stdout
    sources = [line.strip() for line in only.stdout.splitlines() if line.startswith("      null.")]
    assert sources == ["null.second"], only.stdout
    assert "> other:" not in only.stdout

    excepted = bakehouse("inspect", "-except=other.*,sums", "t.pkr.hcl")
    assert excepted.returncode == 0, excepted.stdout
    assert "> other:" not in excepted.stdout
    assert "manifest" in excepted.stdout and "checksum.sums" not in excepted.stdout

    nomatch = bakehouse("inspect", "-only=nothing", "t.pkr.hcl")
    assert "A -only pattern did not match any build: nothing" in nomatch.stdout


LEGACY_JSON = """
{
  "description": "a legacy JSON template",
  "min_packer_version": "1.5.0",
  "variables": {
    "greeting": "hello",
    "from_env": "{{env `PARITY_GREETING`}}",
    "token": null
  },
  "sensitive-variables": ["token"],
  "builders": [
    {"type": "null", "name": "first"},
    {"type": "file", "name": "out", "target": "{{build_name}}-{{build_type}}.txt",
     "content": "{{user `greeting`}} {{user `from_env`}}"}
  ],
  "provisioners": [
    {"type": "shell-local", "only": ["first"],
     "inline": ["echo {{user `greeting`}} on {{build_name}} at {{timestamp}} token={{user `token`}}",
                "echo '{{ .Vars }}' stays for the component"]},
    {"type": "shell-local", "inline": ["echo year {{isotime `2006`}}"]}
  ],
  "post-processors": [
    [
      {"type": "shell-local", "inline": ["echo chained after {{build_name}}"]},
      {"type": "checksum", "checksum_types": ["md5"], "output": "{{build_name}}.md5"}
    ]
  ]
}
"""


def test_legacy_json_template_builds(bakehouse, tmp_path):
    import datetime
    import re

    write(tmp_path, "t.json", LEGACY_JSON)
    env = {"PARITY_GREETING": "from-the-env"}
    result = bakehouse("build", "-var", "token=s3cr3t", "t.json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert (tmp_path / "out-file.txt").read_text() == "hello from-the-env"
    stamp = re.search(r"hello on first at (\d+) token=<sensitive>", out)
    assert stamp is not None, out  # {{timestamp}} is the run's Unix time, the secret is hidden
    assert abs(int(stamp.group(1)) - datetime.datetime.now().timestamp()) < 600
    assert "{{ .Vars }} stays for the component" in out
    assert f"year {datetime.datetime.now(datetime.UTC).year}" in out
    assert "chained after first" in out and (tmp_path / "first.md5").exists()
    assert "==> null.first: Build 'null.first' finished" in out

    missing = bakehouse("build", "t.json", env=env)
    assert missing.returncode == 1 and 'Unset variable "token"' in missing.stdout


LEGACY_JSON_OPTIONS = """
{
  "variables": {"name": "default", "ami": "My AMI: v1+2"},
  "builders": [{"type": "null", "name": "a"}, {"type": "null", "name": "b"}],
  "provisioners": [
    {"type": "shell-local", "only": ["a"],
     "inline": ["echo 'run={{build `PackerRunUUID`}} ami={{user `ami` | clean_resource_name}}'"]},
    {"type": "shell-local", "inline": ["echo default {{user `name`}}"],
     "override": {"b": {"inline": ["echo overridden for b"]}}, "max_retries": 1, "timeout": "1m"},
    {"type": "shell-local", "except": ["a"],
     "inline": ["echo on b dir={{template_dir}} uuid={{uuid}} {{lower `ABC`}} {{user `name` | upper}}"]}
  ],
  "post-processors": [
    "manifest",
    {"type": "checksum", "only": ["a"], "output": "{{user `name`}}.sum"}
  ]
}
"""


def test_legacy_json_overrides_only_except_var_files_and_functions(bakehouse, tmp_path):
    write(tmp_path, "t.json", LEGACY_JSON_OPTIONS)
    write(tmp_path, "v.json", '{"name": "fromfile"}')
    result = bakehouse("build", "-var-file=v.json", "t.json")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "null.a: default fromfile" in out and "null.b: overridden for b" in out
    assert re.search(r"null\.a: run=[0-9a-f-]{36} ami=My AMI- v1-2\n", out), out
    assert "null.b: default" not in out and "null.a: on b" not in out
    line = re.search(r"null\.b: on b dir=(\S+) uuid=(\S+) abc FROMFILE", out)
    assert line is not None, out
    assert line.group(1) == str(tmp_path)  # Packer's template_dir is absolute
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", line.group(2))
    manifest = json.loads((tmp_path / "packer-manifest.json").read_text())
    assert sorted(build["name"] for build in manifest["builds"]) == ["a", "b"]  # "manifest": a string
    assert (tmp_path / "fromfile.sum").exists()  # only on a; {{user}} in the output
    # Packer names JSON builds by builder name: -only=b works as with Packer.
    only_b = bakehouse("build", "-only=b", "-var-file=v.json", "t.json")
    assert only_b.returncode == 0, only_b.stdout
    assert "null.b: overridden for b" in only_b.stdout and "null.a:" not in only_b.stdout

    upgraded = bakehouse("hcl2_upgrade", "t.json")
    assert upgraded.returncode == 0, upgraded.stdout
    hcl = (tmp_path / "t.json.pkr.hcl").read_text()
    assert "uuidv4()" in hcl and 'lower("ABC")' in hcl and "${path.root}" in hcl
    rebuilt = bakehouse("build", "-var-file=v.json", "t.json.pkr.hcl")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "null.b: overridden for b" in rebuilt.stdout and "abc FROMFILE" in rebuilt.stdout


def test_legacy_json_unsupported_function_is_a_clear_error(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.json",
        """
        {
          "builders": [{"type": "null"}],
          "provisioners": [
            {"type": "shell-local", "inline": ["echo {{consul_key `a/b`}}"]}
          ]
        }
        """,
    )
    result = bakehouse("validate", "t.json")
    assert result.returncode == 1
    assert "Error: Unsupported template function" in result.stdout
    assert "on t.json line 5" in result.stdout
    assert 'The template function "consul_key"' in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


# split, replace and replace_all as Packer 1.6.6 prints them for this template
# (`packer build t.json`, recorded): arguments in Go template order, a piped
# value last, nested calls in parentheses, replace's count (-1: all, 0: none).
LEGACY_JSON_STRING_FUNCTIONS = {
    "variables": {"name": "my-app-name"},
    "builders": [{"type": "null", "communicator": "none"}],
    "provisioners": [{"type": "shell-local", "inline": [
        'echo S1={{split "foo-bar-baz" "-" 1}}',
        "echo S2={{split (user `name`) \"-\" 2}}",
        "echo R1={{replace \"-\" \"_\" 1 (user `name`)}}",
        "echo R2={{replace \"-\" \"_\" -1 (user `name`)}}",
        "echo R3={{replace_all \"-\" \"_\" (user `name`)}}",
        "echo R4={{user `name` | replace_all \"-\" \"_\"}}",
        'echo R5={{build_name | upper | replace "L" "x" 1}}',
        "echo R6={{replace \"-\" \"_\" 0 (user `name`)}}",
        'echo R8={{replace_all "/" "." (upper `a/b/c`)}}',
        'echo R9={{ split (build_name | upper) "L" 0 }}',
        'echo RA={{replace "a" "b" 9 "banana"}}',
        'echo RB={{replace_all "/x/" "y" "a/x/b"}}',
    ]}],
}
PACKER_STRING_FUNCTION_OUTPUT = [
    "S1=bar", "S2=name", "R1=my_app-name", "R2=my_app_name", "R3=my_app_name", "R4=my_app_name",
    "R5=NUxL", "R6=my-app-name", "R8=A.B.C", "R9=NU", "RA=bbnbnb", "RB=ayb",
]


def test_legacy_json_split_and_replace_print_what_packer_prints(bakehouse, tmp_path):
    write(tmp_path, "t.json", json.dumps(LEGACY_JSON_STRING_FUNCTIONS, indent=2))
    result = bakehouse("build", "t.json")
    assert result.returncode == 0, result.stdout + result.stderr
    printed = re.findall(r"null\.null: ([SR][0-9A-B]=\S*)", result.stdout)
    assert printed == PACKER_STRING_FUNCTION_OUTPUT, result.stdout

    # hcl2_upgrade writes the same calls as HCL2 expressions, which build the same.
    upgraded = bakehouse("hcl2_upgrade", "t.json")
    assert upgraded.returncode == 0 and "left as it is" not in upgraded.stdout, upgraded.stdout
    hcl = (tmp_path / "t.json.pkr.hcl").read_text()
    assert 'split("-", "foo-bar-baz")[1]' in hcl and 'join("_", split("-", var.name))' in hcl
    rebuilt = bakehouse("build", "t.json.pkr.hcl")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert re.findall(r"null\.null: ([SR][0-9A-B]=\S*)", rebuilt.stdout) == PACKER_STRING_FUNCTION_OUTPUT

    # An index past the end is an error, as in Packer, pointing at the converted text.
    past_template = {**LEGACY_JSON_STRING_FUNCTIONS, "provisioners": [
        {"type": "shell-local", "inline": ['echo {{split "foo-bar" "-" 5}}']}]}
    write(tmp_path, "past.json", json.dumps(past_template))
    past = bakehouse("build", "past.json")
    assert past.returncode == 1 and "Error: Invalid index" in past.stdout, past.stdout
    assert "The index 5 is out of range" in past.stdout and "Traceback" not in past.stdout + past.stderr


def test_hcl2_upgrade_writes_an_equivalent_template_that_validates_and_builds(bakehouse, tmp_path):
    write(tmp_path, "t.json", LEGACY_JSON)
    result = bakehouse("hcl2_upgrade", "t.json")
    assert result.returncode == 0, result.stdout
    assert "Successfully created t.json.pkr.hcl" in result.stdout
    hcl = (tmp_path / "t.json.pkr.hcl").read_text()
    assert 'source "file" "out" {' in hcl
    assert 'default = env("PARITY_GREETING")' in hcl
    assert "${local.timestamp}" in hcl and 'regex_replace(timestamp(), "[- TZ:]", "")' in hcl
    assert 'only   = ["null.first"]' in hcl or 'only = ["null.first"]' in hcl
    assert "post-processors {" in hcl
    assert 'required_version = ">= 1.5.0"' in hcl

    validated = bakehouse("validate", "-var", "token=x", "t.json.pkr.hcl")
    assert validated.returncode == 0, validated.stdout
    built = bakehouse("build", "-var", "token=x", "t.json.pkr.hcl", env={"PARITY_GREETING": "again"})
    assert built.returncode == 0, built.stdout
    assert (tmp_path / "out-file.txt").read_text() == "hello again"
    assert re.search(r"hello on first at \d{14} token=<sensitive>", built.stdout), built.stdout

    annotated = bakehouse("hcl2_upgrade", "-with-annotations", "-output-file=ann.pkr.hcl", "t.json")
    assert annotated.returncode == 0, annotated.stdout
    text = (tmp_path / "ann.pkr.hcl").read_text()
    assert text.count("\n# Input variables") == 1 and text.count("\n# Each source block") == 1
    assert text.replace("\n", " ").count("# The build block runs") == 1
    assert bakehouse("validate", "-var", "token=x", "ann.pkr.hcl").returncode == 0

    not_json = bakehouse("hcl2_upgrade", "t.json.pkr.hcl")
    assert not_json.returncode == 1 and "is not a legacy JSON template" in not_json.stdout


def test_build_name_variables_of_a_source_renamed_in_a_build_block(bakehouse, tmp_path):
    # As Packer 1.16: the build is app.null.renamed and source.name is the new
    # name, build.name the build block's name; but packer_build_name (hence
    # PACKER_BUILD_NAME, {{.BuildName}} and the manifest's "name") stays the
    # source block's own name, "base" (hashicorp/packer#12482, still open).
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        source "null" "base" {}
        build {
          name = "app"
          source "source.null.base" {
            name = "renamed"
          }
          provisioner "shell-local" {
            inline = ["echo src=${source.name}/${source.type} build=${build.name} env=$PACKER_BUILD_NAME/$PACKER_BUILDER_TYPE id=${build.ID}"]
          }
          post-processor "manifest" { output = "m.json" }
          post-processor "checksum" {
            checksum_types = ["md5"]
            output         = "{{.BuildName}}-{{.BuilderType}}.sum"
          }
        }
        """,
    )
    result = bakehouse("build", "-only=app.null.renamed", "t.pkr.hcl")
    assert result.returncode == 0, result.stdout + result.stderr
    # (build.ID: the null builder has no instance, Packer's hook data says so)
    assert "app.null.renamed: src=renamed/null build=app env=base/null id=ERR_ID_NOT_IMPLEMENTED_BY_BUILDER" in result.stdout
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert manifest["builds"][0]["name"] == "base"
    assert (tmp_path / "base-null.sum").exists()
    assert "==> app.null.renamed: Build 'app.null.renamed' finished" in result.stdout


def test_docker_builder_asks_over_rpc_and_pauses_at_its_steps(
    tmp_path, busybox_image, docker_resources, run_id, cli_env
):
    # The docker builder runs in its plugin process: the question and the
    # pauses reach the terminal through the RPC Ui.
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        variable "image" { type = string }
        source "docker" "d" {
          image   = var.image
          pull    = false
          discard = true
        }
        build {
          sources = ["source.docker.d"]
          provisioner "shell" {
            inline = ["if [ -e /tmp/marker ]; then echo retried in the container; else touch /tmp/marker; exit 4; fi"]
          }
        }
        """,
    )
    code, output = run_on_terminal(
        ["build", "-debug", "-on-error=ask", "-var", f"image={busybox_image}", "t.pkr.hcl"],
        tmp_path,
        "r\n" * 30,  # a pause takes any line; the question gets "r"
        env=cli_env,
    )
    assert code == 0, output
    assert "[c] Clean up and exit, [a] abort without cleanup, or [r] retry step" in output
    assert "retried in the container" in output
    pauses = [line.split(": ", 1)[-1] for line in output.splitlines() if "Pausing after run of step" in line]
    assert len(pauses) >= 4, output  # temp dir, pull, run container, connect, provision...
    assert "Pausing before cleanup of step" in output
    assert docker_resources.build_containers(run_id) == []
