"""Every option of Packer's amazon-ebs builder is known to the schema (it
works, or is refused with a reason). docs/aws.md's table of them is generated
(``bakehouse plugins docs -update docs/aws.md``) and checked by
tests/e2e/test_plugin_docs_command.py."""

from __future__ import annotations

from bakehouse.sdk import option_status
from bakehouse_plugin_aws.config import AmazonEBSConfig

#: Names from Packer's amazon-ebs configuration (builder, AMI, access, run,
#: block device and communicator references).
PACKER_AMAZON_EBS_OPTIONS = """
access_key secret_key token region profile shared_credentials_file custom_endpoint_ec2
skip_region_validation skip_credential_validation max_retries assume_role vault_aws_engine
insecure_skip_tls_verify skip_metadata_api_check mfa_code decode_authorization_messages aws_polling
ami_name ami_description ami_virtualization_type ami_users ami_groups ami_org_arns ami_ou_arns
ami_product_codes ami_regions tags tag ena_support sriov_support force_deregister
force_delete_snapshot encrypt_boot kms_key_id region_kms_key_ids skip_save_build_region
imds_support deprecate_at deregistration_protection snapshot_copy_duration_minutes snapshot_tags
snapshot_tag snapshot_users snapshot_groups skip_create_ami skip_ami_run_tags
ami_block_device_mappings launch_block_device_mappings run_volume_tags run_volume_tag no_ephemeral
associate_public_ip_address availability_zone block_duration_minutes capacity_reservation_preference
capacity_reservation_id capacity_reservation_group_arn disable_stop_instance ebs_optimized
enable_nitro_enclave enable_unlimited_credits enable_t2_unlimited iam_instance_profile
skip_profile_validation temporary_iam_instance_profile_policy_document shutdown_behavior
instance_type security_group_filter run_tags run_tag security_group_id security_group_ids
source_ami source_ami_filter spot_instance_types spot_price spot_price_auto_product spot_tags
spot_tag spot_allocation_strategy fleet_tags fleet_tag subnet_filter subnet_id
license_specifications placement tenancy temporary_security_group_source_cidrs
temporary_security_group_source_public_ip user_data user_data_file vpc_filter vpc_id
windows_password_timeout metadata_options ssh_interface session_manager_port pause_before_ssm
ssm_agent_enable_retries
communicator pause_before_connecting ssh_host ssh_port ssh_username ssh_password ssh_ciphers
ssh_clear_authorized_keys ssh_key_exchange_algorithms ssh_certificate_file ssh_pty ssh_timeout
ssh_disable_agent_forwarding ssh_handshake_attempts ssh_bastion_host ssh_bastion_port
ssh_bastion_agent_auth ssh_bastion_username ssh_bastion_password ssh_bastion_interactive
ssh_bastion_private_key_file ssh_bastion_certificate_file ssh_file_transfer_method ssh_proxy_host
ssh_proxy_port ssh_proxy_username ssh_proxy_password ssh_keep_alive_interval ssh_read_write_timeout
ssh_remote_tunnels ssh_local_tunnels ssh_keypair_name temporary_key_pair_name
temporary_key_pair_type temporary_key_pair_bits ssh_agent_auth ssh_private_key_file
winrm_username winrm_password winrm_host winrm_no_proxy winrm_port winrm_timeout winrm_use_ssl
winrm_insecure winrm_use_ntlm
""".split()


def test_every_packer_option_is_known_to_the_schema() -> None:
    unknown = []
    for name in PACKER_AMAZON_EBS_OPTIONS:
        try:
            status, note = option_status(AmazonEBSConfig, name)
        except KeyError:
            unknown.append(name)
            continue
        if status == "unsupported":
            assert note, f"{name} is refused without a reason"
    assert unknown == []

