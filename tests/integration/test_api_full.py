"""The full API through the emulated API Gateway: large uploads, idempotency, webhooks, presets, OpenAPI.

Jobs are worked by a worker the test drives message by message (the package's stack has none).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from gpu_service.pipeline import StickerPipeline
from gpu_service.worker import Worker
from stickers_core import limits
from stickers_core.errors import ERROR_CODES
from stickers_core.queue import JobQueue
from stickers_core.webhooks import WebhookNotifier
from tests.conftest import REPO_ROOT
from tests.helpers import receive

pytestmark = pytest.mark.usefixtures("drained")

#: Every route of docs/api.md (the contract); the OpenAPI document must list each.
API_MD_ROUTES = {
    ("post", "/v1/stickers/image"),
    ("post", "/v1/stickers/text"),
    ("get", "/v1/jobs/{jobId}"),
    ("get", "/v1/jobs"),
    ("delete", "/v1/jobs/{jobId}"),
    ("post", "/v1/uploads"),
    ("get", "/v1/stats"),
    ("get", "/v1/styles"),
}
COMMITTED_OPENAPI = REPO_ROOT / "local_stack" / "static" / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def pipeline() -> StickerPipeline:
    return StickerPipeline()


@pytest.fixture
def worker(stack, pipeline) -> Iterator[Worker]:  # noqa: ANN001
    """A worker with fast webhook retries (0.05 s, 0.1 s)."""
    w = Worker(stack.settings, pipeline, name="full", receive_wait_s=1, webhooks=WebhookNotifier(first_backoff_s=0.05, timeout_s=2))
    yield w
    w.webhooks.join(10)


def work(stack, worker: Worker, job_id: str) -> None:  # noqa: ANN001
    """Deliver the job's message to the worker and let it finish the job."""
    worker.handle(receive(JobQueue(stack.settings.queue_url), job_id))


def big_photo() -> bytes:
    """A ~8 MB 4000×3000 JPEG: scikit-image's cat, scaled up, with noise (quality 98)."""
    import skimage.data

    src = Path(skimage.data.__file__).resolve().parent / "chelsea.png"
    base = np.asarray(Image.open(src).convert("RGB").resize((4000, 3000), Image.Resampling.BILINEAR), dtype=np.int16)
    noisy = base + np.random.default_rng(7).normal(0, 8, base.shape).astype(np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=98)
    return buf.getvalue()


def presigned_upload(api: httpx.Client, data: bytes, content_type: str = "image/jpeg", declared: int | None = None) -> str:
    slot = api.post("/v1/uploads", json={"contentType": content_type, "contentLength": declared or len(data)})
    assert slot.status_code == 200, slot.text
    body = slot.json()
    assert body["maxSize"] == limits.UPLOAD_MAX_BYTES and body["expiresIn"] == limits.UPLOAD_URL_EXPIRES_S
    r = httpx.post(body["url"], data=body["fields"], files={"file": ("photo.jpg", data, content_type)}, timeout=60)
    assert r.status_code in (200, 201, 204), r.text
    return body["uploadId"]


# --- large photos -----------------------------------------------------------------------------------
def test_8mb_photo_is_413_directly_and_5_stickers_through_an_upload(stack, api: httpx.Client, worker: Worker) -> None:  # noqa: ANN001
    photo = big_photo()
    assert 7_500_000 < len(photo) < 9_000_000, len(photo)
    direct = api.post("/v1/stickers/image", files={"image": ("big.jpg", photo, "image/jpeg")})
    # Past Lambda's 6 MB invoke limit API Gateway itself answers 413 (the function never sees it), with
    # the stack's REQUEST_TOO_LARGE gateway response;
    # between 4 MB and that limit the function answers TOO_LARGE with the upload route (test_api.py).
    assert direct.status_code == 413, direct.text
    assert direct.json()["code"] == "TOO_LARGE" and direct.json()["uploadUrl"] == "/v1/uploads", "the gateway's 413 in the contract's shape"

    upload_id = presigned_upload(api, photo)
    r = api.post("/v1/stickers/image", json={"uploadId": upload_id})
    assert r.status_code == 202, r.text
    job_id = r.json()["data"]["jobId"]
    work(stack, worker, job_id)
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "completed", doc
    assert doc["count"] == 5 and len(doc["stickers"]) == 5
    assert doc["metadata"]["dimensions"] == {"width": 4000, "height": 3000, "format": "jpeg"}
    for url in doc["stickers"]:
        sticker = Image.open(io.BytesIO(httpx.get(url).content))
        assert sticker.mode == "RGBA" and max(sticker.size) <= 512


