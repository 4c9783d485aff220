"""The engine relay of bakehouse.testing records each request head however the
client's bytes are cut into reads (tests assert on what it saw)."""

from __future__ import annotations

import threading

from bakehouse.testing.servers import EngineRelay


def test_request_heads_are_recorded_across_and_within_reads() -> None:
    relay = EngineRelay.__new__(EngineRelay)  # the recording alone, no listener
    relay._lock = threading.Lock()
    relay.requests = []
    reads = [b"DEL", b"ETE /v1.41/containers/abc?force=1 HTTP/1.1\r\nHost: x\r", b"\n\r\n",
             b'{"a": 1}GET /_ping HTTP/1.1\r\nA: b\r\n\r\nPOST /v1.41/containers/create HTTP/1.1\r\n', b"B: c\r\n\r\n"]
    unread = b""
    for data in reads:
        unread = relay._record_heads(unread + data)
    assert relay.requests == [b"DELETE /v1.41/containers/abc?force=1 HTTP/1.1\r\nHost: x",
                              b"GET /_ping HTTP/1.1\r\nA: b", b"POST /v1.41/containers/create HTTP/1.1\r\nB: c"]
    assert relay.saw(r"^DELETE /v[\d.]+/containers/abc") and relay.saw(r"^POST /v[\d.]+/containers/create")
    assert unread == b""
