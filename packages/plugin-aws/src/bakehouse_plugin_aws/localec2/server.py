"""The local EC2: a moto server with a thin HTTP layer in front of it.

The front layer forwards every request to moto unchanged and looks at the
EC2 actions that touch a machine: ``RunInstances`` starts a container per
instance, stop/start/reboot/terminate follow, ``CreateImage`` commits the
container to an image, ``CopyImage``/``DeregisterImage`` tag and untag it,
and instance addresses in moto's answers become the instance's loopback
address. Key pairs are remembered from ``CreateKeyPair`` answers and
``ImportKeyPair`` requests, so the launch key is what the instance accepts.
``CreateFleet`` (an instant fleet from a launch template, as Spot builds
make) starts containers like ``RunInstances``.
Everything else is moto's. It can also inject faults per action.
"""

from __future__ import annotations

import base64
import ctypes
import http.client
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from bakehouse_plugin_aws.localec2.base_image import DEBIAN_IMAGE, debian_image_present
from bakehouse_plugin_aws.localec2.instances import InstanceError, Instances, ami_image
from bakehouse_plugin_aws.localec2.ssh import public_key_of

#: Name of the Debian base AMI (``amazon-ami`` with ``owners = ["self"]`` finds it).
DEBIAN_AMI_NAME = "debian-12-bakehouse-local"
FAULTS = ("throttle", "5xx", "latency", "drop", "no-capacity")
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _die_with_parent() -> None:
    """In the moto child: SIGTERM when the local EC2's process dies (even by kill -9)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Fault:
    kind: str
    times: int | None  # None: every call
    seconds: float = 0.0
    status: int = 503


def _error(code: str, message: str, status: int = 400) -> tuple[int, bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
        f"<Code>{code}</Code><Message>{_escape(message)}</Message>"
        f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    )
    return status, body.encode()


def _empty_fleet() -> bytes:
    """CreateFleet's answer when an instant fleet got no Spot capacity."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<CreateFleetResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>{uuid.uuid4()}</requestId><fleetId>fleet-{uuid.uuid4()}</fleetId>"
        "<errorSet><item><errorCode>InsufficientInstanceCapacity</errorCode>"
        "<errorMessage>There is no Spot capacity available that matches your request (injected).</errorMessage>"
        "<lifecycle>spot</lifecycle></item></errorSet><fleetInstanceSet/></CreateFleetResponse>"
    ).encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _indexed(params: dict[str, str], prefix: str) -> list[str]:
    return [v for k, v in sorted(params.items()) if re.fullmatch(re.escape(prefix) + r"\.\d+", k)]


def _region(headers: Any) -> str:
    match = re.search(r"Credential=[^/]+/\d+/([^/]+)/", headers.get("Authorization", ""))
    return match.group(1) if match else "us-east-1"


