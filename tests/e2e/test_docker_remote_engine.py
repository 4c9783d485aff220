"""A Docker engine reached over TCP (``DOCKER_HOST=tcp://...``), with and without TLS.

The engine is this machine's own, behind a second listener that the test runs:
a TCP (or TLS, with a CA, server and client certificates made here with the
``cryptography`` package) to unix-socket relay on loopback
(:class:`bakehouse.testing.servers.EngineRelay`). To Bakehouse it is
a remote engine: the build must not bind-mount a host directory, so uploads
and downloads go through the Engine API's archive calls, and the relay sees
every request (the Dockerfile build's context arrives gzip-compressed with
``build { compress = true }``).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from bakehouse.testing.servers import EngineRelay, docker_engine_relay

from tests.e2e.test_docker_lifecycle import SLEEPING_TEMPLATE, RunningBuild, kill_9_everything
from tests.fixtures.docker import leftover_temp_dirs, show, wait_for_nothing_left, write_template
from tests.fixtures.processes import run_processes

pytestmark = pytest.mark.docker

@pytest.fixture
def tcp_engine(docker_client) -> Iterator[EngineRelay]:  # type: ignore[no-untyped-def]
    with docker_engine_relay() as relay:
        yield relay


# -- a test CA, a server certificate for 127.0.0.1 and a client certificate --


def _certificates(directory: Path, common_name: str) -> dict[str, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def issue(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca: bool = False,  # type: ignore[no-untyped-def]
              usage=None, san=None):
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer_name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if usage is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if san is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(path: Path, key, cert) -> None:  # type: ignore[no-untyped-def]
        if key is not None:
            path.with_suffix(".key").write_bytes(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue(common_name, ca_key, name(common_name), ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server_cert = issue("127.0.0.1", server_key, ca_cert.subject, ca_key, usage=ExtendedKeyUsageOID.SERVER_AUTH,
                        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client_cert = issue("bakehouse-test-client", client_key, ca_cert.subject, ca_key,
                        usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    write(directory / "ca.pem", None, ca_cert)
    write(directory / "server.pem", server_key, server_cert)
    # DOCKER_CERT_PATH's file names, as the docker CLI and the Docker SDK read them
    write(directory / "cert.pem", None, client_cert)
    (directory / "key.pem").write_bytes(client_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return {"ca": directory / "ca.pem", "server": directory / "server.pem", "server_key": directory / "server.key"}


@pytest.fixture
def tls_engine(docker_client, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[EngineRelay, Path]]:  # type: ignore[no-untyped-def]
    """The engine behind TLS that requires a client certificate of the test CA
    (unless the test is parametrized with ``client_certificates=False``);
    yields the relay and the DOCKER_CERT_PATH directory for a client."""
    files = _certificates(tmp_path / "certs", "bakehouse test CA")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files["server"], files["server_key"])
    if getattr(request, "param", {}).get("client_certificates", True):
        context.load_verify_locations(files["ca"])
        context.verify_mode = ssl.CERT_REQUIRED
    with docker_engine_relay(tls=context) as relay:
        yield relay, tmp_path / "certs"


REMOTE_TEMPLATE = '''
source "docker" "remote" {
  commit      = true
  docker_path = "/nonexistent/docker"
  aws_profile = "unused"
  build {
    path     = "Dockerfile"
    compress = true
    pull     = false
  }
}

build {
  sources = ["source.docker.remote"]
  provisioner "file" {
    source      = "payload.txt"
    destination = "/opt/app/payload.txt"
  }
  provisioner "shell" {
    inline = [
      "! grep -q ' /packer-files ' /proc/mounts",
      "cp /opt/app/payload.txt /opt/app/copy.txt",
      "echo made-in-the-container > /opt/app/made.txt",
    ]
  }
  provisioner "file" {
    direction   = "download"
    source      = "/opt/app/made.txt"
    destination = "downloaded.txt"
  }
}
'''


def test_build_against_an_engine_over_tcp_uses_no_host_directory(
    bakehouse, tmp_path: Path, tcp_engine: EngineRelay, docker_client: docker.DockerClient,
    busybox_image: str, docker_resources, run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {busybox_image}\nLABEL org.example.from=dockerfile\n")
    (tmp_path / "payload.txt").write_text("uploaded through put_archive\n")
    write_template(tmp_path, REMOTE_TEMPLATE)
    result = bakehouse("build", "t.pkr.hcl", env={**cli_env, "DOCKER_HOST": tcp_engine.docker_host}, timeout=600)
    output = result.stdout + result.stderr
    built = re.search(r"Built image: (sha256:[0-9a-f]+)", output)
    if built:
        docker_resources.image(built.group(1))
    committed = re.search(r"Imported Docker image: (sha256:[0-9a-f]+)", output)
    if committed:
        docker_resources.image(committed.group(1))
    assert result.returncode == 0, show(result)
    assert built and committed, show(result)
    assert "the temporary directory is not mounted at /packer-files" in output
    # Packer's docker_path and aws_* keys are accepted; the notes say why they change nothing.
    assert "docker_path = '/nonexistent/docker' is not run: bakehouse-plugin-docker talks to the Docker Engine API" in output
    assert "aws_profile is only used with ecr_login = true; it is ignored here" in output

    # Everything went through the relay: the gzip-compressed build context,
    # the upload and the download as archive calls.
    assert tcp_engine.saw(r"^POST /v[\d.]+/build\?.*\r\nContent-Encoding: gzip"), tcp_engine.saw("build")
    assert tcp_engine.saw(r"^PUT /v[\d.]+/containers/[0-9a-f]+/archive\?path=")
    assert tcp_engine.saw(r"^GET /v[\d.]+/containers/[0-9a-f]+/archive\?path=")
    creates = tcp_engine.saw(r"^POST /v[\d.]+/containers/create")
    assert creates, "the container was not created through the relay"

    assert (tmp_path / "downloaded.txt").read_text() == "made-in-the-container\n"
    out = docker_client.containers.run(committed.group(1), ["-c", "cat /opt/app/copy.txt"], remove=True)
    assert out == b"uploaded through put_archive\n"
    assert docker_client.images.get(committed.group(1)).labels.get("org.example.from") == "dockerfile"
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)


TLS_TEMPLATE = '''
source "docker" "tls" {
  image   = "@IMAGE@"
  pull    = false
  discard = true
}
build {
  sources = ["source.docker.tls"]
  provisioner "shell" {
    inline = ["echo provisioned-over-tls"]
  }
}
'''


def test_build_against_an_engine_over_tls_with_client_certificates(
    bakehouse, tmp_path: Path, tls_engine: tuple[EngineRelay, Path], busybox_image: str,
    docker_resources, run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    relay, cert_path = tls_engine
    write_template(tmp_path, TLS_TEMPLATE, image=busybox_image)
    env = {**cli_env, "DOCKER_HOST": relay.docker_host, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(cert_path)}
    result = bakehouse("build", "t.pkr.hcl", env=env, timeout=600)
    assert result.returncode == 0, show(result)
    assert "provisioned-over-tls" in result.stdout, show(result)
    assert relay.saw(r"^POST /v[\d.]+/containers/create"), "the build did not go through the TLS listener"
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)

    # A client whose CA does not know the server's certificate is stopped
    # before anything starts, with the address in the message.
    other = _certificates(tmp_path / "other-certs", "another CA")["ca"].parent
    result = bakehouse("build", "t.pkr.hcl", env={**env, "DOCKER_CERT_PATH": str(other)}, timeout=300)
    assert result.returncode != 0, show(result)
    assert f"Cannot connect to the Docker engine at {relay.docker_host}" in result.stdout + result.stderr, show(result)
    assert "Traceback" not in result.stdout + result.stderr
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)


@pytest.mark.parametrize("tls_engine", [{"client_certificates": False}], indirect=True)
def test_docker_tls_alone_speaks_tls_without_verifying_as_the_docker_cli(
    tls_engine: tuple[EngineRelay, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DOCKER_TLS=1 (the docker CLI's --tls): TLS to the engine, its certificate not
    checked, even with a CA bundle in REQUESTS_CA_BUNDLE; the Docker SDK alone
    would speak plain HTTP to the TLS port. (The plugin's own connection, in-process.)"""
    import warnings

    from bakehouse_plugin_docker import engine

    relay, cert_path = tls_engine
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.docker client certificate
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path / "ca.pem"))  # would verify (and fail: wrong name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = engine.connect({"DOCKER_HOST": relay.docker_host, "DOCKER_TLS": "1"})
        try:
            client.containers.list(limit=1)
        finally:
            client.close()
    assert relay.saw(r"^GET /v[\d.]+/containers/json"), "the request did not go through the TLS listener"
    assert not [w for w in caught if "InsecureRequestWarning" in repr(w.category)], caught
    with pytest.raises(engine.DockerEngineError, match=f"Cannot connect to the Docker engine at {relay.docker_host}"):
        engine.connect({"DOCKER_HOST": relay.docker_host})  # plain HTTP to a TLS port


