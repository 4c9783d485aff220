"""Every code block of the docs and READMEs is accounted for, and the examples
are run as a reader would run them: through the real CLI in an empty directory,
with the fixtures of the shipped pytest plugin (``bakehouse.testing``) only.

``CATALOG`` lists each file's fenced blocks in order (language, first line,
what runs it). A block added, removed or edited into another one fails
``test_every_doc_block_is_catalogued`` until the catalog says what runs it.
Substitutions are limited to names that must be unique per test run (image
and repository names on the shared engine, the registry's address) and are
said where they are made.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from bakehouse.testing import bakehouse_executable

REPO = Path(__file__).resolve().parents[2]
HERE = "tests/e2e/test_doc_examples.py"

#: file -> its blocks in order: (language, first line, what runs it). "what runs
#: it" is a test (``path::function``) or, for a block that is not an example
#: one can run, the reason, starting with "output:", "reference:" or "not run:".
CATALOG: dict[str, list[tuple[str, str, str]]] = {
    "README.md": [
        ("sh", "bash scripts/demo",
         "not run: it runs scripts/setup (apt, dockerd) and tags fixed names on the shared engine; "
         "test_docker_examples.py makes the same two builds with names of its own"),
        ("sh", "bash scripts/test", "not run: the test command itself (.ci/run runs it in CI)"),
        ("", "bakehouse build [flags] TEMPLATE", f"{HERE}::test_readme_command_list_matches_the_cli"),
        ("", "packages/core           bakehouse:", "reference: the repository's layout"),
    ],
    "packages/core/README.md": [
        ("sh", "pip install bakehouse bakehouse-plugin-shell",
         "not run: installs from PyPI (tests/test_packaging.py builds these distributions)"),
        ("sh", "bakehouse build template.pkr.hcl", f"{HERE}::test_core_readme_commands_run"),
    ],
    "packages/plugin-aws/README.md": [
        ("", "pip install bakehouse bakehouse-plugin-aws",
         "not run: installs from PyPI (tests/test_packaging.py builds these distributions)"),
    ],
    "packages/plugin-docker/README.md": [
        ("hcl", 'source "docker" "app" {', f"{HERE}::test_docker_tag_examples_build"),
    ],
    "packages/plugin-shell/README.md": [
        ("sh", ".venv/bin/pytest packages/plugin-shell/tests",
         "not run: the repository's own test commands (scripts/test runs them)"),
    ],
    "docs/aws.md": [
        ("", "pip install bakehouse bakehouse-plugin-aws",
         "not run: installs from PyPI (tests/test_packaging.py builds these distributions)"),
        ("", "$ bakehouse-ec2-local", "output: what bakehouse-ec2-local prints"),
        ("", "python examples/aws-ebs/run_on_local_ec2.py",
         "tests/e2e/test_aws_example.py::test_aws_ebs_example_builds_on_the_local_ec2_and_launches_the_ami"),
        ("python", "import os", f"{HERE}::test_local_ec2_python_example_runs"),
        ("", "moto_server -H 127.0.0.1 -p 5000 &", "not run: a shell outline for a template of yours"),
        ("hcl", 'source "amazon-ebs" "app" {', f"{HERE}::test_aws_examples_validate"),
        ("", "--> amazon-ebs.app: AMIs were created:", "output: a build's artifact"),
        ("hcl", 'data "amazon-ami" "ubuntu" {', f"{HERE}::test_aws_examples_validate"),
        ("hcl", 'data "amazon-secretsmanager" "db" {', f"{HERE}::test_aws_secret_data_sources_example"),
        ("", "-on-error=abort kept these temporary resources for inspection:", "output: what -on-error=abort prints"),
    ],
    "docs/cli.md": [
        ("", "Error: Missing plugins", "output: what build prints for an unmet required_plugins"),
        ("", "==> app.null.web: Running local shell script:", "output: a build's output"),
        ("hcl", "packer {", f"{HERE}::test_required_plugins_example_is_met_by_the_installed_plugins"),
    ],
    "docs/docker.md": [
        ("hcl", 'source "docker" "app" {', f"{HERE}::test_docker_tag_examples_build"),
        ("hcl", 'source "docker" "sshd" {', f"{HERE}::test_docker_ssh_example_builds"),
        ("sh", "docker ps -a --filter label=io.bakehouse.run-id=<run id>",
         "tests/e2e/test_docker_lifecycle.py (bakehouse_docker_resources.build_containers filters on that label)"),
        ("", "==> docker.app: The build container bakehouse-3f2a...", "output: what -on-error=abort prints"),
        ("hcl", "post-processors {", f"{HERE}::test_docker_push_example_pushes_to_a_local_registry"),
    ],
    "docs/plugins.md": [
        ("python", "#!/usr/bin/env python3",
         "tests/e2e/test_plugin_docs_example.py::test_documented_plugin_builds_the_documented_template"),
        ("hcl", 'variable "image" {',
         "tests/e2e/test_plugin_docs_example.py::test_documented_plugin_builds_the_documented_template"),
        ("sh", "$ BAKEHOUSE_PLUGIN_PATH=$PWD bakehouse plugins installed",
         "tests/e2e/test_plugin_docs_example.py::test_documented_plugin_builds_the_documented_template"),
        ("toml", "[build-system]",
         "tests/e2e/test_plugin_docs_example.py::test_documented_packaging_installs_and_the_documented_unit_test_passes"),
        ("python", "from bakehouse.sdk import BuildInfo, Context",
         "tests/e2e/test_plugin_docs_example.py::test_documented_packaging_installs_and_the_documented_unit_test_passes"),
    ],
    "docs/rpc.md": [
        ("json", '{"plugin": "bakehouse-plugin-shell"', f"{HERE}::test_rpc_describe_example_is_the_shell_plugins_answer"),
    ],
    "docs/templates.md": [
        ("hcl", "build {", f"{HERE}::test_templates_build_block_example_builds"),
    ],
    "docs/communicator.md": [],
    "examples/docker-base/README.md": [
        ("sh", ".venv/bin/bakehouse build examples/docker-base",
         "tests/e2e/test_docker_examples.py::test_docker_base_then_docker_hello_examples_build_and_run"),
    ],
    "examples/docker-hello/README.md": [
        ("sh", "bash examples/docker-hello/run.sh",
         "not run: scripts/demo runs it (see README.md above)"),
        ("sh", ".venv/bin/bakehouse build examples/docker-base",
         "tests/e2e/test_docker_examples.py::test_docker_base_then_docker_hello_examples_build_and_run"),
    ],
    "examples/null-hello/README.md": [
        ("sh", ".venv/bin/bakehouse build examples/null-hello",
         "tests/e2e/test_null_builds.py::test_example_null_hello_builds"),
    ],
    "examples/shell-local/README.md": [
        ("sh", ".venv/bin/bakehouse build examples/shell-local",
         "tests/e2e/test_shell_provisioners.py::test_example_shell_local_builds"),
    ],
}


def doc_files() -> list[str]:
    patterns = ["README.md", "packages/*/README.md", "docs/*.md", "examples/*/README.md"]
    return sorted({p.relative_to(REPO).as_posix() for pattern in patterns for p in REPO.glob(pattern)})


def blocks(path: str) -> list[tuple[str, str]]:
    """(language, text) of each fenced block of ``path``, in order."""
    text = (REPO / path).read_text(encoding="utf-8")
    # a fence may be indented (a block inside a list item): its lines are too
    return [(language, textwrap.dedent(body))
            for language, body in re.findall(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```", text, re.S | re.M)]


def block(path: str, first_line: str) -> str:
    [found] = [text for _, text in blocks(path) if text.lstrip().startswith(first_line)]
    return found


def show(result: Any) -> str:
    return f"exit={result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_every_doc_block_is_catalogued() -> None:
    assert sorted(CATALOG) == doc_files(), "a documentation file without a catalog entry (or a stale one)"
    for path, expected in CATALOG.items():
        found = blocks(path)
        assert len(found) == len(expected), f"{path}: {len(found)} blocks, {len(expected)} catalogued"
        for (language, text), (want_language, first_line, runner) in zip(found, expected, strict=True):
            assert language == want_language and text.lstrip().startswith(first_line), (path, first_line, text[:80])
            if runner.startswith(("output:", "reference:", "not run:")):
                assert runner.startswith("not run:") or language in ("", "sh"), (path, first_line, runner)
                continue
            test_file, _, function = runner.partition("::")
            source = (REPO / test_file.split(" ")[0]).read_text(encoding="utf-8")
            assert not function or f"def {function}(" in source, runner


# -- the examples, run ---------------------------------------------------------


def test_readme_command_list_matches_the_cli(bakehouse_cli) -> None:  # type: ignore[no-untyped-def]
    listed = re.findall(r"^bakehouse ([a-z0-9_]+(?: [a-z]+)?)", block("README.md", "bakehouse build [flags]"), re.M)
    helped = bakehouse_cli("-help")
    usage = helped.stdout + helped.stderr
    for command in listed:
        assert re.search(rf"^\s+{command.split()[0]}\b", usage, re.M), (command, usage)


CORE_TEMPLATE = """
variable "region" {
  type    = string
  default = "us-east-1"
}

