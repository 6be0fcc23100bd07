"""A small HTTP client of the Sticker API (used by `stickers generate` and `stickers demo`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx


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
    """

    def __init__(self, base_url: str, api_key: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers={"x-api-key": api_key}, timeout=timeout_s)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> "StickerClient":
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

    def wait(self, job_id: str, on_progress: Callable[[dict[str, Any]], None] = lambda doc: None, timeout_s: float = 300.0, poll_s: float = 0.2) -> dict[str, Any]:
        """Poll a job until it is completed or failed; returns the final status document.

        Raises:
            TimeoutError: the job did not end within `timeout_s` seconds.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            doc = self.job(job_id)
            on_progress(doc)
            if doc["status"] in ("completed", "failed"):
                return doc
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {doc['status']} after {timeout_s:.0f} s")
            time.sleep(poll_s)

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
