"""The Debian base image behind the local EC2's base AMI.

Built once on this machine with ``debootstrap --variant=minbase`` from the
machine's own apt sources (so no other address is contacted), then imported
into Docker (the Engine API's ``docker import``). Cached: a second call finds
the image and returns at once.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

#: The image that backs the Debian base AMI.
DEBIAN_IMAGE = "bakehouse-local-ec2/debian:bookworm"
#: Image label naming the user an instance of the image is reached as.
LABEL_SSH_USER = "io.bakehouse.local-ec2.ssh-user"
#: The login user of the Debian base (as on Debian's own AMIs).
DEBIAN_USER = "admin"

_FALLBACK_MIRROR = "http://deb.debian.org/debian"


class BaseImageError(RuntimeError):
    """The base image could not be built (the message says what to do)."""


def apt_mirror_and_suite() -> tuple[str, str]:
    """The first Debian mirror and suite this machine's apt is configured with."""
    mirror, suite = "", ""
    candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in candidates:
        if not path.is_file() or not path.name.endswith((".list", ".sources")):
            continue
        text = path.read_text(errors="replace")
        for line in text.splitlines():  # one-line format: deb URI SUITE COMPONENTS
            match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if match and "security" not in match.group(1) and "/debian" in match.group(1):
                return match.group(1), match.group(2)
        for stanza in text.split("\n\n"):  # deb822 format
            fields = dict(re.findall(r"^(URIs|Suites):\s*(.+)$", stanza, re.M))
            uris, suites = fields.get("URIs", "").split(), fields.get("Suites", "").split()
            if uris and suites and "security" not in uris[0] and "/debian" in uris[0]:
                mirror, suite = mirror or uris[0], suite or suites[0]
    return mirror or _FALLBACK_MIRROR, suite or "bookworm"


def _docker() -> docker.DockerClient:
    import docker

    return docker.from_env(timeout=600)


def debian_image_present() -> bool:
    import docker.errors

    try:
        _docker().images.get(DEBIAN_IMAGE)
        return True
    except docker.errors.ImageNotFound:
        return False


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BaseImageError(f"{what} failed (exit {result.returncode}):\n{tail}")


def build_debian_image(*, force: bool = False, log: Callable[[str], object] = print) -> str:
    """Build and import :data:`DEBIAN_IMAGE` unless it exists; return its name."""
    if not force and debian_image_present():
        return DEBIAN_IMAGE
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(debootstrap):
        raise BaseImageError("debootstrap is not installed (apt-get install debootstrap)")
    if os.getuid() != 0:
        raise BaseImageError("building the Debian base image needs root (debootstrap and chroot)")
    mirror, suite = apt_mirror_and_suite()
    log(f"building {DEBIAN_IMAGE} with debootstrap {suite} from {mirror} (once; about 40 s)")
    work = Path(tempfile.mkdtemp(prefix="bakehouse-debootstrap-"))
    rootfs = work / "rootfs"
    try:
        _run([debootstrap, "--variant=minbase", "--include=openssh-server,sudo", suite, str(rootfs), mirror],
             "debootstrap")
        # The login user, as Debian's own AMIs have it; host keys are made per
        # instance at first boot, never shared through the image.
        setup = (
            f"useradd --create-home --shell /bin/bash {DEBIAN_USER} && "
            f"echo '{DEBIAN_USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-{DEBIAN_USER} && "
            f"chmod 0440 /etc/sudoers.d/90-{DEBIAN_USER} && "
            "rm -f /etc/ssh/ssh_host_* && apt-get clean && rm -rf /var/lib/apt/lists/*"
        )
        _run(["chroot", str(rootfs), "/bin/sh", "-c", setup], "setting up the base image")
        tarball = work / "rootfs.tar"
        _run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."], "packing the root filesystem")
        repository, tag = DEBIAN_IMAGE.rsplit(":", 1)
        _docker().api.import_image_from_file(
            str(tarball), repository=repository, tag=tag,
            changes=[f"LABEL {LABEL_SSH_USER}={DEBIAN_USER}", 'CMD ["/bin/bash"]'],
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"built {DEBIAN_IMAGE}")
    return DEBIAN_IMAGE
