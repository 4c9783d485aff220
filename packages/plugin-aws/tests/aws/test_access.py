"""Packer's access options (assume_role, credentials files and profiles, MFA,
TLS, the metadata service, credential validation, encoded authorization
failures), against a real moto server over HTTP: moto's recorder shows which
credentials signed each request and what reached STS."""

from __future__ import annotations

import datetime
import http.server
import json
import subprocess
import threading
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from bakehouse.sdk import ConfigError, Context, JournalEntry
from bakehouse.testing.servers import MOTO_SERVER, MotoServer, free_port
from bakehouse_plugin_aws.access import Access, RoleToAssume
from bakehouse_plugin_aws.config import parse_builder_config
from bakehouse_plugin_aws.datasource import AmazonAmiDatasource
from bakehouse_plugin_aws.ec2 import AwsError, Connection
from bakehouse_plugin_aws.resources import KIND_INSTANCE, clean_instance, tag_specification
from test_amazon_ebs import CommandHook, RecordingUi, prepared, register_source_ami
from test_amazon_ebs_options import Recorder, recorder  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.moto]


@pytest.fixture
def moto_requests(recorder: Recorder) -> Recorder:  # noqa: F811  (the imported fixture)
    """What reached moto, with who signed it (test_amazon_ebs_options' recorder)."""
    return recorder

ROLE = "arn:aws:iam::111122223333:role/builder"


def find_ami(**access: Any) -> dict[str, Any]:
    """The amazon-ami data source with these access options (owners = self)."""
    source = AmazonAmiDatasource()
    source.configure({"owners": ["self"], "region": "us-east-1", **access})
    return source.execute()


def test_assume_role_credentials_make_every_ec2_call_of_a_build(
        bakehouse_aws_env: MotoServer, moto_requests: Recorder) -> None:
    # the role lives in another account: what the build makes lands there
    sts = bakehouse_aws_env.client("sts")
    assumed = sts.assume_role(RoleArn=ROLE, RoleSessionName="setup")["Credentials"]
    other = boto3.client("ec2", region_name="us-east-1", endpoint_url=bakehouse_aws_env.endpoint,
                         aws_access_key_id=assumed["AccessKeyId"],
                         aws_secret_access_key=assumed["SecretAccessKey"],
                         aws_session_token=assumed["SessionToken"])
    source = register_source_ami(other)
    moto_requests._post("reset-recording")
    moto_requests._post("start-recording")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]})
    builder = prepared({
        "region": "us-east-1", "instance_type": "t2.micro", "source_ami": source,
        "ami_name": "assumed-role-image", "communicator": "none",
        "aws_polling": {"delay_seconds": 0.1, "max_attempts": 100},
        "assume_role": [{"role_arn": ROLE, "session_name": "bakehouse-build", "external_id": "ext-42",
                         "duration_seconds": 1800, "policy": policy,
                         "policy_arns": ["arn:aws:iam::aws:policy/AmazonEC2FullAccess"],
                         "tags": {"Project": "bakery"}, "transitive_tag_keys": ["Project"]}],
    })
    artifact = builder.run(RecordingUi(), CommandHook(), Context())
    assert artifact is not None
    ami = artifact.amis["us-east-1"]  # type: ignore[attr-defined]
    assert other.describe_images(ImageIds=[ami])["Images"][0]["OwnerId"] == "111122223333"
    own = [i["ImageId"] for i in bakehouse_aws_env.client().describe_images(Owners=["self"])["Images"]]
    assert ami not in own

    (request,) = moto_requests.calls("AssumeRole")
    assert request["RoleArn"] == ROLE
    assert request["RoleSessionName"] == "bakehouse-build"
    assert request["ExternalId"] == "ext-42"
    assert request["DurationSeconds"] == "1800"
    assert json.loads(request["Policy"]) == json.loads(policy)
    assert request["PolicyArns.member.1.arn"] == "arn:aws:iam::aws:policy/AmazonEC2FullAccess"
    assert (request["Tags.member.1.Key"], request["Tags.member.1.Value"]) == ("Project", "bakery")
    assert request["TransitiveTagKeys.member.1"] == "Project"
    # AssumeRole is signed with the source credentials, everything else with the role's
    assert moto_requests.signers("AssumeRole") == {"testing"}
    for action in ("GetCallerIdentity", "RunInstances", "CreateImage", "TerminateInstances"):
        (signer,) = moto_requests.signers(action)
        assert signer.startswith("ASIA") and signer != assumed["AccessKeyId"], action


