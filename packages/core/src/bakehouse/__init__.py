"""Bakehouse: build machine images from Packer-compatible HCL2 templates."""

__version__ = "0.1.0"

#: Version of the core <-> plugin RPC protocol. A plugin whose major version
#: differs is refused at handshake; minor versions are backwards compatible.
PROTOCOL_VERSION = (1, 0)
