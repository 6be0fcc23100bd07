"""A small HTTP client of the Sticker API (used by `stickers generate` and `stickers demo`)."""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from stickers_core.settings import ClientSettings

#: Largest photo sent on the direct multipart path, bytes (docs/api.md: about 4 MB); larger ones go through S3.
DIRECT_MAX_BYTES = 4 * 1024 * 1024


def sniff_image_type(data: bytes) -> str:
    """The image content type from a file's first bytes (JPEG, PNG, GIF, WebP); JPEG when unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"GIF8":
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"



#: The option fields of both creation routes besides styles, count and preset (docs/api.md, "method"
#: and "Output options"), by the name of the keyword argument that carries each.
OPTION_FIELDS = {"method": "method", "format": "format", "size": "size", "rotate": "rotate", "watermark": "watermark", "watermark_opacity": "watermarkOpacity"}


def _job_options(styles: Sequence[str], count: int | None, preset: str | None, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The optional job fields both creation routes take, as a JSON body's entries: only those given.
    `options` holds the others (``method``, ``format``, ``size``, ``rotate``, ``watermark``,
    ``watermark_opacity``: :data:`OPTION_FIELDS`); None values are left out."""
    fields: dict[str, Any] = {}
    if styles:
        fields["styles"] = list(styles)
    if count is not None:
        fields["count"] = count
    if preset:
        fields["preset"] = preset
    for name, value in (options or {}).items():
        if name not in OPTION_FIELDS:
            raise TypeError(f"unknown job option {name!r}")
        if value is not None:
            fields[OPTION_FIELDS[name]] = value
    return fields

#: Seconds the socket may stay silent before the job is read once over HTTP (a missed message can never
#: stall a wait), and the WebSocket handshake's timeout.
WS_QUIET_S = 15.0
WS_OPEN_TIMEOUT_S = 5.0
_FINAL = ("completed", "failed")


class _Deadline(TimeoutError):
    """The job did not end within the wait's time (not a socket's own timeout)."""


def websocket_url_for(api_url: str, configured: str = "") -> str:
    """The WebSocket URL to follow jobs on: `configured` (``STICKERS_WS_URL``; the ``WebSocketUrl``
    output on AWS) when set, else ``ws://<host>:<port>/ws`` for an API on loopback (the local stack
    serves the socket on the API's origin), else "" (poll).

    >>> websocket_url_for("http://127.0.0.1:3000"), websocket_url_for("https://abc.execute-api.eu-west-1.amazonaws.com/dev/")
    ('ws://127.0.0.1:3000/ws', '')
    """
    if configured:
        return configured
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return f"ws://{parts.netloc}/ws" if parts.scheme == "http" and loopback else ""


class ApiCallError(Exception):
    """The API refused a request, or could not be reached.

    Attributes:
        status: HTTP status (0 when the API could not be reached).
        code: the contract's error code, when the body carried one.
    """

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def __str__(self) -> str:
        prefix = f"{self.status} {self.code}: " if self.code else (f"{self.status}: " if self.status else "")
        return prefix + self.message