def test_cleanup_assumes_the_journalled_role_to_remove_what_the_role_made(
        bakehouse_aws_env: MotoServer) -> None:
    """bakehouse cleanup after a kill: the journal names the role, never a secret."""
    creds = bakehouse_aws_env.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="setup")["Credentials"]
    other = boto3.client("ec2", region_name="us-east-1", endpoint_url=bakehouse_aws_env.endpoint,
                         aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])
    run = "run-" + uuid.uuid4().hex[:8]
    instance = other.run_instances(ImageId=register_source_ami(other), MinCount=1, MaxCount=1,
                                   InstanceType="t2.micro",
                                   TagSpecifications=[tag_specification("instance", run)])["Instances"][0]["InstanceId"]
    details = Connection(access=Access(role=RoleToAssume(ROLE, "build", "ext-1"))).journal_details("us-east-1")
    assert details["assume_role"] == {"role_arn": ROLE, "session_name": "build", "external_id": "ext-1"}
    assert "testing" not in json.dumps(details)
    clean_instance(JournalEntry("bakehouse-plugin-aws", KIND_INSTANCE, instance, details, run_id=run))
    state = other.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] == "terminated"


def test_profile_from_a_shared_credentials_file(bakehouse_aws_env: MotoServer, moto_requests: Recorder,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = AKIADEFAULTPROFILE00\naws_secret_access_key = d\n\n"
                           "[builder]\naws_access_key_id = AKIABUILDERPROFILE00\naws_secret_access_key = b\n")
    register_source_ami(bakehouse_aws_env.client())
    find_ami(shared_credentials_file=str(credentials), profile="builder")
    assert moto_requests.signers("DescribeImages") == {"AKIABUILDERPROFILE00"}
    find_ami(shared_credentials_file=str(credentials))
    assert moto_requests.signers("DescribeImages") == {"AKIABUILDERPROFILE00", "AKIADEFAULTPROFILE00"}
    with pytest.raises(AwsError, match=r"The config profile \(nobody\) could not be found"):
        find_ami(shared_credentials_file=str(credentials), profile="nobody")


def test_token_signs_with_the_session_token(bakehouse_aws_env: MotoServer, moto_requests: Recorder) -> None:
    register_source_ami(bakehouse_aws_env.client())
    find_ami(access_key="ASIATEMPORARYKEY0000", secret_key="s", token="session-token-1")
    (entry,) = moto_requests.entries("DescribeImages")
    assert entry["headers"]["X-Amz-Security-Token"] == "session-token-1"