def test_upload_form_is_sigv4_and_a_photo_posted_to_it_makes_a_job(stack, api: httpx.Client, worker: Worker, cat_photo: bytes) -> None:  # noqa: ANN001
    """POST /v1/uploads answers a SigV4 form (S3 refuses SigV2 on buckets created since mid-2020) that
    points at the emulator, and the photo posted to it makes a job (tests/unit/test_presigned_upload.py
    covers the regional AWS URL)."""
    slot = api.post("/v1/uploads", json={"contentType": "image/jpeg", "contentLength": len(cat_photo)})
    assert slot.status_code == 200, slot.text
    body = slot.json()
    fields = body["fields"]
    assert "AWSAccessKeyId" not in fields and "signature" not in fields, fields
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert fields["x-amz-credential"].endswith("/us-east-1/s3/aws4_request")
    assert {"x-amz-date", "x-amz-signature", "policy", "key"} <= set(fields)
    assert body["url"].startswith(stack.aws.endpoint_url), "the form posts to the emulator, not to AWS"
    posted = httpx.post(body["url"], data=fields, files={"file": ("cat.jpg", cat_photo, "image/jpeg")}, timeout=60)
    assert posted.status_code in (200, 201, 204), posted.text
    r = api.post("/v1/stickers/image", json={"uploadId": body["uploadId"], "count": 1})
    assert r.status_code == 202, r.text
    job_id = r.json()["data"]["jobId"]
    work(stack, worker, job_id)
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "completed" and len(doc["stickers"]) == 1, doc


def test_an_upload_over_10mb_is_refused_when_used(api: httpx.Client) -> None:
    # moto does not enforce the presigned POST's content-length-range (S3 does): the API's own check does.
    upload_id = presigned_upload(api, b"\xff\xd8\xff\xe0" + b"\0" * limits.UPLOAD_MAX_BYTES, declared=1000)
    r = api.post("/v1/stickers/image", json={"uploadId": upload_id})
    assert r.status_code == 413 and r.json()["code"] == "TOO_LARGE" and r.json()["maxSize"] == limits.UPLOAD_MAX_BYTES
    assert api.post("/v1/uploads", json={"contentType": "image/jpeg", "contentLength": limits.UPLOAD_MAX_BYTES + 1}).status_code == 413
    assert api.post("/v1/uploads", json={"contentType": "text/plain"}).json()["code"] == "UNSUPPORTED_TYPE"


def test_another_keys_upload_is_not_found(api: httpx.Client, api_b: httpx.Client, cat_photo: bytes) -> None:
    upload_id = presigned_upload(api, cat_photo)
    r = api_b.post("/v1/stickers/image", json={"uploadId": upload_id})
    assert r.status_code == 404 and r.json()["code"] == "UPLOAD_NOT_FOUND"


# --- idempotency ------------------------------------------------------------------------------------
def _total(client: httpx.Client) -> int:
    return client.get("/v1/stats").json()["jobs"]["total"]


