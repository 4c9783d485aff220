"""Messages between the core and a plugin's fork server.

When several builds of one run need the same plugin, the core starts that
plugin once as a *fork server*: a single-threaded process that imports the
components those builds use and then forks one child per build. Each child
is a plugin process of its own -- own RPC pipes, stdout/stderr pipes,
process group and exit status -- so a crash in one build's plugin still
cannot touch another build; only the Python start-up and the imports are
paid once instead of once per build.

The core and the fork server talk over a ``SOCK_SEQPACKET`` Unix socket
(message boundaries kept, file descriptors passed with ``SCM_RIGHTS``); each
message is one JSON object:

* server -> core ``{"op": "ready"}`` once, before the handshake on the RPC pipe;
* core -> server ``{"op": "fork", "preload": [[kind, type], ...]}`` with four
  descriptors: the child's RPC read and write ends, its stdout and stderr
  (the server imported those components after its hello already, when the
  core named them in its environment);
* server -> core ``{"op": "forked", "pid": N}`` or ``{"op": "error", "message": ...}``,
  one per request and in the order of the requests (several may be waiting);
* server -> core ``{"op": "exited", "pid": N, "status": S}`` when a child is
  reaped (``S`` as ``Popen.returncode``: negative for a signal).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # socket is imported when a fork server is used, not by every plugin start
    import socket

#: Environment variable naming the fork server's end of the socket. A plugin
#: whose SDK predates fork servers ignores it and serves as a plain process.
FORK_SERVER_ENV = "BAKEHOUSE_PLUGIN_FORK_SERVER_FD"
#: Descriptors passed with a fork request.
FORK_FDS = 4
_MAX_MESSAGE = 64 * 1024


def socket_pair() -> tuple[socket.socket, socket.socket]:
    """(core end, server end); neither is inherited by accident."""
    import socket

    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    import socket

    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def recv(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and the descriptors that came with it; (None, []) at EOF."""
    import socket

    data, fds, _flags, _address = socket.recv_fds(sock, _MAX_MESSAGE, FORK_FDS)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    for fd in fds:
        os.set_inheritable(fd, False)  # commands a plugin runs must not hold them
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError(f"fork server message is not an object: {message!r}")
    return message, list(fds)
