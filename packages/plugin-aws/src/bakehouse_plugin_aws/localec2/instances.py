"""The Docker side of the local EC2: instance containers and AMI images.

An instance is a container started from the AMI's image
(``bakehouse-ami/<ami-id>``), on a bridge network of its own without IP
masquerading (so it has no way out), with port 22 published on a loopback
address of its own (127.0.0.N). A small boot script, the container's command,
installs the launch key pair's public key for the AMI's login user, runs the
instance's user data at first boot and then becomes ``sshd``.
"""

from __future__ import annotations

import errno
import io
import os
import socket
import tarfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bakehouse_plugin_aws.localec2.base_image import LABEL_SSH_USER

#: Every container of a local EC2 carries this label (value: the server's id).
LABEL_SERVER = "io.bakehouse.local-ec2"
#: ... and this one, with its instance id.
LABEL_INSTANCE = "io.bakehouse.local-ec2.instance"
#: ... and the pid of the process that runs the local EC2 (for cleanup of dead ones).
LABEL_PID = "io.bakehouse.local-ec2.pid"
#: An AMI is the Docker image ``bakehouse-ami/<ami-id>``.
AMI_REPOSITORY = "bakehouse-ami"

_DATA_DIR = "/var/lib/bakehouse-local-ec2"

# Runs as the container's command (so also after a stop/start or reboot).
_BOOT = f"""
d={_DATA_DIR}
id=$(cat $d/instance-id)
user=$(cat $d/ssh-user)
echo "local-ec2: booting $id"
if [ -s $d/authorized_keys ]; then
  home=$(awk -F: -v u="$user" '$1 == u {{ print $6 }}' /etc/passwd)
  if [ -n "$home" ]; then
    mkdir -p "$home/.ssh"
    cp $d/authorized_keys "$home/.ssh/authorized_keys"
    chmod 700 "$home/.ssh"; chmod 600 "$home/.ssh/authorized_keys"
    chown -R "$user" "$home/.ssh" 2>/dev/null
  else
    echo "local-ec2: no user $user in /etc/passwd" >&2
  fi
fi
if [ -s $d/user-data ] && [ ! -e "$d/user-data-done-$id" ]; then
  touch "$d/user-data-done-$id"
  echo "local-ec2: running user data"
  chmod 700 $d/user-data
  if head -c 2 $d/user-data | grep -q '^#!'; then $d/user-data; else sh $d/user-data; fi
  echo "local-ec2: user data exited with status $?"
fi
if [ -x /usr/sbin/sshd ]; then
  # one host key per instance, made at first boot (ed25519: instant, unlike RSA)
  [ -e /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
  mkdir -p /run/sshd
  echo "local-ec2: starting sshd"
  exec /usr/sbin/sshd -D -e
fi
echo "local-ec2: no sshd in this image; the instance only runs"
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
"""


class InstanceError(RuntimeError):
    """An instance could not be started or imaged (the message names it)."""


def ami_image(ami_id: str) -> str:
    return f"{AMI_REPOSITORY}/{ami_id}:latest"