variable "name" {
  type    = string
  default = "baker"
}

source "null" "ubuntu" {
  communicator = "none"
}

build {
  sources = ["source.null.ubuntu"]
}
"""


def test_core_readme_commands_run(bakehouse_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Each line of the core README's command list, in a directory holding a
    template of that name (and a legacy JSON one for hcl2_upgrade)."""
    (tmp_path / "template.pkr.hcl").write_text(CORE_TEMPLATE.lstrip())
    (tmp_path / "template.json").write_text(json.dumps({"builders": [{"type": "null", "communicator": "none"}]}))
    env = {**os.environ, "PATH": os.path.dirname(bakehouse_executable()) + os.pathsep + os.environ["PATH"]}
    for line in block("packages/core/README.md", "bakehouse build template.pkr.hcl").splitlines():
        result = subprocess.run(["bash", "-c", f"set -eo pipefail; {line}"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{line}\n{show(result)}"
        if "console" in line:
            assert result.stdout.strip() == '"BAKER"', show(result)
        if "-only='*.ubuntu'" in line:
            assert "Build 'null.ubuntu' finished" in result.stdout, show(result)
    assert (tmp_path / "template.json.pkr.hcl").is_file()


@pytest.mark.docker
@pytest.mark.parametrize("doc", ["docs/docker.md", "packages/plugin-docker/README.md"])
def test_docker_tag_examples_build(doc: str, bakehouse_build, bakehouse_base_image: str,  # type: ignore[no-untyped-def]
                                   bakehouse_docker, bakehouse_docker_resources, tmp_path: Path) -> None:
    """Substituted: the image (this run's busybox) and the tagged repository
    (a name of this test's, removed afterwards)."""
    template = block(doc, 'source "docker" "app" {')
    [repository] = re.findall(r'repository = "([^"]+)"', template)
    tags = json.loads(re.search(r"tags\s+= (\[.*\])", template).group(1))  # type: ignore[union-attr]
    mine = bakehouse_docker_resources.name("doc")
    for tag in tags:
        bakehouse_docker_resources.image(f"{mine}:{tag}")
    template = template.replace("bakehouse-example/busybox:latest", bakehouse_base_image).replace(repository, mine)
    (tmp_path / "hello.sh").write_text("#!/bin/sh\necho hello\n")
    result = bakehouse_build(template)
    assert result.returncode == 0, result.output + result.stderr
    image = bakehouse_docker.images.get(f"{mine}:{tags[0]}")
    assert sorted(image.tags) == sorted(f"{mine}:{tag}" for tag in tags)
    config = image.attrs["Config"]
    if doc == "docs/docker.md":
        assert (config["Entrypoint"], config["Cmd"], config["User"]) == (
            ["/bin/sh", "-c"], ["/usr/local/bin/hello"], "app")
        out = bakehouse_docker.containers.run(image.id, ["cat /usr/local/bin/hello"], user="root", remove=True)
        assert out == b"#!/bin/sh\necho hello\n"
    else:
        assert "APP=1" in config["Env"]
        assert bakehouse_docker.containers.run(image.id, ["/hello"], entrypoint=["cat"], remove=True) == b"hello\n"


@pytest.mark.docker
def test_docker_push_example_pushes_to_a_local_registry(  # type: ignore[no-untyped-def]
    bakehouse_build, bakehouse_base_image: str, bakehouse_docker_resources, bakehouse_registry: str,
) -> None:
    """Substituted: 127.0.0.1:5000 by the test registry's loopback address, and
    myorg/hello by a name of this test's."""
    mine = bakehouse_docker_resources.name("pushed").replace("_", "-")
    chain = (block("docs/docker.md", "post-processors {")
             .replace("127.0.0.1:5000", bakehouse_registry).replace("myorg/hello", mine))
    bakehouse_docker_resources.image(f"{bakehouse_registry}/{mine}:1.0")  # removed when the test ends
    source = f'source "docker" "app" {{\n  image  = "{bakehouse_base_image}"\n  pull   = false\n  commit = true\n}}\n'
    result = bakehouse_build(source + 'build {\n  sources = ["source.docker.app"]\n' + chain + "}\n")
    assert result.returncode == 0, result.output + result.stderr
    with urllib.request.urlopen(f"http://{bakehouse_registry}/v2/{mine}/tags/list", timeout=10) as response:
        assert json.load(response)["tags"] == ["1.0"]


@pytest.mark.docker
def test_docker_ssh_example_builds(bakehouse_build, bakehouse_docker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The source as printed, with the key files it reads, built over SSH."""
    from bakehouse.testing import require

    source = block("docs/docker.md", 'source "docker" "sshd" {')
    [image] = re.findall(r'image\s+= "([^"]+)"', source)
    require(any(image in i.tags for i in bakehouse_docker.images.list(name=image.split(":")[0])),
            f"the image {image} (bakehouse-ec2-local setup, run by scripts/setup)")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id_ed25519")],
                   check=True, capture_output=True, timeout=60)
    build = 'build {\n  sources = ["source.docker.sshd"]\n  provisioner "shell" {\n' \
            '    inline = ["echo conn=${build.ConnType} user=$(id -un)"]\n  }\n}\n'
    result = bakehouse_build(source + build)
    assert result.returncode == 0, result.output + result.stderr
    assert "conn=ssh user=root" in result.output


@pytest.mark.docker
def test_templates_build_block_example_builds(  # type: ignore[no-untyped-def]
    bakehouse_build, bakehouse_base_image: str, bakehouse_docker_resources, tmp_path: Path,
) -> None:
    """The build block as printed, with the source it names (this run's busybox),
    building the renamed source (the plain one commits nothing)."""
    source = f'source "docker" "base" {{\n  image = "{bakehouse_base_image}"\n  pull  = false\n}}\n\n'
    result = bakehouse_build(source + block("docs/templates.md", "build {"), args=["-only", "app.docker.ubuntu"])
    for image in set(re.findall(r"sha256:[0-9a-f]{64}", result.output)):
        bakehouse_docker_resources.image(image)
    assert result.returncode == 0, result.output + result.stderr
    assert re.search(r"app\.docker\.ubuntu: ubuntu [0-9a-f]{12,64}$", result.output, re.M), result.output
    manifest = json.loads((tmp_path / "packer-manifest.json").read_text())
    assert [b["name"] for b in manifest["builds"]] == ["base", "base"]  # Packer's packer_build_name
    # the manifest alone, then the chain checksum -> manifest; checksum's output
    # is named after the source block too
    assert (tmp_path / "packer_base_docker_sha256.checksum").is_file()
    assert {a.builder_id for a in result.artifacts} >= {"packer.post-processor.docker-import"}


def test_required_plugins_example_is_met_by_the_installed_plugins(  # type: ignore[no-untyped-def]
    bakehouse_cli, tmp_path: Path,
) -> None:
    (tmp_path / "t.pkr.hcl").write_text(block("docs/cli.md", "packer {"))
    result = bakehouse_cli("init", "t.pkr.hcl")
    assert result.returncode == 0, show(result)
    assert re.search(r"Plugin pypi/bakehouse-plugin-shell v\S+ is already installed", result.stdout), show(result)
    assert re.search(r"Plugin github.com/hashicorp/docker v\S+ is already installed", result.stdout), show(result)
    assert bakehouse_cli("validate", "t.pkr.hcl").returncode == 0


def test_rpc_describe_example_is_the_shell_plugins_answer() -> None:
    documented = json.loads(block("docs/rpc.md", '{"plugin": "bakehouse-plugin-shell"'))
    executable = Path(bakehouse_executable()).with_name("bakehouse-plugin-shell")
    answer = json.loads(subprocess.run([str(executable), "describe"], capture_output=True, text=True,
                                       check=True, timeout=60).stdout)
    assert {**answer, "version": documented["version"]} == documented


USE_AMI = """
source "null" "n" {
  communicator = "none"
}
build {
  sources = ["source.null.n"]
  provisioner "shell-local" {
    inline = ["printf %s ${data.amazon-ami.ubuntu.id} > ami.txt"]
  }
}
"""

AWS_SOURCE_REST = """
  region        = "us-east-1"
  instance_type = "t3.micro"
  ami_name      = "app"
  ssh_username  = "ubuntu"
"""


@pytest.mark.moto
def test_aws_examples_validate(bakehouse_cli, bakehouse_aws_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The amazon-ebs source as printed; the amazon-ami data source with its
    filter on an Ubuntu release moto has (16.04: moto has no 22.04 image), the
    source's `# ...` filled in with the first example's required arguments."""
    build = '\nbuild {\n  sources = ["source.amazon-ebs.app"]\n}\n'
    (tmp_path / "ebs").mkdir()
    (tmp_path / "ebs" / "t.pkr.hcl").write_text(block("docs/aws.md", 'source "amazon-ebs" "app" {') + build)
    result = bakehouse_cli("validate", "ebs")
    assert result.returncode == 0, show(result)

    data = block("docs/aws.md", 'data "amazon-ami" "ubuntu" {')
    assert "  # ...\n" in data and "*22.04-amd64-server-*" in data
    data = data.replace("  # ...\n", AWS_SOURCE_REST).replace("*22.04-amd64-server-*", "*16.04-amd64-server-*")
    (tmp_path / "ami").mkdir()
    (tmp_path / "ami" / "t.pkr.hcl").write_text(data + build)
    validated = bakehouse_cli("validate", "ami")
    assert validated.returncode == 0, show(validated)
    (tmp_path / "ami" / "use.pkr.hcl").write_text(USE_AMI)
    shown = bakehouse_cli("build", "-only", "null.n", "ami")
    assert shown.returncode == 0, show(shown)
    [image] = bakehouse_aws_env.client("ec2").describe_images(
        Filters=[{"Name": "name", "Values": ["ubuntu/images/*16.04-amd64-server-*"]}], Owners=["099720109477"]
    )["Images"]
    assert (tmp_path / "ami.txt").read_text() == image["ImageId"]


# console shows a data source's values as unknown (as Packer): a build reads them
USE_DATA = """
source "null" "n" {
  communicator = "none"
}
build {
  sources = ["source.null.n"]
  provisioner "shell-local" {
    inline = ["printf '%s %s' '${data.amazon-secretsmanager.db.value}' '${data.amazon-parameterstore.image.value}' > data.txt"]
  }
}
"""


@pytest.mark.moto
def test_aws_secret_data_sources_example(bakehouse_cli, bakehouse_aws_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bakehouse_aws_env.client("secretsmanager").create_secret(
        Name="app/db", SecretString=json.dumps({"password": "s3cret", "user": "app"}))
    bakehouse_aws_env.client("ssm").put_parameter(Name="/app/image", Value="debian-12", Type="SecureString")
    (tmp_path / "t.pkr.hcl").write_text(block("docs/aws.md", 'data "amazon-secretsmanager" "db" {') + USE_DATA)
    result = bakehouse_cli("build", "t.pkr.hcl")
    assert result.returncode == 0, show(result)
    assert (tmp_path / "data.txt").read_text() == "s3cret debian-12"


@pytest.mark.docker
def test_local_ec2_python_example_runs(bakehouse_docker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """As printed, in a Python of its own (it changes os.environ); it starts and
    stops its own local EC2, so the faults it injects touch no other test."""
    from bakehouse.testing import require
    from bakehouse_plugin_aws.localec2.base_image import DEBIAN_IMAGE, debian_image_present

    require(debian_image_present(), f"the local EC2's base image {DEBIAN_IMAGE} (bakehouse-ec2-local setup)")
    program = block("docs/aws.md", "import os") + (
        "    print(os.environ['AWS_ENDPOINT_URL_EC2'], ec2.faults_left('RunInstances'), ec2.faults_left('CreateFleet'))\n")
    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, show(result)
    endpoint, throttles, no_capacity = result.stdout.split()
    assert endpoint.startswith("http://127.0.0.1:") and (throttles, no_capacity) == ("2", "2"), show(result)