def test_the_current_docker_context_chooses_the_engine_as_for_the_docker_cli(
    bakehouse, tmp_path: Path, tcp_engine: EngineRelay, busybox_image: str,
    docker_resources, run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    """`docker context use relay` (the config's currentContext) without DOCKER_HOST:
    the build runs on the context's engine, as Packer's docker CLI would; a
    DOCKER_CONTEXT naming no context is an error that names it."""
    import hashlib
    import json

    config_dir = tmp_path / "docker-config"
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(b"relay").hexdigest() / "meta.json"
    meta.parent.mkdir(parents=True)
    # The docker CLI's own layout (`docker context create relay --docker host=...`).
    meta.write_text(json.dumps({"Name": "relay", "Metadata": {}, "Endpoints": {
        "docker": {"Host": tcp_engine.docker_host, "SkipTLSVerify": False}}}))
    (config_dir / "config.json").write_text(json.dumps({"auths": {}, "currentContext": "relay"}))
    write_template(tmp_path, TLS_TEMPLATE, image=busybox_image)
    env = {**cli_env, "DOCKER_CONFIG": str(config_dir), "DOCKER_HOST": "", "DOCKER_CONTEXT": ""}
    result = bakehouse("build", "t.pkr.hcl", env=env, timeout=600)
    assert result.returncode == 0, show(result)
    assert "provisioned-over-tls" in result.stdout, show(result)
    assert tcp_engine.saw(r"^POST /v[\d.]+/containers/create"), "the build did not use the context's engine"
    assert tcp_engine.saw(r"^DELETE /v[\d.]+/containers/"), "the container was not removed through it"
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)

    result = bakehouse("build", "t.pkr.hcl", env={**env, "DOCKER_CONTEXT": "no-such-context"}, timeout=300)
    assert result.returncode == 1, show(result)
    assert "The docker context 'no-such-context' (from DOCKER_CONTEXT) does not exist" in result.stdout, show(result)
    assert "Traceback" not in result.stdout + result.stderr