def test_mfa_code_answers_a_profile_that_assumes_a_role_with_mfa(
        bakehouse_aws_env: MotoServer, moto_requests: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[base]\naws_access_key_id = AKIABASEPROFILE00000\naws_secret_access_key = b\n")
    config = tmp_path / "config"
    register_source_ami(bakehouse_aws_env.client())
    config.write_text("[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deployer\nsource_profile = base\n"
                      "mfa_serial = arn:aws:iam::123456789012:mfa/baker\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    with pytest.raises(AwsError, match=r"profile 'deploy' assumes a role with an MFA device .*: set mfa_code"):
        find_ami(shared_credentials_file=str(credentials), profile="deploy")
    assert moto_requests.calls("AssumeRole") == []
    find_ami(shared_credentials_file=str(credentials), profile="deploy", mfa_code="123456")
    (request,) = moto_requests.calls("AssumeRole")
    assert request["TokenCode"] == "123456"
    assert request["SerialNumber"] == "arn:aws:iam::123456789012:mfa/baker"
    assert moto_requests.signers("AssumeRole") == {"AKIABASEPROFILE00000"}
    (signer,) = moto_requests.signers("DescribeImages")
    assert signer.startswith("ASIA")


def test_credentials_are_checked_with_sts_unless_skip_credential_validation(
        bakehouse_aws_env: MotoServer, moto_requests: Recorder) -> None:
    register_source_ami(bakehouse_aws_env.client())
    find_ami(access_key="AKIACHECKED000000000", secret_key="x")
    assert moto_requests.signers("GetCallerIdentity") == {"AKIACHECKED000000000"}
    find_ami(access_key="AKIANOTCHECKED000000", secret_key="x", skip_credential_validation=True)
    assert moto_requests.signers("GetCallerIdentity") == {"AKIACHECKED000000000"}
    assert "AKIANOTCHECKED000000" in moto_requests.signers("DescribeImages")


class _ProxyTrap:
    """A loopback HTTP(S) proxy that answers nothing and remembers who asked:
    proves that no request left for AWS's public endpoints."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        trap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_CONNECT(self) -> None:  # noqa: N802
                trap.requests.append(self.path)
                self.send_error(403)

            do_GET = do_POST = do_CONNECT  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_custom_ec2_endpoint_without_an_sts_endpoint_is_not_checked_at_aws(
        bakehouse_aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """An emulator's credentials are never sent to AWS's STS: the check is skipped."""
    trap = _ProxyTrap()
    try:
        monkeypatch.delenv("AWS_ENDPOINT_URL")
        monkeypatch.setenv("HTTPS_PROXY", trap.url)
        monkeypatch.setenv("HTTP_PROXY", trap.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        register_source_ami(bakehouse_aws_env.client())
        assert find_ami(custom_endpoint_ec2=bakehouse_aws_env.endpoint)["name"] == "bakehouse-source"
        assert trap.requests == []
    finally:
        trap.close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_insecure_skip_tls_verify_reaches_an_endpoint_with_a_self_signed_certificate(
        bakehouse_aws_env: MotoServer, tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "moto-ssl.log").open("wb")
    proc = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port), "--ssl"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        endpoint = f"https://127.0.0.1:{port}"
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint, verify=False,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=30)
        while True:
            try:
                source = register_source_ami(ec2, "behind-tls")
                break
            except Exception:
                if datetime.datetime.now() > deadline or proc.poll() is not None:
                    raise
        with pytest.raises(AwsError, match=r"SSL validation failed.*insecure_skip_tls_verify = true skips"):
            find_ami(custom_endpoint_ec2=endpoint)
        found = find_ami(custom_endpoint_ec2=endpoint, insecure_skip_tls_verify=True)
        assert found["id"] == source
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


class _MetadataService:
    """EC2's instance metadata service on loopback, handing out role credentials
    (moto's server does not answer IMDS requests on its own address)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        service = self
        expires = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        answers = {
            "/latest/api/token": "imds-token",
            "/latest/meta-data/iam/security-credentials/": "instance-role",
            "/latest/meta-data/iam/security-credentials/instance-role": json.dumps({
                "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAINSTANCEROLE0000",
                "SecretAccessKey": "s", "Token": "imds-session", "Expiration": expires}),
        }

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                service.requests.append(self.path)
                body = answers.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write((body or "").encode())

            do_GET = do_PUT = _answer  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_skip_metadata_api_check_never_asks_the_instance_metadata_service(
        bakehouse_aws_env: MotoServer, moto_requests: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    imds = _MetadataService()
    try:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint)
        register_source_ami(bakehouse_aws_env.client())
        find_ami()
        assert moto_requests.signers("DescribeImages") == {"ASIAINSTANCEROLE0000"}
        imds.requests.clear()
        with pytest.raises(AwsError, match="no AWS credentials found"):
            find_ami(skip_metadata_api_check=True)
        assert imds.requests == []
    finally:
        imds.close()


class _RefusingEC2:
    """An EC2 that refuses every call with an encoded authorization failure, and
    an STS that decodes it (moto has neither: its EC2 authorizes everything and
    its STS lacks DecodeAuthorizationMessage)."""

    def __init__(self) -> None:
        self.decoded: list[str] = []
        refusing = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                params = dict(urllib.parse.parse_qsl(body))
                if params.get("Action") == "DecodeAuthorizationMessage":
                    refusing.decoded.append(params["EncodedMessage"])
                    answer = ("<DecodeAuthorizationMessageResponse><DecodeAuthorizationMessageResult>"
                              "<DecodedMessage>{\"allowed\":false,\"context\":{\"action\":\"ec2:DescribeImages\"}}"
                              "</DecodedMessage></DecodeAuthorizationMessageResult>"
                              "</DecodeAuthorizationMessageResponse>")
                    status = 200
                else:
                    answer = ("<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not "
                              "authorized to perform this operation. Encoded authorization failure message: "
                              "ENC0DED-42</Message></Error></Errors><RequestID>r</RequestID></Response>")
                    status = 403
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_decode_authorization_messages_decodes_an_encoded_refusal(
        bakehouse_aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    refusing = _RefusingEC2()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", refusing.endpoint)
        access = {"custom_endpoint_ec2": refusing.endpoint, "skip_credential_validation": True}
        with pytest.raises(AwsError) as plain:
            find_ami(**access)
        assert "Encoded authorization failure message: ENC0DED-42" in str(plain.value)
        assert refusing.decoded == []
        with pytest.raises(AwsError) as decoded:
            find_ami(decode_authorization_messages=True, **access)
        assert refusing.decoded == ["ENC0DED-42"]
        assert ('UnauthorizedOperation: You are not authorized to perform this operation. Decoded authorization '
                'failure message: {"allowed":false,"context":{"action":"ec2:DescribeImages"}}') in str(decoded.value)
    finally:
        refusing.close()


def _problems(**options: Any) -> list[str]:
    config = {"region": "us-east-1", "instance_type": "t2.micro", "source_ami": "ami-12345678",
              "ami_name": "access-checks", "ssh_username": "root", **options}
    with pytest.raises(ConfigError) as caught:
        parse_builder_config(config)
    return [f"{'.'.join(map(str, p.path))}: {p.message}" for p in caught.value.problems]


def test_access_mistakes_are_named_with_their_option(tmp_path: Path) -> None:
    assert _problems(access_key="AKIA0") == [
        "secret_key: access_key and secret_key must both be either set or not set."]
    assert _problems(shared_credentials_file=str(tmp_path / "nope")) == [
        f"shared_credentials_file: shared_credentials_file {str(tmp_path / 'nope')!r} does not exist."]
    assert _problems(assume_role=[{"session_name": "builder"}]) == [
        "assume_role.0.role_arn: The argument 'role_arn' is required, but no definition was found."]
    (problem,) = _problems(assume_role=[{"role_arn": "builder"}])
    assert problem.startswith("assume_role.0.role_arn: ") and "is not an IAM role ARN" in problem
    (problem,) = _problems(assume_role=[{"role_arn": ROLE, "duration_seconds": 60}])
    assert problem.startswith("assume_role.0.duration_seconds: ") and "between 900" in problem
    (problem,) = _problems(assume_role=[{"role_arn": ROLE, "policy": "{not json"}])
    assert problem.startswith("assume_role.0.policy: ") and "JSON" in problem
    (problem,) = _problems(assume_role=[{"role_arn": ROLE}, {"role_arn": ROLE}])
    assert problem == "assume_role.1: Only one assume_role block is allowed."
    (problem,) = _problems(custom_endpoint_ec2="127.0.0.1:5000")
    assert problem == "custom_endpoint_ec2: custom_endpoint_ec2 '127.0.0.1:5000' is not an http(s) URL."
    (problem,) = _problems(max_retries=-1)
    assert problem == "max_retries: The max_retries must not be negative."
    (problem,) = _problems(vault_aws_engine=[{"name": "builder"}])
    assert problem.startswith("vault_aws_engine.0: Option 'vault_aws_engine' is not supported by Bakehouse: "
                              "it needs a HashiCorp Vault server")


@pytest.mark.ssh
def test_max_retries_bounds_the_retries_of_a_throttled_call(bakehouse_local_ec2: Any) -> None:
    """The local EC2 answers RequestLimitExceeded twice (moto never throttles)."""
    bakehouse_local_ec2.inject("DescribeImages", "throttle", times=2)
    with pytest.raises(AwsError, match="RequestLimitExceeded"):
        find_ami(max_retries=1)  # the call and one retry: both throttled
    assert bakehouse_local_ec2.faults_left("DescribeImages") is None
    bakehouse_local_ec2.inject("DescribeImages", "throttle", times=2)
    assert find_ami(max_retries=2)["name"] == "debian-12-bakehouse-local"
    assert bakehouse_local_ec2.faults_left("DescribeImages") is None
