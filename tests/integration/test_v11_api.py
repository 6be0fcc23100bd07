"""The v1.1 additions of docs/api.md over HTTP on the embedded stack: `method` and the output options
on both job routes (forms and JSON), their 400s in the contract's shape, the status document's `method`,
`output`, `thumbnail` and `metadata.uploadedAt`, GET /v1/health (200 here, 503 from a second app whose
settings point at missing resources), and a job failed for good through the dead-letter queue keeping
its progress."""

from __future__ import annotations

import time
from datetime import UTC
from typing import Any

import httpx
import pytest

from functions.api.app import create_app
from gpu_service.worker import Worker
from local_stack.stack import api_key_id
from stickers_core import __version__
from stickers_core.errors import ERROR_CODES
from stickers_core.models import OutputOptions, iso
from stickers_core.service import owner_upload_key
from stickers_core.store import JobStore
from tests.helpers import receive
from tests.integration.conftest import KEY_A
from tests.integration.test_api_full import presigned_upload
from tests.unit.test_api_app import Context, event

DEFAULT_OUTPUT = {"format": "png", "size": None, "rotate": 0.0, "watermark": None, "watermarkOpacity": 0.5}


def _error(response: httpx.Response, code: str, field: str | None) -> dict:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False and body["code"] == code and body["error"], body
    assert ERROR_CODES[code] == 400 and response.headers.get("x-request-id")
    assert body.get("field") == field, body
    return body


# --- options accepted, recorded, shown ---------------------------------------------------------------------
def test_a_form_carries_every_option_into_the_record_and_the_status_document(stack, api: httpx.Client, cat_photo: bytes) -> None:  # noqa: ANN001
    form = {"styles": "charcoal,cartoon", "method": "Artistic", "format": "webp", "size": "300", "rotate": "-12.5", "watermark": " © me ", "watermarkOpacity": "0.8"}
    r = api.post("/v1/stickers/image", files={"image": ("cat.jpg", cat_photo)}, data=form)
    assert r.status_code == 202, r.text
    job_id = r.json()["data"]["jobId"]
    job = JobStore(stack.settings.table_name).get(job_id)
    assert job.method == "artistic" and job.styles == ["charcoal", "cartoon"]
    assert job.output == OutputOptions(format="webp", size=300, rotate=-12.5, watermark="© me", watermark_opacity=0.8)
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["method"] == "artistic" and doc["thumbnail"] is None
    assert doc["output"] == {"format": "webp", "size": 300, "rotate": -12.5, "watermark": "© me", "watermarkOpacity": 0.8}
    assert doc["metadata"]["uploadedAt"].endswith("Z") and doc["metadata"]["uploadedAt"][:19] <= doc["createdAt"][:19]
    listed = {d["jobId"]: d for d in api.get("/v1/jobs").json()["jobs"]}
    assert listed[job_id]["output"] == doc["output"] and listed[job_id]["method"] == "artistic"


def test_json_bodies_carry_the_options_as_numbers(stack, api: httpx.Client, cat_photo: bytes) -> None:  # noqa: ANN001
    r = api.post("/v1/stickers/text", json={"text": "hi", "method": "basic", "format": "webp", "size": 128, "rotate": 90, "watermark": "w", "watermarkOpacity": 1})
    assert r.status_code == 202, r.text
    doc = api.get(f"/v1/jobs/{r.json()['data']['jobId']}").json()
    assert doc["method"] == "basic" and doc["output"] == {"format": "webp", "size": 128, "rotate": 90.0, "watermark": "w", "watermarkOpacity": 1.0}
    assert "uploadedAt" not in doc["metadata"]

    upload_id = presigned_upload(api, cat_photo)
    r = api.post("/v1/stickers/image", json={"uploadId": upload_id, "styles": ["oil"], "size": 1024, "rotate": -180, "method": "advanced"})
    assert r.status_code == 202, r.text
    doc = api.get(f"/v1/jobs/{r.json()['data']['jobId']}").json()
    assert doc["output"] == {**DEFAULT_OUTPUT, "size": 1024, "rotate": -180.0} and doc["method"] == "advanced"
    # a presigned upload's uploadedAt is when S3 stored the object (its LastModified, whole seconds)
    head = stack.aws.client("s3").head_object(Bucket=stack.settings.uploads_bucket, Key=owner_upload_key(api_key_id(KEY_A), upload_id))
    assert doc["metadata"]["uploadedAt"] == iso(head["LastModified"].astimezone(UTC))