def test_a_docker_context_over_ssh_reaches_the_engine_through_sshd(
    bakehouse, tmp_path: Path, busybox_image: str, docker_resources, run_id: str,
    cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    """The common remote set-up, `docker context create remote --docker
    host=ssh://user@host`: the Docker SDK's ssh transport (paramiko, running `docker
    system dial-stdio` on the far side) must be there although the plugin imports
    the SDK without paramiko when DOCKER_HOST is not ssh://. A real sshd on loopback."""
    import hashlib
    import json
    import shutil

    from bakehouse.testing.servers import openssh_server

    from tests.support import require

    require(shutil.which("docker") is not None, "the docker CLI (sshd runs `docker system dial-stdio`)")
    require(Path("/usr/sbin/sshd").exists(), "an OpenSSH server (/usr/sbin/sshd)")
    with openssh_server(extra_config=["LogLevel VERBOSE"]) as sshd:
        home = tmp_path / "home"
        (home / ".ssh").mkdir(parents=True)
        (home / ".ssh" / "config").write_text(f"Host 127.0.0.1\n  IdentityFile {sshd.client_key}\n")
        host_key = (sshd.workdir / "host_ed25519.pub").read_text().split()
        (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{sshd.port} {host_key[0]} {host_key[1]}\n")
        config_dir = home / ".docker"
        meta = config_dir / "contexts" / "meta" / hashlib.sha256(b"over-ssh").hexdigest() / "meta.json"
        meta.parent.mkdir(parents=True)
        meta.write_text(json.dumps({"Name": "over-ssh", "Metadata": {}, "Endpoints": {
            "docker": {"Host": f"ssh://{sshd.user}@127.0.0.1:{sshd.port}", "SkipTLSVerify": False}}}))
        write_template(tmp_path, TLS_TEMPLATE, image=busybox_image)
        env = {**cli_env, "HOME": str(home), "DOCKER_HOST": "", "DOCKER_CONTEXT": "over-ssh", "DOCKER_CONFIG": ""}
        result = bakehouse("build", "t.pkr.hcl", env=env, timeout=600)
        assert result.returncode == 0, show(result)
        assert "provisioned-over-tls" in result.stdout, show(result)
        assert "The Docker engine is remote (DOCKER_HOST)" in result.stdout, show(result)
        assert "Accepted publickey for " in (sshd.workdir / "sshd.log").read_text(), "nothing came through sshd"
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)

def test_bakehouse_cleanup_after_kill_9_reaches_the_remote_engine(
    bakehouse, tmp_path: Path, tcp_engine: EngineRelay, busybox_image: str, docker_resources,
    run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    """kill -9 of the core and the plugins of a build on DOCKER_HOST=tcp://...:
    `bakehouse cleanup` run where DOCKER_HOST names no engine removes the build
    container through the engine the journal names (the relay sees the DELETE)."""
    write_template(tmp_path, SLEEPING_TEMPLATE, image=busybox_image)
    build = RunningBuild(["build", "t.pkr.hcl"], tmp_path, {**cli_env, "DOCKER_HOST": tcp_engine.docker_host})
    build.wait_for("provisioning-started")
    kill_9_everything(build, run_id)
    [left] = docker_resources.build_containers(run_id)
    docker_resources.container(left.id)
    assert tcp_engine.saw(r"^POST /v[\d.]+/containers/create"), "the build did not use the TCP engine"
    assert not tcp_engine.saw(r"^DELETE "), "something was removed before the cleanup"

    result = bakehouse("cleanup", run_id, env={"TMPDIR": str(docker_tmpdir), "BAKEHOUSE_RUN_ID": run_id + "-cleanup",
                                                "DOCKER_HOST": "tcp://127.0.0.1:9"})
    assert result.returncode == 0, show(result)
    assert left.name in result.stdout + result.stderr, show(result)
    assert tcp_engine.saw(rf"^DELETE /v[\d.]+/containers/{left.id}"), tcp_engine.saw("DELETE")
    assert docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(docker_tmpdir) == []
    assert run_processes(run_id) == []
