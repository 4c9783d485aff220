"""``bakehouse-ec2-local``: run a local EC2 in the foreground.

    bakehouse-ec2-local            # build the base image if needed, serve until Ctrl-C
    bakehouse-ec2-local setup      # only build the Debian base image (cached)
    bakehouse-ec2-local cleanup    # remove what local EC2s killed with kill -9 left behind
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from bakehouse_plugin_aws.localec2.base_image import BaseImageError, build_debian_image
from bakehouse_plugin_aws.localec2.server import DEBIAN_AMI_NAME, LocalEC2, environment_lines


def _log(message: str) -> None:
    try:
        print(f"bakehouse-ec2-local: {message}", file=sys.stderr, flush=True)
    except OSError:  # whoever read our output is gone: keep going, stopping matters more
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bakehouse-ec2-local", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=("up", "setup", "cleanup"), default="up")
    parser.add_argument("--port", type=int, default=0, help="port of the endpoint on 127.0.0.1 (default: a free one)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--no-base-image", action="store_true", help="do not build the Debian base image")
    args = parser.parse_args(argv)
    if args.command == "cleanup":
        import docker

        from bakehouse_plugin_aws.localec2.instances import remove_leftovers_of_dead_servers

        count = remove_leftovers_of_dead_servers(docker.from_env(), log=print)
        print(f"removed {count} leftover(s) of local EC2s that are no longer running")
        return 0
    try:
        if args.command == "setup" or not args.no_base_image:
            build_debian_image(log=_log)
    except BaseImageError as exc:
        _log(f"error: {exc}")
        return 1
    if args.command == "setup":
        return 0
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    try:
        local = LocalEC2(port=args.port, region=args.region, log=_log)
        local.start()
    except Exception as exc:
        _log(f"error: could not start: {exc}")
        return 1
    try:
        _announce(local)
        stop.wait()
    finally:
        local.stop()
        _log("stopped")
    return 0


def _announce(local: LocalEC2) -> None:
    try:
        print(f"local EC2 listening on {local.endpoint}")
        for region, ami in sorted(local._base_amis.items()):
            print(f"base AMI {DEBIAN_AMI_NAME} in {region}: {ami} (ssh_username admin)")
        print("point amazon-ebs here with:")
        for line in environment_lines(local):
            print(f"  {line}")
        print("Ctrl-C stops it and removes every instance container and AMI image it made.", flush=True)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
