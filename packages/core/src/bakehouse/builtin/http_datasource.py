"""The ``http`` data source: the body and headers of an HTTP(S) response, as Packer's.

``data "http" "x" { url = "..." }`` gives ``data.http.x.body`` (the response
body as text), ``data.http.x.url`` and ``data.http.x.request_headers`` — as in
Packer, that name holds the *response* headers, repeated headers joined with
``", "``. Optional ``method`` (default ``GET``), ``request_headers`` and
``request_body``. A status outside 2xx fails the data source; a body that is
not text (``text/*``, ``application/json``) is read anyway, with a warning in
the log, as Packer prints one.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import field_validator

from bakehouse.sdk.components import Datasource
from bakehouse.sdk.config import Config

log = logging.getLogger("bakehouse.builtin.http")

METHODS = ("HEAD", "GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
#: Seconds to wait for the server; Packer waits forever, a template evaluation should not.
TIMEOUT = 60.0
#: A body larger than this is refused rather than held in memory as a template value.
MAX_BODY = 64 * 1024 * 1024


class HttpDatasourceConfig(Config):
    url: str
    method: str = "GET"
    request_headers: dict[str, str] = {}
    request_body: str = ""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value:
            raise ValueError("the `url` must be specified")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"the `url` must be an http:// or https:// URL, not {value!r}")
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value == "":
            return "GET"
        if value not in METHODS:
            raise ValueError(f"the `method` must be one of {', '.join(METHODS)}")
        return value


def _is_text(content_type: str) -> bool:
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if not (media.startswith(("text/", "application/samlmetadata+xml")) or media == "application/json"):
        return False
    charset = ""
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset":
            charset = value.strip().strip('"').lower()
    return charset in ("", "utf-8", "us-ascii")


def _canonical_header(name: str) -> str:
    """Go's canonical form of a header name, the keys Packer's output has:
    ``x-tag`` -> ``X-Tag`` (a name with a character outside a token stays as it is)."""
    if not name or any(not (ch.isascii() and (ch.isalnum() or ch in "!#$%&'*+-.^_`|~")) for ch in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


class HttpDatasource(Datasource):
    config_schema = HttpDatasourceConfig
    config: HttpDatasourceConfig

    def execute(self) -> dict[str, Any]:
        import urllib.error
        import urllib.request

        config = self.config
        body = config.request_body.encode() if config.request_body else None
        request = urllib.request.Request(
            config.url, data=body, method=config.method, headers=dict(config.request_headers)
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 (scheme checked)
                status = response.status
                headers = response.headers
                data = response.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"HTTP request error. Response code: {exc.code} ({config.url})") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RuntimeError(f"HTTP request to {config.url} failed: {reason}") from None
        if not 200 <= status < 300:
            raise RuntimeError(f"HTTP request error. Response code: {status} ({config.url})")
        if len(data) > MAX_BODY:
            raise RuntimeError(f"the response of {config.url} is larger than {MAX_BODY} bytes")
        content_type = headers.get("Content-Type", "")
        if not _is_text(content_type):
            log.warning(
                "Content-Type of %s is not recognized as a text type, got %r; "
                "binary data may not be handled properly",
                config.url,
                content_type,
            )
        joined: dict[str, str] = {}
        for name in headers.keys():  # noqa: SIM118 (Message.keys() keeps repeats)
            key = _canonical_header(name)
            if key not in joined:
                joined[key] = ", ".join(headers.get_all(name) or [])
        return {
            "url": config.url,
            "body": data.decode("utf-8", errors="replace"),
            "request_headers": joined,
        }