class LocalEC2:
    """A running local EC2; a context manager that stops all it started.

    ``endpoint`` is what ``AWS_ENDPOINT_URL_EC2`` should be, ``env`` the
    whole environment to export. ``base_ami(region)`` is the Debian base AMI
    (when the base image was built), ``register_image`` turns any Docker
    image into an AMI, and ``inject``/``clear_faults`` make chosen API
    actions fail.
    """

    def __init__(self, *, port: int = 0, region: str = "us-east-1",
                 regions: tuple[str, ...] = ("us-east-1", "us-west-2"), log: Any = None) -> None:
        self.server_id = uuid.uuid4().hex[:10]
        self.region = region
        self.regions = tuple(dict.fromkeys((region, *regions)))
        self._port = port
        self._log = log or (lambda message: None)
        self._moto: subprocess.Popen[bytes] | None = None
        self._moto_port = 0
        self._front: ThreadingHTTPServer | None = None
        self._faults: dict[str, Fault] = {}
        self._keys: dict[tuple[str, str], str] = {}
        self._templates: dict[tuple[str, str], dict[str, str]] = {}  # (region, id or name) -> data
        self._moto_ips: dict[str, list[str]] = {}  # instance id -> moto's addresses and names
        self._base_amis: dict[str, str] = {}
        self._lock = threading.Lock()
        self.instances = Instances(self.server_id)
        self.endpoint = ""

    # -- start and stop ----------------------------------------------------------

    def __enter__(self) -> LocalEC2:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._start_moto()
            self.instances.create_network()
            self._front = ThreadingHTTPServer(("127.0.0.1", self._port), _handler(self))
            self._front.daemon_threads = True
            threading.Thread(target=self._front.serve_forever, name="local-ec2-front", daemon=True).start()
            self.endpoint = f"http://127.0.0.1:{self._front.server_address[1]}"
            self._register_base_amis()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._front is not None:
            self._front.shutdown()
            self._front.server_close()
            self._front = None
        self.instances.shutdown()
        if self._moto is not None and self._moto.poll() is None:
            self._moto.terminate()
            try:
                self._moto.wait(10)
            except subprocess.TimeoutExpired:
                self._moto.kill()
                self._moto.wait()
        self._moto = None

    def _start_moto(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self._moto_port = probe.getsockname()[1]
        self._moto = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self._moto_port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._moto.poll() is not None:
                err = self._moto.stderr.read().decode(errors="replace") if self._moto.stderr else ""
                raise RuntimeError(f"the moto server exited at start (pip install 'moto[server]'?): {err.strip()}")
            try:
                socket.create_connection(("127.0.0.1", self._moto_port), timeout=0.5).close()
                if self._moto.stderr:
                    self._moto.stderr.close()  # nothing reads it from here on
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the moto server did not listen within 30 s")

    # -- what tests and the console use ------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The environment that points boto3 (and so ``amazon-ebs``) here."""
        return {
            "AWS_ENDPOINT_URL_EC2": self.endpoint,
            # moto's IAM, behind the same front layer (instance profiles)
            "AWS_ENDPOINT_URL_IAM": self.endpoint,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **DUMMY_CREDENTIALS,
        }

    def client(self, region: str | None = None, service: str = "ec2"):  # type: ignore[no-untyped-def]
        """A boto3 client of ``service`` (EC2, or moto's IAM...) talking to this local EC2."""
        import boto3

        return boto3.client(service, region_name=region or self.region, endpoint_url=self.endpoint,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def base_ami(self, region: str | None = None) -> str:
        """The Debian base AMI's id in ``region`` (needs the base image: ``bakehouse-ec2-local setup``)."""
        region = region or self.region
        if region not in self._base_amis:
            raise RuntimeError(f"no Debian base AMI in {region}: build {DEBIAN_IMAGE} first "
                               "(bakehouse-ec2-local setup)")
        return self._base_amis[region]

    def register_image(self, image: str, name: str, region: str | None = None) -> str:
        """Register the Docker image ``image`` as a new AMI called ``name``
        (no ``bakehouse-ami/`` tag: the AMI lives as long as this local EC2)."""
        ec2 = self.client(region)
        ami = str(ec2.register_image(
            Name=name, Architecture="x86_64", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )["ImageId"])
        self.instances.register(image, ami)
        return ami

    def inject(self, action: str, fault: str, *, times: int | None = None, seconds: float = 0.0,
               status: int = 503) -> None:
        """Make the next ``times`` calls of ``action`` (every call when None) fail.

        ``fault``: ``throttle`` (RequestLimitExceeded), ``5xx`` (``status``),
        ``latency`` (wait ``seconds``, then answer), ``drop`` (close the
        connection without an answer) or ``no-capacity`` (``CreateFleet``
        only: an instant fleet that launched nothing, with EC2's
        ``InsufficientInstanceCapacity`` error in its answer).
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        with self._lock:
            self._faults[action] = Fault(fault, times, seconds, status)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults_left(self, action: str) -> int | None:
        with self._lock:
            fault = self._faults.get(action)
            return None if fault is None else fault.times

    def reset(self) -> None:
        """Forget every resource (moto's reset) and every instance; new base AMIs."""
        self.clear_faults()
        request = http.client.HTTPConnection("127.0.0.1", self._moto_port, timeout=30)
        request.request("POST", "/moto-api/reset")
        request.getresponse().read()
        request.close()
        self.instances.remove_all()
        with self._lock:
            self._keys.clear()
            self._templates.clear()
            self._moto_ips.clear()
            self._base_amis.clear()
        self._register_base_amis()

    def _register_base_amis(self) -> None:
        if not debian_image_present():
            self._log(f"no {DEBIAN_IMAGE} image: no Debian base AMI (bakehouse-ec2-local setup builds it)")
            return
        for region in self.regions:
            self._base_amis[region] = self.register_image(DEBIAN_IMAGE, DEBIAN_AMI_NAME, region)

    # -- the front layer ------------------------------------------------------------

    def _take_fault(self, action: str) -> Fault | None:
        with self._lock:
            fault = self._faults.get(action)
            if fault is None:
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[action]
            return fault

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self._moto_port, timeout=120)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            kept = {k: v for k, v in response.getheaders()
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date")}
            return response.status, kept, data
        finally:
            connection.close()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        """One request: ``None`` means drop the connection without an answer."""
        if path.startswith("/moto-api/reset"):
            self.reset()
            return 200, {"Content-Type": "application/json"}, b'{"status": "ok"}'
        params: dict[str, str] = {}
        if "x-www-form-urlencoded" in headers.get("Content-Type", headers.get("content-type", "")):
            params = {k: v[0] for k, v in parse_qs(body.decode(errors="replace"), keep_blank_values=True).items()}
        action = params.get("Action", "")
        region = _region(headers)
        fault = self._take_fault(action) if action else None
        if fault is not None:
            if fault.kind == "drop":
                return None
            if fault.kind == "no-capacity":
                return 200, {"Content-Type": "text/xml"}, _empty_fleet()
            if fault.kind == "throttle":
                status, data = _error("RequestLimitExceeded", "Request limit exceeded.", 503)
                return status, {"Content-Type": "text/xml"}, data
            if fault.kind == "5xx":
                status, data = _error("InternalError", "An internal error has occurred (injected).", fault.status)
                return status, {"Content-Type": "text/xml"}, data
            time.sleep(fault.seconds)
        before = getattr(self, f"_before_{action}", None)
        if before is not None:
            refused = before(region, params)
            if refused is not None:
                status, data = refused
                return status, {"Content-Type": "text/xml"}, data
        status, out_headers, data = self._forward(method, path, headers, body)
        if status == 200:
            after = getattr(self, f"_after_{action}", None)
            if after is not None:
                try:
                    data = after(region, params, data)
                except InstanceError as exc:
                    status, data = _error("InvalidInstanceState.LocalContainer", str(exc))
        return status, out_headers, self._rewrite_addresses(data)

    def _rewrite_addresses(self, data: bytes) -> bytes:
        with self._lock:
            mapping = dict(self._moto_ips)
        if not mapping or b"<" not in data:
            return data
        text = data.decode()
        for instance_id, names in mapping.items():
            address = self.instances.address_of(instance_id) or names[0]
            for name in names[1:]:
                text = text.replace(f">{name}<", f">{address}<")
        return text.encode()

    # RunInstances: a container per instance (the AMI needs a local image)
    def _before_RunInstances(self, region: str, params: dict[str, str]) -> tuple[int, bytes] | None:
        ami = params.get("ImageId", "")
        if ami and not self.instances.has_image(ami):
            return _error("InvalidAMIID.Unavailable",
                          f"AMI {ami} has no local image behind it ({ami_image(ami)} is not in Docker): "
                          "the local EC2 launches only AMIs made by CreateImage, its base AMIs, "
                          "or images registered with LocalEC2.register_image")
        return None

    def _after_RunInstances(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        root = ET.fromstring(data)
        user_data = base64.b64decode(params["UserData"]) if params.get("UserData") else b""
        self._start_containers(region, root.findall(".//{*}instancesSet/{*}item"),
                               key_name=params.get("KeyName", ""), user_data=user_data)
        return data

    def _start_containers(self, region: str, items: list[ET.Element], *, key_name: str,
                          user_data: bytes) -> None:
        """A container for each instance of moto's answer (``instancesSet`` items);
        if one fails, none is left and moto's instances are terminated."""
        public_key = self._keys.get((region, key_name), "")
        launched: list[str] = []
        try:
            for item in items:
                instance_id = item.findtext("{*}instanceId") or ""
                names = [item.findtext(f"{{*}}{tag}") or "" for tag in
                         ("privateIpAddress", "ipAddress", "dnsName", "privateDnsName")]
                with self._lock:
                    self._moto_ips[instance_id] = ["127.0.0.1"] + [n for n in names if n]
                self.instances.launch(instance_id, region, item.findtext("{*}imageId") or "",
                                      public_key=public_key, user_data=user_data)
                launched.append(instance_id)
        except Exception as exc:
            ids = [i.findtext("{*}instanceId") or "" for i in items]
            for instance_id in launched:
                self.instances.terminate(instance_id)
            self._moto_call(region, "TerminateInstances", {f"InstanceId.{n}": i for n, i in enumerate(ids, 1)})
            raise exc if isinstance(exc, InstanceError) else InstanceError(str(exc)) from exc

    # Launch templates and EC2 fleets: an instant fleet's instances are containers too
    def _after_CreateLaunchTemplate(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        root = ET.fromstring(data)
        template = {key: params.get(f"LaunchTemplateData.{key}", "") for key in ("ImageId", "KeyName", "UserData")}
        with self._lock:
            for name in (root.findtext(".//{*}launchTemplateId"), root.findtext(".//{*}launchTemplateName")):
                if name:
                    self._templates[(region, name)] = template
        return data

    def _after_DeleteLaunchTemplate(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        root = ET.fromstring(data)
        with self._lock:
            for name in (root.findtext(".//{*}launchTemplateId"), root.findtext(".//{*}launchTemplateName"),
                         params.get("LaunchTemplateId"), params.get("LaunchTemplateName")):
                self._templates.pop((region, name or ""), None)
        return data

    def _fleet_template(self, region: str, params: dict[str, str]) -> dict[str, str]:
        """The (first) launch template a CreateFleet request names."""
        spec = "LaunchTemplateConfigs.1.LaunchTemplateSpecification"
        with self._lock:
            for key in (f"{spec}.LaunchTemplateId", f"{spec}.LaunchTemplateName"):
                template = self._templates.get((region, params.get(key, "")))
                if template is not None:
                    return template
        return {}

    def _before_CreateFleet(self, region: str, params: dict[str, str]) -> tuple[int, bytes] | None:
        amis = {v for k, v in params.items() if re.fullmatch(r"LaunchTemplateConfigs\.\d+\.Overrides\.\d+\.ImageId", k)}
        amis.add(self._fleet_template(region, params).get("ImageId", ""))
        for ami in sorted(a for a in amis if a):
            if not self.instances.has_image(ami):
                return _error("InvalidAMIID.Unavailable",
                              f"AMI {ami} has no local image behind it ({ami_image(ami)} is not in Docker)")
        return None

    def _after_CreateFleet(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        ids = [e.text or "" for e in ET.fromstring(data).findall(".//{*}instanceIds/{*}item")]
        if not ids:
            return data
        described = ET.fromstring(self._moto_call(
            region, "DescribeInstances", {f"InstanceId.{n}": i for n, i in enumerate(ids, 1)}))
        template = self._fleet_template(region, params)
        user_data = base64.b64decode(template["UserData"]) if template.get("UserData") else b""
        self._start_containers(region, described.findall(".//{*}instancesSet/{*}item"),
                               key_name=template.get("KeyName", ""), user_data=user_data)
        return data

    def _each_instance(self, params: dict[str, str]) -> list[str]:
        return [i for i in _indexed(params, "InstanceId") if self.instances.known(i)]

    def _after_StopInstances(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        for instance_id in self._each_instance(params):
            self.instances.stop(instance_id)
        return data

    def _after_StartInstances(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        for instance_id in self._each_instance(params):
            self.instances.start(instance_id)
        return data

    def _after_RebootInstances(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        for instance_id in self._each_instance(params):
            self.instances.reboot(instance_id)
        return data

    def _after_TerminateInstances(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        for instance_id in self._each_instance(params):
            self.instances.terminate(instance_id)
        return data

    # AMIs are images
    def _after_CreateImage(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        ami = ET.fromstring(data).findtext("{*}imageId") or ""
        instance_id = params.get("InstanceId", "")
        if self.instances.known(instance_id):
            try:
                self.instances.commit(instance_id, ami)
            except Exception as exc:
                self._moto_call(region, "DeregisterImage", {"ImageId": ami})
                raise InstanceError(f"instance {instance_id}: committing its container failed: {exc}") from exc
        return data

    def _after_CopyImage(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        ami = ET.fromstring(data).findtext("{*}imageId") or ""
        self.instances.copy(params.get("SourceImageId", ""), ami)
        return data

    def _after_DeregisterImage(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        self.instances.untag(params.get("ImageId", ""))
        return data

    # key pairs: what the instance's authorized_keys holds
    def _after_CreateKeyPair(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        root = ET.fromstring(data)
        public = public_key_of(root.findtext("{*}keyMaterial") or "")
        with self._lock:
            self._keys[(region, params.get("KeyName", ""))] = public
        return data

    def _after_ImportKeyPair(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        material = params.get("PublicKeyMaterial", "")
        try:
            public = base64.b64decode(material).decode()
        except Exception:
            public = material
        with self._lock:
            self._keys[(region, params.get("KeyName", ""))] = public.strip()
        return data

    def _after_DeleteKeyPair(self, region: str, params: dict[str, str], data: bytes) -> bytes:
        with self._lock:
            self._keys.pop((region, params.get("KeyName", "")), None)
        return data

    def _moto_call(self, region: str, action: str, params: dict[str, str]) -> bytes:
        """An EC2 call straight to moto (to undo a half-done action, or to look)."""
        from urllib.parse import urlencode

        body = urlencode({"Action": action, "Version": "2016-11-15", **params}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20240101/{region}/ec2/aws4_request"}
        return self._forward("POST", "/", headers, body)[2]


def _handler(local: LocalEC2) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            try:
                answer = local.handle(self.command, self.path, headers, body)
            except Exception as exc:  # a bug here must reach the client as a 500, not a hang
                status, data = _error("InternalError", f"local EC2: {type(exc).__name__}: {exc}", 500)
                answer = status, {"Content-Type": "text/xml"}, data
            if answer is None:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            status, headers_out, data = answer
            self.send_response(status)
            for key, value in headers_out.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

    return Handler


@contextmanager
def local_ec2(**options: Any) -> Iterator[LocalEC2]:
    """``with local_ec2() as ec2:`` a running local EC2, stopped on exit."""
    with LocalEC2(**options) as running:
        yield running


def environment_lines(local: LocalEC2) -> list[str]:
    return [f"export {k}={v}" for k, v in local.env.items()]


__all__ = ["LocalEC2", "local_ec2", "environment_lines", "DEBIAN_AMI_NAME", "FAULTS"]
