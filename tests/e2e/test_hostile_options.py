"""Options an attacker (or a typo) could use to run code or mislead, through the
real CLI: each is refused at prepare time with its template position, so
`bakehouse validate` catches it and `bakehouse build` never starts; and builder
warnings reach the user in both commands."""

from __future__ import annotations

import re
import time
from pathlib import Path

import docker
import pytest

from tests.fixtures.docker import show, wait_for_nothing_left, write_template

NULL_SOURCE = 'source "null" "n" {\n  communicator = "none"\n}\n'


@pytest.mark.parametrize("command", ["validate", "build"])
@pytest.mark.parametrize(
    ("block", "line"),
    [
        ('provisioner "shell-local" {\n    inline = ["true"]\n    environment_vars = ["X;touch @PWNED@;Y=1"]\n  }', 8),
        ('provisioner "shell-local" {\n    inline = ["true"]\n    env = { "X;touch @PWNED@;Y" = "1" }\n  }', 8),
        ('post-processor "shell-local" {\n    inline = ["true"]\n    environment_vars = ["X;touch @PWNED@;Y=1"]\n  }', 8),
        ('provisioner "shell" {\n    inline = ["true"]\n    environment_vars = ["$(touch @PWNED@)=1"]\n  }', 8),
    ],
    ids=["shell-local-environment_vars", "shell-local-env", "shell-local-post-processor", "shell"],
)
def test_environment_variable_name_that_is_shell_code_is_refused(
    bakehouse, tmp_path: Path, command: str, block: str, line: int
) -> None:
    pwned = tmp_path / "pwned"
    write_template(tmp_path, NULL_SOURCE + 'build {\n  sources = ["source.null.n"]\n  ' + block + "\n}\n",
                   pwned=str(pwned))
    result = bakehouse(command, "t.pkr.hcl")
    output = result.stdout + result.stderr
    assert result.returncode == 1, show(result)
    assert re.search(rf"t\.pkr\.hcl(:| line ){line}\b", output), show(result)
    assert "is not valid: a name is letters, digits and underscores" in output, show(result)
    assert "Traceback" not in output
    assert not pwned.exists()


@pytest.mark.docker
def test_docker_change_with_a_line_break_is_refused(bakehouse, tmp_path: Path, busybox_image: str) -> None:
    write_template(tmp_path, '''
source "docker" "app" {
  image   = "@IMAGE@"
  pull    = false
  commit  = true
  changes = ["ENV A=1", "LABEL a=b\\nENTRYPOINT [\\"/bin/evil\\"]"]
}
build {
  sources = ["source.docker.app"]
}
''', image=busybox_image)
    result = bakehouse("validate", "t.pkr.hcl")
    output = result.stdout + result.stderr
    assert result.returncode == 1, show(result)
    assert re.search(r"t\.pkr\.hcl(:| line )6\b", output), show(result)
    assert "line breaks are not allowed" in output, show(result)


@pytest.mark.docker
@pytest.mark.parametrize("repository", ["@REPO@:a", "@REPO@@sha256:abc", "Upper/Case"])
def test_docker_tag_repository_that_names_another_image_is_refused(
    bakehouse, tmp_path: Path, busybox_image: str, docker_resources, repository: str
) -> None:
    write_template(tmp_path, '''
source "docker" "app" {
  image  = "@IMAGE@"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.app"]
  post-processor "docker-tag" {
    repository = "@REPOSITORY@"
    tags       = ["b"]
  }
}
''', image=busybox_image, repository=repository.replace("@REPO@", docker_resources.name()))
    result = bakehouse("validate", "t.pkr.hcl")
    output = result.stdout + result.stderr
    assert result.returncode == 1, show(result)
    assert re.search(r"t\.pkr\.hcl(:| line )10\b", output), show(result)
    assert "Traceback" not in output


@pytest.mark.docker
def test_docker_tag_reports_the_name_the_engine_created(
    bakehouse, tmp_path: Path, docker_client: docker.DockerClient, busybox_image: str, docker_resources,
    run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    # Without tags the engine names the image repository:latest; the artifact must say so.
    repository = docker_resources.name("tagged")
    docker_resources.image(f"{repository}:latest")
    write_template(tmp_path, '''
source "docker" "app" {
  image  = "@IMAGE@"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.app"]
  post-processor "docker-tag" {
    repository = "docker.io/library/@REPOSITORY@"
  }
}
''', image=busybox_image, repository=repository)
    result = bakehouse("build", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 0, show(result)
    ids = re.findall(r"Imported Docker image: (sha256:[0-9a-f]{64})", result.stdout)
    assert ids, show(result)
    docker_resources.image(ids[0])
    assert f"Imported Docker image: {repository}:latest\n" in result.stdout, show(result)
    assert docker_client.images.get(f"{repository}:latest").id == ids[0]
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)


@pytest.mark.docker
@pytest.mark.parametrize("command", ["validate", "build"])
def test_builder_warnings_are_shown_at_the_source_block(
    bakehouse, tmp_path: Path, command: str, busybox_image: str, docker_resources,
    run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    write_template(tmp_path, '''
source "docker" "app" {
  image       = "@IMAGE@"
  pull        = false
  discard     = true
  changes     = ["ENV A=1"]
  aws_profile = "default"
}
build {
  sources = ["source.docker.app"]
}
''', image=busybox_image)
    result = bakehouse(command, "t.pkr.hcl", env=cli_env)
    assert result.returncode == 0, show(result)
    for warning in (
        "Warning: changes only apply with commit = true; they are ignored here",
        "Warning: aws_profile is only used with ecr_login = true; it is ignored here",
    ):
        assert warning in result.stdout + result.stderr, show(result)
    assert re.search(r"t\.pkr\.hcl(:| line )2\b", result.stdout + result.stderr), show(result)
    if command == "validate":
        assert "The configuration is valid." in result.stdout
    else:
        wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)


@pytest.mark.docker
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("", r"fix_upload_owner: user 'bakehouse-no-such-user' is not in the container's /etc/passwd"),
        # The engine's own words when it gives any (not for an image without /etc/passwd).
        ("fix_upload_owner = false", r"unable to find user bakehouse-no-such-user|"
                                     r"could not start the command as exec_user 'bakehouse-no-such-user'"),
    ],
    ids=["upload-owner", "exec"],
)
def test_unknown_exec_user_fails_at_once_with_the_reason(
    bakehouse, tmp_path: Path, busybox_image: str, docker_resources, run_id: str,
    cli_env: dict[str, str], docker_tmpdir: Path, options: str, message: str,
) -> None:
    # start_retry_timeout keeps Packer's default (5m): a permanent error must not use it.
    write_template(tmp_path, '''
source "docker" "app" {
  image     = "@IMAGE@"
  pull      = false
  discard   = true
  exec_user = "bakehouse-no-such-user"
  @OPTIONS@
}
build {
  sources = ["source.docker.app"]
  provisioner "shell" {
    inline = ["echo never"]
  }
}
''', image=busybox_image, options=options)
    started = time.monotonic()
    result = bakehouse("build", "t.pkr.hcl", env=cli_env, timeout=200)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, show(result)
    assert re.search(message, result.stdout + result.stderr), show(result)
    assert "never" not in result.stdout
    assert elapsed < 60, f"took {elapsed:.0f}s: retried a permanent error\n{show(result)}"
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)
