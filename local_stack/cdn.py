"""A loopback HTTP front that plays the stack's CloudFront distribution for the local stack.

On AWS the web page and the stickers are served by one CloudFront distribution (``infra/storage.py``)
and the API by API Gateway on another origin (execute-api). The local stack keeps that shape: this
server is the distribution's origin, :class:`local_stack.gateway.ApiGatewayEmulator` the API's, so a
page that forgets CORS, or a sticker URL that only works on the API's origin, fails here as it
would on AWS. Behaviours, as deployed:

- ``/stickers/*`` → the stickers bucket (the object's ``Content-Type``, ``Cache-Control`` and
  ``ETag``), readable by pages on any origin: ``Access-Control-Allow-Origin: *`` and an answered
  preflight, like the managed ``CORS-With-Preflight-And-SecurityHeadersPolicy``.
- everything else → the web-page bucket: ``local_stack/static`` (what ``infra/site.py`` deploys:
  the page, and the API reference — Swagger UI and the OpenAPI document — at ``/docs/index.html``),
  ``/`` → ``index.html`` (the distribution's default root object; other folders have no index), and
  a generated ``config.json`` that points the page at the API and its WebSocket
  (``{"apiUrl": …, "wsUrl": …}``), as the deployment writes it.
- A missing object answers 403 ``AccessDenied``: CloudFront reads the private buckets through Origin
  Access Control without ``s3:ListBucket``, so S3 does not reveal whether a key exists.
- Every answer carries the managed ``SecurityHeadersPolicy``'s headers; the page's answers also carry
  its Content-Security-Policy (:func:`site_csp`: scripts and styles only from the site or by the hash
  of the page's inline blocks, connections only to the site, the API and the uploads bucket), the same
  directives ``infra/storage.py`` deploys in the site behaviour's response-headers policy. Only GET,
  HEAD (and OPTIONS on ``/stickers/*``) are allowed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from local_stack.loopback import LoopbackServer
from stickers_core import limits

#: The file the page reads to find the API (written by the AWS deployment, generated here).
SITE_CONFIG_FILE: Final = "config.json"
#: What the web-page bucket does not get.
SITE_EXCLUDE: Final = (".DS_Store",)
#: The API reference (Swagger UI) on the CDN: static files, no API key, no Lambda invocation.
DOCS_PATH: Final = "/docs/index.html"
#: Folder of the page in the repository.
STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
#: The sticker keys' path pattern (CloudFront behaviour ``stickers/*``).
STICKERS_PATH_PREFIX: Final = f"/{limits.STICKERS_PREFIX}/"
#: Headers of CloudFront's managed SecurityHeadersPolicy (both behaviours use it).
SECURITY_HEADERS: Final = {
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "X-XSS-Protection": "1; mode=block",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
#: CORS of the stickers behaviour (managed CORS-With-Preflight policy: any origin, GET/HEAD/OPTIONS).
STICKERS_CORS_HEADERS: Final = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET,HEAD,OPTIONS",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Max-Age": "600",
}
_ACCESS_DENIED: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'
)


_INLINE_BLOCK = re.compile(r"<(script|style)(?:\s[^>]*)?>(.*?)</\1>", re.DOTALL | re.IGNORECASE)


def inline_hashes(site_dir: Path = STATIC_DIR) -> dict[str, list[str]]:
    """CSP hash sources of every inline ``<script>`` and ``<style>`` block of the site's HTML files.

    Returns:
        ``{"script": ["'sha256-…'", …], "style": [...]}``, sorted, without duplicates. A ``<script src=…>``
        element has no inline content and is allowed by ``'self'`` instead.

    Source: CSP Level 3, "hash-source" (the base64 SHA-256 of the element's text, exactly as written).
    """
    found: dict[str, set[str]] = {"script": set(), "style": set()}
    for page in sorted(site_dir.rglob("*.html")):
        for kind, content in _INLINE_BLOCK.findall(page.read_text(encoding="utf-8")):
            if content.strip():
                digest = base64.b64encode(hashlib.sha256(content.encode("utf-8")).digest()).decode()
                found[kind.lower()].add(f"'sha256-{digest}'")
    return {kind: sorted(values) for kind, values in found.items()}


def site_csp(connect_src: list[str], site_dir: Path = STATIC_DIR) -> str:
    """The web page's Content-Security-Policy.

    Args:
        connect_src: origins the page may ``fetch``/POST to besides its own: the API (its ``config.json``
            names it) and the uploads bucket (presigned POSTs), e.g. ``["https://*.execute-api.eu-west-1.amazonaws.com",
            "https://my-uploads.s3.eu-west-1.amazonaws.com"]``.
        site_dir: the site's files (inline blocks are allowed by hash, nothing else inline).

    Returns:
        The header value: nothing by default; scripts and styles from the site or by hash; images from
        the site (the stickers are on the same CDN), ``blob:`` (previews) and ``data:``; no plugins,
        frames, ``<base>`` or form posts.
    """
    hashes = inline_hashes(site_dir)
    directives = {
        "default-src": ["'none'"],
        "script-src": ["'self'", *hashes["script"]],
        "style-src": ["'self'", *hashes["style"]],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'", *connect_src],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL (a CSP host source)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def site_config(api_url: str, ws_url: str | None = None) -> dict[str, str]:
    """The page's ``config.json``: where the API is (the stage URL, with its trailing slash) and, when
    given, the WebSocket URL the page follows its jobs on (``wsUrl``: the WebSocket stage on AWS,
    ``ws://<API front>/ws`` locally)."""
    config = {"apiUrl": api_url if api_url.endswith("/") else api_url + "/"}
    if ws_url:
        config["wsUrl"] = ws_url
    return config


def site_file(site_dir: Path, path: str) -> Path | None:
    """The file of the web-page bucket that serves URL path `path`, or None.

    ``/`` is ``index.html`` (the distribution's default root object; a folder path such as ``/docs/``
    has no index, as S3 behind CloudFront); a path escaping `site_dir` never matches.
    """
    relative = unquote(path).lstrip("/") or "index.html"
    if relative.endswith((".DS_Store", "/")):
        return None
    base = site_dir.resolve()
    candidate = (base / relative).resolve()
    return candidate if candidate.is_file() and candidate.is_relative_to(base) else None


class CdnEmulator(LoopbackServer):
    """CloudFront on a loopback port: the web page, its ``config.json``, and the stickers bucket.

    Args:
        s3_client: a boto3 S3 client (the embedded emulator's).
        stickers_bucket: bucket behind ``/stickers/*``.
        api_url: the API's base URL written into ``config.json`` (settable after start:
            :attr:`api_url`).
        ws_url: the WebSocket URL written into ``config.json`` (``wsUrl``) and allowed by the page's CSP.
        site_dir: the page's folder (default ``local_stack/static``).
        connect_src: origins the page may connect to besides the API's (the emulated S3 endpoint that
            presigned uploads go to); the API's origin is added from :attr:`api_url`.
    """

    thread_name = "cdn"

    def __init__(
        self,
        s3_client: Any,
        stickers_bucket: str,
        *,
        api_url: str = "",
        ws_url: str = "",
        site_dir: Path = STATIC_DIR,
        connect_src: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.s3_client = s3_client
        self.stickers_bucket = stickers_bucket
        self.api_url = api_url
        self.ws_url = ws_url
        self.site_dir = site_dir
        self.connect_src = list(connect_src or [])

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler serving this distribution."""
        return _make_handler(self)

    def answer(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one request, as the distribution would answer it."""
        if path.startswith(STICKERS_PATH_PREFIX):
            if method == "OPTIONS":
                return 200, dict(STICKERS_CORS_HEADERS), b""
            status, headers, body = self._sticker(unquote(path[1:]))
            return status, {**headers, "Access-Control-Allow-Origin": "*"}, body
        if method not in ("GET", "HEAD"):
            return 403, {"Content-Type": "text/plain"}, b"This distribution is not configured to allow the HTTP request method"
        if path == f"/{SITE_CONFIG_FILE}":
            body = json.dumps(site_config(self.api_url, self.ws_url)).encode()
            return 200, {"Content-Type": "application/json", "Cache-Control": "no-cache"}, body
        file = site_file(self.site_dir, path)
        if file is None:
            return 403, {"Content-Type": "application/xml"}, _ACCESS_DENIED
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        headers = {"Content-Type": content_type}
        if content_type == "text/html":
            connect = [origin_of(url) for url in (self.api_url, self.ws_url) if url] + self.connect_src
            headers["Content-Security-Policy"] = site_csp(connect, self.site_dir)
        return 200, headers, file.read_bytes()

    def _sticker(self, key: str) -> tuple[int, dict[str, str], bytes]:
        from botocore.exceptions import ClientError

        try:
            obj = self.s3_client.get_object(Bucket=self.stickers_bucket, Key=key)
        except ClientError as err:
            if err.response["Error"]["Code"] in ("NoSuchKey", "404", "NoSuchBucket", "AccessDenied"):
                return 403, {"Content-Type": "application/xml"}, _ACCESS_DENIED
            raise
        with obj["Body"] as stream:
            data = stream.read()
        headers = {"Content-Type": obj.get("ContentType") or "application/octet-stream"}
        if obj.get("CacheControl"):
            headers["Cache-Control"] = obj["CacheControl"]
        if obj.get("ETag"):
            headers["ETag"] = obj["ETag"]
        return 200, headers, data


def _make_handler(cdn: CdnEmulator) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "local-cloudfront"
        timeout = 60

        def do_GET(self) -> None:
            self._serve()

        do_HEAD = do_OPTIONS = do_POST = do_PUT = do_DELETE = do_GET

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            try:
                status, headers, body = cdn.answer(self.command, urlsplit(self.path).path)
            except Exception:  # noqa: BLE001 - the origin failed: CloudFront's 502
                status, headers, body = 502, {"Content-Type": "text/plain"}, b"Bad Gateway"
            self._send(status, {**SECURITY_HEADERS, **headers}, body)

        def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return _Handler