class StickerClient:
    """Calls the Sticker API with an API key.

    Args:
        base_url: e.g. ``http://127.0.0.1:3000`` or the API Gateway stage URL (without ``/v1``).
        api_key: the ``x-api-key`` value.
        timeout_s: per-request timeout, seconds.
        ws_url: the WebSocket URL :meth:`wait` follows jobs on (default :func:`websocket_url_for`:
            ``STICKERS_WS_URL``, else the local stack's ``/ws``, else none: polling).

    Attributes:
        followed_by: how the last :meth:`wait` learnt the job's progress: ``"websocket"`` or ``"polling"``.
    """

    def __init__(self, base_url: str, api_key: str, timeout_s: float = 30.0, ws_url: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.ws_url = ws_url if ws_url is not None else websocket_url_for(self.base_url, ClientSettings.from_env().ws_url)
        self.followed_by = ""
        self._http = httpx.Client(base_url=self.base_url, headers={"x-api-key": api_key}, timeout=timeout_s)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> StickerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiCallError(0, f"cannot reach the API at {self.base_url} ({type(exc).__name__}); is `stickers local` running?") from None
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        if response.status_code >= 400:
            message = body.get("error") or body.get("message") or response.reason_phrase
            raise ApiCallError(response.status_code, message, body.get("code"))
        return body

    def submit_image(
        self, image: bytes, filename: str, styles: Sequence[str] = (), count: int | None = None, preset: str | None = None, **options: Any
    ) -> dict[str, Any]:
        """POST /v1/stickers/image. Returns the 202 body's `data`. `options`: ``method``, ``format``,
        ``size``, ``rotate``, ``watermark``, ``watermark_opacity`` (None: not sent).

        Photos up to :data:`DIRECT_MAX_BYTES` go as multipart; larger ones (up to 10 MB) are uploaded
        to S3 first with a presigned POST (POST /v1/uploads) and then referred to by `uploadId`.
        """
        options = _job_options(styles, count, preset, options)
        if len(image) > DIRECT_MAX_BYTES:
            body = {"uploadId": self.upload(image), **options}
            return self._call("POST", "/v1/stickers/image", json=body)["data"]
        form = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in options.items()}  # multipart fields are text
        return self._call("POST", "/v1/stickers/image", files={"image": (filename, image)}, data=form)["data"]

    def upload(self, image: bytes) -> str:
        """Upload a photo through a presigned S3 POST (POST /v1/uploads); returns its `uploadId`.

        Raises:
            ApiCallError: the API refused the slot (413 over 10 MB, 415 not an image) or S3 the file.
        """
        content_type = sniff_image_type(image)
        slot = self._call("POST", "/v1/uploads", json={"contentType": content_type, "contentLength": len(image)})
        try:
            response = httpx.post(slot["url"], data=slot["fields"], files={"file": ("photo", image, content_type)}, timeout=120)
        except httpx.TransportError as exc:
            raise ApiCallError(0, f"cannot upload to {slot['url']} ({type(exc).__name__})") from None
        if response.status_code >= 300:
            raise ApiCallError(response.status_code, "the storage refused the upload")
        return slot["uploadId"]

    def submit_text(
        self, text: str | None, keywords: Sequence[str] = (), styles: Sequence[str] = (), count: int | None = None, preset: str | None = None, **options: Any
    ) -> dict[str, Any]:
        """POST /v1/stickers/text. Returns the 202 body's `data`. `options` as for :meth:`submit_image`."""
        body: dict[str, Any] = {}
        if text:
            body["text"] = text
        if keywords:
            body["keywords"] = list(keywords)
        body.update(_job_options(styles, count, preset, options))
        return self._call("POST", "/v1/stickers/text", json=body)["data"]

    def submit_prompt(
        self,
        prompt: str,
        negative_prompt: str | None = None,
        references: Sequence[bytes] = (),
        seed: int | None = None,
        styles: Sequence[str] = (),
        count: int | None = None,
        preset: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """POST /v1/stickers/prompt; each reference photo is uploaded first (:meth:`upload`) and sent by
        its `uploadId`. Returns the 202 body's `data`. `options` as for :meth:`submit_image`."""
        body: dict[str, Any] = {"prompt": prompt}
        if negative_prompt:
            body["negativePrompt"] = negative_prompt
        if references:
            body["referenceImages"] = [self.upload(data) for data in references]
        if seed is not None:
            body["seed"] = seed
        body.update(_job_options(styles, count, preset, options))
        return self._call("POST", "/v1/stickers/prompt", json=body)["data"]

    def list_jobs(self, limit: int = 20, next_token: str | None = None) -> dict[str, Any]:
        """GET /v1/jobs: ``{"jobs": [...], "nextToken": ...}``, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if next_token:
            params["nextToken"] = next_token
        return self._call("GET", "/v1/jobs", params=params)

    def delete_job(self, job_id: str) -> None:
        """DELETE /v1/jobs/{jobId} (409 `JOB_ACTIVE` while it runs)."""
        self._call("DELETE", f"/v1/jobs/{job_id}")

    def job(self, job_id: str) -> dict[str, Any]:
        """GET /v1/jobs/{jobId}: the status document."""
        return self._call("GET", f"/v1/jobs/{job_id}")

    def wait(self, job_id: str, on_progress: Callable[[dict[str, Any]], None] = lambda _doc: None, timeout_s: float = 300.0, poll_s: float = 0.2) -> dict[str, Any]:
        """Follow a job until it is completed or failed; returns the final status document.

        Over the WebSocket when there is one (every change arrives as it happens: docs/api.md, "Live
        progress over WebSocket"); by polling ``GET /v1/jobs/{jobId}`` every `poll_s` seconds when there
        is none, when it refuses the connection, or when it closes before the end.

        Raises:
            TimeoutError: the job did not end within `timeout_s` seconds.
        """
        deadline = time.monotonic() + timeout_s
        if self.ws_url:
            doc = self.follow(job_id, on_progress, deadline)
            if doc is not None:
                self.followed_by = "websocket"
                return doc
        self.followed_by = "polling"
        while True:
            doc = self.job(job_id)
            on_progress(doc)
            if doc["status"] in ("completed", "failed"):
                return doc
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {doc['status']} after {timeout_s:.0f} s")
            time.sleep(poll_s)

    def follow(self, job_id: str, on_progress: Callable[[dict[str, Any]], None], deadline: float) -> dict[str, Any] | None:
        """Follow a job over the WebSocket until it ends (monotonic `deadline`); None when the socket
        cannot be used (not reachable, refused, closed early, or ``websockets`` not installed): the
        caller polls instead. A socket silent for :data:`WS_QUIET_S` seconds is checked by one GET.

        Raises:
            TimeoutError: the job did not end by `deadline`.
        """
        try:
            from websockets.sync.client import connect
        except ImportError:
            return None
        url = f"{self.ws_url}{'&' if '?' in self.ws_url else '?'}key={quote(self.api_key, safe='')}"
        try:
            with connect(url, proxy=None, open_timeout=WS_OPEN_TIMEOUT_S, close_timeout=2) as ws:
                ws.send(json.dumps({"action": "subscribe", "jobId": job_id}))
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise _Deadline(f"job {job_id} did not end in time")
                    try:
                        message = json.loads(ws.recv(timeout=min(left, WS_QUIET_S)))
                    except TimeoutError:
                        message = {"type": "job", "data": self.job(job_id)}
                    if message.get("type") != "job" or message.get("data", {}).get("jobId") != job_id:
                        if message.get("type") == "error":
                            return None  # e.g. JOB_NOT_FOUND: the HTTP answer says it properly
                        continue
                    on_progress(message["data"])
                    if message["data"]["status"] in _FINAL:
                        return message["data"]
        except _Deadline:
            raise
        except Exception:  # noqa: BLE001 - refused, unreachable or closed: fall back to polling
            return None

    def download(self, doc: dict[str, Any], out_dir: Path) -> list[Path]:
        """Download a completed job's stickers into `out_dir` (no API key is sent to the CDN)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        with httpx.Client(timeout=30) as cdn:
            for url in doc.get("stickers", []):
                try:
                    response = cdn.get(url)
                except httpx.TransportError as exc:
                    raise ApiCallError(0, f"cannot download {url} ({type(exc).__name__})") from None
                if response.status_code != 200:
                    raise ApiCallError(response.status_code, f"cannot download {url}")
                path = out_dir / f"{doc['jobId'][:8]}-{url.rsplit('/', 1)[-1]}"
                path.write_bytes(response.content)
                paths.append(path)
        return paths