def test_without_options_the_document_shows_the_defaults(api: httpx.Client) -> None:
    doc = api.get(f"/v1/jobs/{api.post('/v1/stickers/text', json={'text': 'plain'}).json()['data']['jobId']}").json()
    assert doc["method"] == "advanced" and doc["output"] == DEFAULT_OUTPUT and doc["thumbnail"] is None


def test_a_preset_takes_rotate_and_watermark(api: httpx.Client, cat_photo: bytes) -> None:
    r = api.post("/v1/stickers/image", files={"image": ("c.jpg", cat_photo)}, data={"preset": "whatsapp", "rotate": "45", "watermark": "hey", "size": "", "format": ""})
    assert r.status_code == 202, r.text
    doc = api.get(f"/v1/jobs/{r.json()['data']['jobId']}").json()
    assert doc["preset"] == "whatsapp" and doc["output"] == {**DEFAULT_OUTPUT, "rotate": 45.0, "watermark": "hey"}


# --- 400s ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields,code,field",
    [
        ({"method": "fancy"}, "INVALID_OPTION", "method"),
        ({"format": "gif"}, "INVALID_OPTION", "format"),
        ({"size": "127"}, "INVALID_OPTION", "size"),
        ({"size": "1025"}, "INVALID_OPTION", "size"),
        ({"size": "big"}, "INVALID_OPTION", "size"),
        ({"rotate": "181"}, "INVALID_OPTION", "rotate"),
        ({"rotate": "nan"}, "INVALID_OPTION", "rotate"),
        ({"watermark": "x" * 41}, "INVALID_OPTION", "watermark"),
        ({"watermark": "a\nb"}, "INVALID_OPTION", "watermark"),
        ({"watermark": "w", "watermarkOpacity": "0.05"}, "INVALID_OPTION", "watermarkOpacity"),
        ({"watermarkOpacity": "0.5"}, "INVALID_OPTION", "watermarkOpacity"),
        ({"preset": "whatsapp", "size": "256"}, "CONFLICTING_OPTIONS", "size"),
        ({"preset": "telegram", "format": "webp"}, "CONFLICTING_OPTIONS", "format"),
    ],
)
def test_bad_options_in_a_form(api: httpx.Client, cat_photo: bytes, fields: dict[str, str], code: str, field: str) -> None:
    body = _error(api.post("/v1/stickers/image", files={"image": ("c.jpg", cat_photo)}, data=fields), code, field)
    if code == "CONFLICTING_OPTIONS":
        assert body["conflictsWith"] == "preset"


@pytest.mark.parametrize(
    "fields,code,field",
    [
        ({"method": 3}, "INVALID_OPTION", "method"),
        ({"format": ["png"]}, "INVALID_OPTION", "format"),
        ({"size": 256.5}, "INVALID_OPTION", "size"),
        ({"size": True}, "INVALID_OPTION", "size"),
        ({"size": 2048}, "INVALID_OPTION", "size"),
        ({"rotate": -181}, "INVALID_OPTION", "rotate"),
        ({"rotate": {"deg": 1}}, "INVALID_OPTION", "rotate"),
        ({"watermark": 7}, "INVALID_OPTION", "watermark"),
        ({"watermark": "w", "watermarkOpacity": 2}, "INVALID_OPTION", "watermarkOpacity"),
        ({"preset": "whatsapp", "format": "png"}, "CONFLICTING_OPTIONS", "format"),
    ],
)
def test_bad_options_in_json(api: httpx.Client, fields: dict[str, Any], code: str, field: str) -> None:
    body = _error(api.post("/v1/stickers/text", json={"text": "x", **fields}), code, field)
    if code == "INVALID_OPTION" and field in ("size", "rotate"):
        assert {"min", "max"} <= set(body)


def test_bad_options_after_a_presigned_upload(api: httpx.Client, cat_photo: bytes) -> None:
    upload_id = presigned_upload(api, cat_photo)
    _error(api.post("/v1/stickers/image", json={"uploadId": upload_id, "size": "9999"}), "INVALID_OPTION", "size")
    _error(api.post("/v1/stickers/image", json={"uploadId": upload_id, "preset": "whatsapp", "size": 512}), "CONFLICTING_OPTIONS", "size")


