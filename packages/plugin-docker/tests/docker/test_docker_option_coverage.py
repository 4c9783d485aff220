"""Every option of Packer's docker builder (``builder/docker/config.go`` with the
communicator options it embeds, and its ``build`` block's) is known to the schema: it works, or it is
refused with its reason, never "unknown argument". docs/docker.md's table of
them is generated (``bakehouse plugins docs -update docs/docker.md``) and
checked by tests/e2e/test_plugin_docs_command.py."""

from __future__ import annotations

import pytest
from bakehouse.sdk import BuildInfo, ConfigError, option_status
from bakehouse.testing import options_without_a_status
from bakehouse_plugin_docker.builder import DockerBuilder
from bakehouse_plugin_docker.config import DockerBuilderConfig, DockerfileBuild

#: Packer's docker builder options (the docker plugin's Config, its embedded
#: AWS access config, and the SDK communicator config), Packer's internal
#: packer_* settings left out.
PACKER_DOCKER_OPTIONS = """
author build build_only cap_add cap_drop changes commit container_dir device discard docker_path
exec_user export_path fix_upload_owner image message platform privileged pty pull run_command
runtime tmpfs volumes windows_container
login login_password login_server login_username ecr_login
aws_access_key aws_secret_key aws_token aws_profile aws_force_use_public_ecr
communicator pause_before_connecting ssh_host ssh_port ssh_username ssh_password ssh_keypair_name
temporary_key_pair_name temporary_key_pair_type temporary_key_pair_bits ssh_ciphers
ssh_clear_authorized_keys ssh_key_exchange_algorithms ssh_private_key_file ssh_certificate_file
ssh_pty ssh_timeout ssh_wait_timeout ssh_agent_auth ssh_disable_agent_forwarding
ssh_handshake_attempts ssh_bastion_host ssh_bastion_port ssh_bastion_agent_auth
ssh_bastion_username ssh_bastion_password ssh_bastion_interactive ssh_bastion_private_key_file
ssh_bastion_certificate_file ssh_file_transfer_method ssh_proxy_host ssh_proxy_port
ssh_proxy_username ssh_proxy_password ssh_keep_alive_interval ssh_read_write_timeout
ssh_remote_tunnels ssh_local_tunnels ssh_public_key ssh_private_key
winrm_username winrm_password winrm_host winrm_no_proxy winrm_port winrm_timeout winrm_use_ssl
winrm_insecure winrm_use_ntlm
""".split()


#: The options of Packer's ``build { }`` block (``DockerfileBootstrapConfig``).
PACKER_BUILD_BLOCK_OPTIONS = "path build_dir arguments platform pull compress".split()


def test_every_packer_option_is_known_to_the_schema() -> None:
    assert len(PACKER_DOCKER_OPTIONS) == len(set(PACKER_DOCKER_OPTIONS)) == 84
    assert options_without_a_status(DockerBuilderConfig, PACKER_DOCKER_OPTIONS) == []
    assert options_without_a_status(DockerfileBuild, PACKER_BUILD_BLOCK_OPTIONS) == []


@pytest.mark.parametrize(
    "name", [n for n in PACKER_DOCKER_OPTIONS if option_status(DockerBuilderConfig, n)[0] == "unsupported"]
)
def test_an_unsupported_option_set_in_a_template_is_refused_with_its_reason(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DockerBuilder().prepare({"image": "alpine", "commit": True, name: "x"}, BuildInfo(name="t", builder_type="docker"))
    messages = [(problem.path, problem.message.rstrip(".")) for problem in caught.value.problems]
    reason = option_status(DockerBuilderConfig, name)[1].rstrip(".")
    assert messages == [((name,), f"Option {name!r} is not supported by Bakehouse: {reason}")], messages