@dataclass
class Instance:
    instance_id: str
    region: str
    address: str
    container_id: str


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(_DATA_DIR.lstrip("/"))
        info.type, info.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(f"{_DATA_DIR.lstrip('/')}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def port_22_taken(address: str) -> bool:
    """Whether something already listens on ``address:22``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.3)
        return probe.connect_ex((address, 22)) == 0


class Instances:
    """Containers for instances, images for AMIs, loopback addresses for both."""

    def __init__(self, server_id: str, addresses: Iterable[str] | None = None) -> None:
        import docker

        self.server_id = server_id
        self.docker = docker.from_env(timeout=300)
        #: The loopback addresses instances get, in order of preference.
        self.addresses = list(addresses) if addresses is not None else [f"127.0.0.{n}" for n in range(2, 255)]
        self.network = f"bakehouse-local-ec2-{server_id}"
        self._lock = threading.Lock()
        self._by_id: dict[str, Instance] = {}
        self._images: set[str] = set()  # AMI tags this server made
        # AMIs registered from an existing image (the base AMIs): no tag, so a
        # killed local EC2 leaves nothing on the image it does not own
        self._registered: dict[str, str] = {}

    # -- lifecycle -----------------------------------------------------------

    def create_network(self) -> None:
        # No masquerading: the instance has no route out, and published ports
        # (through docker-proxy on loopback) still reach it.
        self.docker.networks.create(
            self.network, driver="bridge", labels={LABEL_SERVER: self.server_id, LABEL_PID: str(os.getpid())},
            options={"com.docker.network.bridge.enable_ip_masquerade": "false"},
        )

    def shutdown(self) -> None:
        """Remove every container, AMI tag and the network this server made."""
        self.remove_all()
        import docker.errors

        try:
            self.docker.networks.get(self.network).remove()
        except docker.errors.NotFound:
            pass
        self.docker.close()

    def remove_all(self, keep_images: Iterable[str] = ()) -> None:
        for container in self.containers():
            container.remove(force=True)
        with self._lock:
            self._by_id.clear()
            images = self._images - set(keep_images)
            self._images -= images
            self._registered.clear()
        for tag in images:
            self.untag(tag)

    def containers(self) -> list[Any]:
        """This server's instance containers (running or not)."""
        return list(self.docker.containers.list(all=True, filters={"label": f"{LABEL_SERVER}={self.server_id}"}))

    # -- AMIs -----------------------------------------------------------------

    def image_for(self, ami_id: str) -> str | None:
        """The image behind ``ami_id`` (a registered image's id or the AMI's tag), if any."""
        import docker.errors

        with self._lock:
            if ami_id in self._registered:
                return self._registered[ami_id]
        try:
            self.docker.images.get(ami_image(ami_id))
            return ami_image(ami_id)
        except docker.errors.ImageNotFound:
            return None

    def has_image(self, ami_id: str) -> bool:
        return self.image_for(ami_id) is not None

    def register(self, image: str, ami_id: str) -> None:
        """Make ``ami_id`` run the existing image ``image`` (a reference or id)."""
        image_id = self.docker.images.get(image).id
        with self._lock:
            self._registered[ami_id] = image_id

    def copy(self, source_ami: str, ami_id: str) -> None:
        """A copy of an AMI keeps pointing at the same image."""
        with self._lock:
            registered = self._registered.get(source_ami)
            if registered:
                self._registered[ami_id] = registered
                return
        if self.has_image(source_ami):
            self.tag(ami_image(source_ami), ami_id)

    def tag(self, source: str, ami_id: str) -> None:
        """Make ``ami_id`` point at the image ``source`` (a reference or image id)."""
        self.docker.images.get(source).tag(f"{AMI_REPOSITORY}/{ami_id}", "latest")
        with self._lock:
            self._images.add(ami_id)

    def untag(self, ami_id: str) -> None:
        import docker.errors

        with self._lock:
            self._images.discard(ami_id)
            if self._registered.pop(ami_id, None):
                return
        try:
            self.docker.images.remove(ami_image(ami_id), noprune=False)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError:
            # still used by a container (an instance of it): drop the tag only
            pass

    def commit(self, instance_id: str, ami_id: str) -> None:
        instance = self._instance(instance_id)
        container = self.docker.containers.get(instance.container_id)
        container.commit(repository=f"{AMI_REPOSITORY}/{ami_id}", tag="latest")
        with self._lock:
            self._images.add(ami_id)

    # -- instances ------------------------------------------------------------

    def known(self, instance_id: str) -> bool:
        with self._lock:
            return instance_id in self._by_id

    def address_of(self, instance_id: str) -> str | None:
        with self._lock:
            instance = self._by_id.get(instance_id)
            return instance.address if instance else None

    def _instance(self, instance_id: str) -> Instance:
        with self._lock:
            instance = self._by_id.get(instance_id)
        if instance is None:
            raise InstanceError(f"instance {instance_id} has no container in this local EC2")
        return instance

    def _free_addresses(self) -> list[str]:
        with self._lock:
            used = {i.address for i in self._by_id.values()}
        return [a for a in self.addresses if a not in used]

    def launch(self, instance_id: str, region: str, ami_id: str, *, public_key: str = "",
               user_data: bytes = b"") -> Instance:
        """Create and start the container of a new instance."""
        import docker.errors

        image = self.docker.images.get(self.image_for(ami_id) or ami_image(ami_id))
        user = (image.labels or {}).get(LABEL_SSH_USER) or "root"
        files = {"instance-id": instance_id.encode(), "ssh-user": user.encode()}
        if public_key:
            files["authorized_keys"] = public_key.strip().encode() + b"\n"
        if user_data:
            files["user-data"] = user_data
        candidates = [a for a in self._free_addresses() if not port_22_taken(a)]
        if not candidates:
            taken = ", ".join(self.addresses[:5]) + ("..." if len(self.addresses) > 5 else "")
            raise InstanceError(
                f"instance {instance_id}: port 22 is already taken on every loopback address "
                f"this local EC2 may use ({taken}); stop what listens there or free an address")
        last_error = ""
        for address in candidates[:20]:
            with self._lock:  # reserve the address before Docker binds it
                self._by_id[instance_id] = Instance(instance_id, region, address, "")
            container = self.docker.containers.create(
                image.id, command=["/bin/sh", "-c", _BOOT], name=f"bakehouse-ec2-{instance_id}-{self.server_id}",
                hostname=instance_id, network=self.network, ports={"22/tcp": (address, 22)},
                labels={LABEL_SERVER: self.server_id, LABEL_INSTANCE: instance_id, LABEL_PID: str(os.getpid())},
                stop_signal="SIGTERM",
            )
            container.put_archive("/", _tar(files))
            try:
                container.start()
            except docker.errors.APIError as exc:
                logs = _last_lines(container)
                container.remove(force=True)
                with self._lock:
                    self._by_id.pop(instance_id, None)
                message = str(exc.explanation or exc)
                if _port_in_use(message):  # somebody took it in between: next address
                    last_error = f"port 22 is already taken on {address}"
                    continue
                raise InstanceError(f"instance {instance_id}: its container did not start: {message}{logs}") from None
            instance = Instance(instance_id, region, address, container.id)
            with self._lock:
                self._by_id[instance_id] = instance
            self._check_running(instance)
            return instance
        raise InstanceError(f"instance {instance_id}: {last_error}")

    def _check_running(self, instance: Instance) -> None:
        """A container that dies right away is a failed launch, with its logs."""
        container = self.docker.containers.get(instance.container_id)
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            container.reload()
            if container.status != "running":
                break
            time.sleep(0.05)
        if container.status not in ("running", "created"):
            logs = _last_lines(container)
            code = container.attrs.get("State", {}).get("ExitCode")
            container.remove(force=True)
            with self._lock:
                self._by_id.pop(instance.instance_id, None)
            raise InstanceError(
                f"instance {instance.instance_id}: its container exited with status {code} at boot{logs}")

    def stop(self, instance_id: str) -> None:
        self.docker.containers.get(self._instance(instance_id).container_id).stop(timeout=5)

    def start(self, instance_id: str) -> None:
        instance = self._instance(instance_id)
        container = self.docker.containers.get(instance.container_id)
        container.start()
        self._check_running(instance)

    def reboot(self, instance_id: str) -> None:
        self.docker.containers.get(self._instance(instance_id).container_id).restart(timeout=5)

    def terminate(self, instance_id: str) -> None:
        import docker.errors

        with self._lock:
            instance = self._by_id.pop(instance_id, None)
        if instance is None:
            return
        try:
            self.docker.containers.get(instance.container_id).remove(force=True)
        except docker.errors.NotFound:
            pass


def _port_in_use(message: str) -> bool:
    """Docker's words for a taken host port: another process has it, or Docker
    gave it to another container (another local EC2's, whose proxy may not
    listen yet)."""
    text = message.lower()
    return "address already in use" in text or "port is already allocated" in text or (
        str(errno.EADDRINUSE) in text and "bind" in text)


def _last_lines(container: Any, count: int = 15) -> str:
    try:
        text = container.logs(tail=count).decode(errors="replace").strip()
    except Exception:
        return ""
    return "\ncontainer log (last lines):\n" + text if text else "\n(the container logged nothing)"


def remove_leftovers_of_dead_servers(client: Any, log: Any = print) -> int:
    """Remove the containers, AMI images and networks of local EC2s whose
    process is gone (killed with ``kill -9``, say); a running one is never
    touched. Returns how many resources were removed."""
    import docker.errors

    def dead(labels: dict[str, str]) -> bool:
        pid = labels.get(LABEL_PID, "")
        return pid.isdigit() and not os.path.exists(f"/proc/{pid}")

    removed = 0
    for container in client.containers.list(all=True, filters={"label": LABEL_SERVER}):
        if dead(container.labels):
            container.remove(force=True)
            log(f"removed container {container.name} (instance {container.labels.get(LABEL_INSTANCE)})")
            removed += 1
    for image in client.images.list(filters={"label": LABEL_SERVER}):
        if dead(image.labels or {}):
            for tag in image.tags:
                if tag.startswith(AMI_REPOSITORY + "/"):
                    try:
                        client.images.remove(tag)
                    except docker.errors.APIError:
                        continue
                    log(f"removed image {tag}")
                    removed += 1
    for network in client.networks.list(filters={"label": LABEL_SERVER}):
        if dead(network.attrs.get("Labels") or {}):
            network.remove()
            log(f"removed network {network.name}")
            removed += 1
    return removed
