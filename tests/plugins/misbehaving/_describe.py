"""Shared by the misbehaving plugins: a correct ``describe``, so discovery
finds them and the misbehaviour happens where it is tested (``serve``)."""

from __future__ import annotations

import json
import sys


def describe_or_continue(plugin: str, kind: str, type_name: str) -> None:
    if sys.argv[1:2] == ["describe"]:
        keys = {"builder": "builders", "provisioner": "provisioners",
                "post-processor": "post_processors", "datasource": "datasources"}
        description = {"plugin": plugin, "version": "0.0.1", "protocol_version": "1.0",
                       "builders": [], "provisioners": [], "post_processors": [], "datasources": []}
        description[keys[kind]] = [type_name]
        print(json.dumps(description))
        sys.exit(0)