def test_idempotency_key_replays_the_first_response_and_makes_one_job(api: httpx.Client, api_b: httpx.Client) -> None:
    key = f"idem-{time.time_ns()}"
    before = _total(api)
    first = api.post("/v1/stickers/text", json={"text": "once", "count": 2}, headers={"Idempotency-Key": key})
    again = api.post("/v1/stickers/text", json={"count": 2, "text": "once"}, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert first.headers["x-idempotent-replayed"] == "false" and again.headers["x-idempotent-replayed"] == "true"
    assert _total(api) == before + 1

    conflict = api.post("/v1/stickers/text", json={"text": "twice"}, headers={"Idempotency-Key": key})
    assert conflict.status_code == 409 and conflict.json()["code"] == "IDEMPOTENCY_CONFLICT"
    assert ERROR_CODES["IDEMPOTENCY_CONFLICT"] == 409

    other_key = api_b.post("/v1/stickers/text", json={"text": "once", "count": 2}, headers={"Idempotency-Key": key})
    assert other_key.status_code == 202
    assert other_key.json()["data"]["jobId"] != first.json()["data"]["jobId"]
    assert _total(api) == before + 1


def test_idempotency_on_the_multipart_route_ignores_the_boundary(api: httpx.Client, cat_photo: bytes) -> None:
    key = f"idem-img-{time.time_ns()}"
    ids = [
        api.post("/v1/stickers/image", files={"image": ("c.jpg", cat_photo)}, data={"styles": "pixel"}, headers={"Idempotency-Key": key}).json()["data"]["jobId"]
        for _ in range(2)  # httpx picks a new random boundary each time
    ]
    assert ids[0] == ids[1]
    r = api.post("/v1/stickers/image", files={"image": ("c.jpg", cat_photo)}, data={"styles": "pop"}, headers={"Idempotency-Key": key})
    assert r.status_code == 409 and r.json()["code"] == "IDEMPOTENCY_CONFLICT"


def test_a_refused_request_is_not_remembered(api: httpx.Client) -> None:
    key = f"idem-bad-{time.time_ns()}"
    assert api.post("/v1/stickers/text", json={"text": "x", "count": 99}, headers={"Idempotency-Key": key}).status_code == 400
    assert api.post("/v1/stickers/text", json={"text": "x", "count": 1}, headers={"Idempotency-Key": key}).status_code == 202
    assert api.post("/v1/stickers/text", json={"text": "x"}, headers={"Idempotency-Key": "k" * 256}).json()["code"] == "INVALID_REQUEST"


# --- webhooks ---------------------------------------------------------------------------------------
class Receiver:
    """A loopback HTTP server that records POSTs and answers `status`."""

    def __init__(self, status: int) -> None:
        self.status, self.calls = status, []
        self.got = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict((k.lower(), v) for k, v in self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.got.set()

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhook_is_one_signed_post_of_the_final_status(stack, api: httpx.Client, api_b: httpx.Client, worker: Worker) -> None:  # noqa: ANN001
    receiver = Receiver(204)
    try:
        job_id = api.post("/v1/stickers/text", json={"text": "hook", "count": 1, "callbackUrl": receiver.url}).json()["data"]["jobId"]
        work(stack, worker, job_id)
        worker.webhooks.join(10)
    finally:
        receiver.close()
    assert len(receiver.calls) == 1
    headers, body = receiver.calls[0]
    secret = api.get("/v1/webhooks/secret").json()
    assert secret["algorithm"] == "HMAC-SHA256" and secret["header"] == "x-sticker-signature"
    timestamp = headers["x-sticker-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60, "x-sticker-timestamp: Unix seconds of the signing"
    signed = timestamp.encode() + b"." + body  # the signature covers "{timestamp}.{raw body}"
    expected = "sha256=" + hmac.new(secret["secret"].encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-sticker-signature"], expected)
    other = api_b.get("/v1/webhooks/secret").json()["secret"]
    assert other != secret["secret"], "each API key has its own signing secret"
    doc = json.loads(body)
    assert doc["jobId"] == job_id and doc["status"] == "completed" and len(doc["stickers"]) == 1
    assert doc == api.get(f"/v1/jobs/{job_id}").json()


def test_a_failing_receiver_is_retried_and_the_job_still_completes(stack, api: httpx.Client, worker: Worker) -> None:  # noqa: ANN001
    receiver = Receiver(500)
    try:
        job_id = api.post("/v1/stickers/text", json={"text": "retry", "count": 1, "callbackUrl": receiver.url}).json()["data"]["jobId"]
        work(stack, worker, job_id)
        worker.webhooks.join(10)
    finally:
        receiver.close()
    assert len(receiver.calls) == 3, "one POST and two retries with backoff"
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "completed"


def test_callback_urls_must_be_https_or_local_loopback(api: httpx.Client) -> None:
    for url in ("http://example.com/hook", "ftp://127.0.0.1/x", "not a url"):
        r = api.post("/v1/stickers/text", json={"text": "x", "callbackUrl": url})
        assert r.status_code == 400 and r.json()["field"] == "callbackUrl"


# --- presets ----------------------------------------------------------------------------------------
def test_whatsapp_preset_makes_512px_webp_under_100kb(stack, api: httpx.Client, worker: Worker, cat_photo: bytes) -> None:  # noqa: ANN001
    r = api.post("/v1/stickers/image", files={"image": ("cat.jpg", cat_photo)}, data={"styles": "classic,pop", "preset": "whatsapp"})
    assert r.status_code == 202 and r.json()["data"]["preset"] == "whatsapp"
    job_id = r.json()["data"]["jobId"]
    work(stack, worker, job_id)
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "completed" and doc["preset"] == "whatsapp"
    for url in doc["stickers"]:
        assert url.endswith(".webp")
        got = httpx.get(url)
        assert got.headers["content-type"] == "image/webp" and len(got.content) <= 100 * 1024
        img = Image.open(io.BytesIO(got.content))
        assert img.format == "WEBP" and img.size == (512, 512) and img.mode == "RGBA"
        alpha = np.asarray(img.getchannel("A"))
        assert alpha[:16].max() == alpha[-16:].max() == alpha[:, :16].max() == alpha[:, -16:].max() == 0, "16 px transparent margin"


def test_telegram_preset_on_text_makes_512px_png(stack, api: httpx.Client, worker: Worker) -> None:  # noqa: ANN001
    job_id = api.post("/v1/stickers/text", json={"text": "Hi!", "count": 1, "preset": "telegram"}).json()["data"]["jobId"]
    work(stack, worker, job_id)
    doc = api.get(f"/v1/jobs/{job_id}").json()
    img = Image.open(io.BytesIO(httpx.get(doc["stickers"][0]).content))
    assert img.format == "PNG" and max(img.size) == 512


def test_unknown_preset_is_400(api: httpx.Client) -> None:
    r = api.post("/v1/stickers/text", json={"text": "x", "preset": "signal"})
    assert r.status_code == 400 and r.json()["code"] == "UNKNOWN_PRESET"


# --- OpenAPI ----------------------------------------------------------------------------------------
def test_openapi_lists_every_route_and_is_in_sync_with_the_committed_copy(stack, api: httpx.Client) -> None:  # noqa: ANN001
    r = api.get("/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    listed = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert API_MD_ROUTES <= listed, API_MD_ROUTES - listed
    assert doc["components"]["securitySchemes"]["apiKey"] == {"type": "apiKey", "in": "header", "name": "x-api-key"}
    assert set(doc["components"]["schemas"]["ErrorCode"]["enum"]) == set(ERROR_CODES)
    image_body = doc["paths"]["/v1/stickers/image"]["post"]["requestBody"]["content"]
    assert set(image_body) == {"multipart/form-data", "application/json"}
    assert COMMITTED_OPENAPI.read_text() == r.text, (
        "the committed OpenAPI copy is stale: python -m functions.api.app > local_stack/static/docs/openapi.json"
    )
    public = httpx.get(f"{stack.cdn_url}/docs/openapi.json")  # no API key: the reference is static on the CDN
    assert public.status_code == 200 and public.json() == doc


def test_swagger_ui_is_static_on_the_cdn_not_an_api_route(stack) -> None:  # noqa: ANN001
    page = httpx.get(f"{stack.cdn_url}/docs/index.html")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "content-security-policy" in page.headers
    assert "://" not in "".join(line for line in page.text.splitlines() if "src=" in line or "href=" in line)
    for asset in ("swagger-ui-bundle.min.js", "swagger-ui.min.css"):
        assert httpx.get(f"{stack.cdn_url}/docs/{asset}").status_code == 200
    # API Gateway has no /docs resource any more: nothing unauthenticated reaches the function
    for path in ("/docs", "/docs/openapi.json"):
        assert httpx.get(f"{stack.url}{path}").json() == {"message": "Missing Authentication Token"}


def test_multipart_boundaries_keep_their_case(api: httpx.Client, cat_photo: bytes) -> None:
    # Browsers send boundaries like ----WebKitFormBoundaryAbC…: the boundary must not be lower-cased.
    boundary = "----WebKitFormBoundaryAbCdEfGh12"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="c.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
        + cat_photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    r = api.post("/v1/stickers/image", content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 202, r.text