# --- thumbnail -----------------------------------------------------------------------------------------------
def test_thumbnail_is_the_cdn_url_once_completed(stack, api: httpx.Client) -> None:  # noqa: ANN001
    from gpu_service.pipeline import StickerPipeline

    job_id = api.post("/v1/stickers/text", json={"text": "thumb", "styles": ["badge"]}).json()["data"]["jobId"]
    assert api.get(f"/v1/jobs/{job_id}").json()["thumbnail"] is None
    worker = Worker(stack.settings, StickerPipeline(), receive_wait_s=1)
    worker.handle(receive(worker.queue, job_id))
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "completed"
    key = f"stickers/{job_id}/thumbnail.webp"
    if doc["thumbnail"] is None:  # a worker that records no contact sheet: record one as the worker does
        JobStore(stack.settings.table_name).table.update_item(Key={"jobId": job_id}, UpdateExpression="SET thumbnailKey = :k", ExpressionAttributeValues={":k": key})
        doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["thumbnail"] == f"{stack.cdn_url}/{key}"


# --- GET /v1/health ------------------------------------------------------------------------------------------
def test_health(stack, api: httpx.Client) -> None:  # noqa: ANN001
    r = api.get("/v1/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["status"] == "ok" and body["version"] == __version__
    assert body["checks"] == {"table": "ok", "queue": "ok", "bucket": "ok", "inference": "worker"}
    assert set(body["queue"]) == {"waiting", "active", "delayed"}
    assert httpx.get(f"{stack.url}/v1/health").status_code == 403, "an API key is required"


@pytest.mark.parametrize(
    "broken,update",
    [
        ("table", {"table_name": "no-such-table"}),
        ("queue", {"queue_url": "QUEUE/no-such-queue"}),
        ("bucket", {"stickers_bucket": "no-such-bucket"}),
    ],
)
def test_health_is_503_when_a_dependency_is_missing(stack, broken: str, update: dict[str, str]) -> None:  # noqa: ANN001
    if "queue_url" in update:
        update = {"queue_url": stack.settings.queue_url.rsplit("/", 1)[0] + "/no-such-queue"}
    app = create_app(stack.settings.model_copy(update=update))
    response = app.handler(event("GET", "/v1/health", key_id=api_key_id(KEY_A)), Context())
    import json

    body = json.loads(response["body"])
    assert response["statusCode"] == 503, body
    assert body["success"] is False and body["status"] == "degraded" and body["code"] == "SERVICE_UNAVAILABLE"
    assert {name: state for name, state in body["checks"].items() if state != "ok"} == {broken: "unavailable", "inference": "worker"}
    assert body["version"] == __version__ and (body["queue"] is None) == (broken == "queue")


# --- a job failed for good keeps its progress ----------------------------------------------------------------
class HalfwayThenFail:
    """A pipeline whose text renders get halfway (50) and then fail: a transient fault, every attempt."""

    calls = 0

    def render_text(self, text, keywords, styles, on_progress=lambda _: None, **_: object):  # noqa: ANN001, ANN201
        type(self).calls += 1
        on_progress(50)
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    def render_image(self, *args: object, **kwargs: object):  # noqa: ANN201
        raise AssertionError("no image job here")


@pytest.mark.usefixtures("drained")
def test_a_dead_lettered_job_keeps_the_progress_it_reached(stack, api: httpx.Client) -> None:  # noqa: ANN001
    job_id = api.post("/v1/stickers/text", json={"text": "doomed"}).json()["data"]["jobId"]
    worker = Worker(stack.settings, HalfwayThenFail(), receive_wait_s=1)  # type: ignore[arg-type]
    for attempt in (1, 2, 3):
        message = receive(worker.queue, job_id)
        assert message.attempt == attempt
        worker.handle(message)
        doc = api.get(f"/v1/jobs/{job_id}").json()
        assert doc["status"] == "queued" and doc["progress"] == 0, "waiting for a retry shows 0"
    deadline = time.monotonic() + 30  # the fourth receive moves the message to the DLQ, whose handler fails the job
    while time.monotonic() < deadline:
        worker.queue.receive(max_messages=10, wait_s=1)
        doc = api.get(f"/v1/jobs/{job_id}").json()
        if doc["status"] == "failed":
            break
    assert doc["status"] == "failed" and doc["attempts"] == 3 and doc["progress"] == 50, doc
    assert doc["error"] == "Sticker rendering failed on attempt 3" and doc["thumbnail"] is None
