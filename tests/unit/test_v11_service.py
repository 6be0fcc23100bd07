"""The service side of the v1.1 additions (docs/api.md): options written into the job, the status
document's `method`, `output`, `thumbnail` and `metadata.uploadedAt`, a job failed for good keeping its
progress (the store on moto), and GET /v1/health (the service on moto, and the app on fakes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from functions.api import app as api_app
from functions.api.context import AppContext
from stickers_core import __version__, limits
from stickers_core.models import Job, JobMetadata, JobStatus, JobType, OutputOptions
from stickers_core.service import StickerService
from stickers_core.settings import Settings
from stickers_core.store import ClaimOutcome
from stickers_core.validation import JobOptions
from tests.helpers import encode
from tests.unit.fakes import FakeJobStore, FakeQueue, FakeStorage
from tests.unit.test_api_app import call, event
from tests.unit.test_job_counters import OWNER, REGION, service, text_job  # noqa: F401 - `service`: the moto fixture

CDN = "https://cdn.example"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")


def _photo() -> bytes:
    from PIL import Image

    return encode(Image.new("RGB", (120, 90), (200, 30, 30)), "PNG")


def _fake_service(**settings: Any) -> tuple[StickerService, FakeJobStore, FakeQueue, FakeStorage]:
    store, queue, storage = FakeJobStore(), FakeQueue(), FakeStorage()
    return StickerService(Settings(cdn_base_url=CDN, **settings), store=store, queue=queue, storage=storage), store, queue, storage  # type: ignore[arg-type]


# --- options into the job, and the status document -----------------------------------------------------------
def test_the_options_reach_the_job_record_and_the_status_document() -> None:
    svc, store, _, _ = _fake_service()
    options = JobOptions.parse(styles="charcoal", method="artistic", format="webp", size="300", rotate="15", watermark="me", watermark_opacity="0.4",
                               allowed_styles=("charcoal", "classic"), allow_loopback_http=False)  # fmt: skip
    job = svc.submit_image("k", _photo(), filename="p.png", options=options)
    stored = store.jobs[job.job_id]
    assert stored.method == "artistic" and stored.output == OutputOptions(format="webp", size=300, rotate=15.0, watermark="me", watermark_opacity=0.4)
    doc = svc.status("k", job.job_id)
    assert doc["method"] == "artistic"
    assert doc["output"] == {"format": "webp", "size": 300, "rotate": 15.0, "watermark": "me", "watermarkOpacity": 0.4}
    assert doc["thumbnail"] is None, "null until completed"
    text = svc.submit_text("k", text="hi", options=JobOptions(method="basic", output=OutputOptions(size=128)))
    assert store.jobs[text.job_id].method == "basic" and store.jobs[text.job_id].output.size == 128
    assert "uploadedAt" not in svc.status("k", text.job_id)["metadata"], "text jobs upload nothing"


def test_a_job_without_options_shows_the_defaults() -> None:
    svc, _, _, _ = _fake_service()
    doc = svc.status("k", svc.submit_text("k", text="hi").job_id)
    assert doc["method"] == "advanced" and doc["thumbnail"] is None
    assert doc["output"] == {"format": "png", "size": None, "rotate": 0.0, "watermark": None, "watermarkOpacity": 0.5}


def test_thumbnail_is_the_cdn_url_of_a_completed_jobs_contact_sheet() -> None:
    job = Job.new(owner_id="k", type=JobType.TEXT, styles=["bubble"], metadata=JobMetadata(type=JobType.TEXT))
    job.thumbnail_key = f"stickers/{job.job_id}/thumbnail.webp"
    assert job.status_document(CDN)["thumbnail"] is None, "not before completion"
    job.status = JobStatus.COMPLETED
    assert job.status_document(CDN + "/")["thumbnail"] == f"{CDN}/stickers/{job.job_id}/thumbnail.webp"
    job.thumbnail_key = None
    assert job.status_document(CDN)["thumbnail"] is None, "a job completed without one (before v1.1)"


def test_the_options_survive_the_dynamodb_item() -> None:
    job = Job.new(owner_id="k", type=JobType.TEXT, styles=["bubble"], metadata=JobMetadata(type=JobType.TEXT), method="basic",
                  output=OutputOptions(format="webp", size=256, rotate=-12.5, watermark="w", watermark_opacity=0.3))  # fmt: skip
    again = Job.from_item(job.to_item())
    assert again.method == "basic" and again.output == job.output
    assert again.status_document(CDN)["output"]["rotate"] == -12.5


def test_uploaded_at_of_a_direct_upload_is_the_submit_time() -> None:
    svc, _, _, _ = _fake_service()
    before = datetime.now(UTC).replace(microsecond=0)
    job = svc.submit_image("k", _photo())
    uploaded = datetime.fromisoformat(svc.status("k", job.job_id)["metadata"]["uploadedAt"].replace("Z", "+00:00"))
    assert before <= uploaded <= datetime.now(UTC)


def test_uploaded_at_of_a_presigned_upload_is_the_objects_last_modified() -> None:
    from stickers_core.service import owner_upload_key

    svc, _, _, storage = _fake_service()
    upload_id = "0b7e1c5e-5a57-4c38-9f2c-1f6f6b0c0a11"
    key = owner_upload_key("k", upload_id)
    storage.uploads[key] = (_photo(), "image/png")
    storage.uploaded_at[key] = datetime(2026, 5, 1, 10, 0, 3, tzinfo=UTC)
    job = svc.submit_uploaded_image("k", upload_id)
    assert svc.status("k", job.job_id)["metadata"]["uploadedAt"] == "2026-05-01T10:00:03.000Z"
    del storage.uploaded_at[key]  # S3 did not say: the submit time
    job = svc.submit_uploaded_image("k", upload_id)
    assert svc.status("k", job.job_id)["metadata"]["uploadedAt"] >= job.created_at[:19]


# --- a job failed for good keeps its progress (the store on moto) --------------------------------------------
def test_a_dead_lettered_job_keeps_the_progress_its_last_attempt_reached(service: StickerService) -> None:  # noqa: F811
    store = service.store
    job_id = text_job(service)
    for attempt, reached in ((1, 50), (2, 90), (3, 10)):
        assert store.claim(job_id, attempt)[0] is ClaimOutcome.CLAIMED
        assert store.get(job_id).progress == 0, "each attempt starts at 0"
        store.set_progress(job_id, attempt, reached)
        assert store.release_for_retry(job_id, attempt, f"Sticker rendering failed on attempt {attempt}")
        queued = store.get(job_id)
        assert queued.status is JobStatus.QUEUED and queued.progress == 0, "a job waiting for its retry shows 0"
    failed = store.fail(job_id, "Sticker rendering failed on attempt 3")  # the dead-letter handler
    assert failed is not None and failed.status is JobStatus.FAILED and failed.progress == 10, "the last attempt's progress"
    doc = service.status(OWNER, job_id)
    assert (doc["status"], doc["progress"], doc["attempts"]) == ("failed", 10, 3)


def test_a_job_failed_while_active_keeps_its_progress(service: StickerService) -> None:  # noqa: F811
    store = service.store
    died, permanent = text_job(service), text_job(service)
    for job_id in (died, permanent):
        store.claim(job_id, 1)
        store.set_progress(job_id, 1, 50)
    assert store.fail(died, "The job did not finish after 1 attempts").progress == 50  # type: ignore[union-attr]  # worker died: the DLQ
    assert store.fail(permanent, "corrupt", attempt=1).progress == 50  # type: ignore[union-attr]  # the worker's permanent failure
    assert service.status(OWNER, died)["progress"] == service.status(OWNER, permanent)["progress"] == 50


def test_a_job_never_claimed_fails_at_0(service: StickerService) -> None:  # noqa: F811
    job_id = text_job(service)
    assert service.store.fail(job_id, "The job could not be queued").progress == 0  # type: ignore[union-attr]


# --- GET /v1/health ------------------------------------------------------------------------------------------
def test_health_on_moto(service: StickerService) -> None:  # noqa: F811
    text_job(service)
    status, body = service.health()
    assert status == 200, body
    assert body == {"success": True, "status": "ok", "checks": {"table": "ok", "queue": "ok", "bucket": "ok", "inference": "worker"},
                    "queue": {"waiting": 1, "active": 0, "delayed": 0}, "version": __version__}  # fmt: skip


@pytest.mark.parametrize("broken", ["table", "queue", "bucket"])
def test_health_on_moto_with_a_missing_dependency(service: StickerService, broken: str) -> None:  # noqa: F811
    if broken == "table":
        service.store.table = boto3.resource("dynamodb", region_name=REGION).Table("no-such-table")
    elif broken == "queue":
        service.queue.queue_url = service.queue.queue_url.rsplit("/", 1)[0] + "/no-such-queue"
    else:
        service.storage.stickers_bucket = "no-such-bucket"
    status, body = service.health()
    assert status == 503 and body["status"] == "degraded" and body["success"] is False
    assert body["code"] == "SERVICE_UNAVAILABLE" and broken in body["error"]
    assert body["checks"][broken] == "unavailable"
    assert [name for name in ("table", "queue", "bucket") if body["checks"][name] == "ok"] == [n for n in ("table", "queue", "bucket") if n != broken]
    assert body["checks"]["inference"] == "worker" and body["version"] == __version__
    assert (body["queue"] is None) == (broken == "queue")


def _fake_app(**settings: Any) -> tuple[api_app.Api, FakeJobStore, FakeQueue, FakeStorage]:
    store, queue, storage = FakeJobStore(), FakeQueue(), FakeStorage()

    def factory(s: Settings) -> StickerService:
        return StickerService(s, store=store, queue=queue, storage=storage)  # type: ignore[arg-type]

    return api_app.create_app(context=AppContext(Settings(cdn_base_url=CDN, **settings), service_factory=factory)), store, queue, storage


def test_health_route_on_fakes() -> None:
    api, store, queue, storage = _fake_app(inference="gpu-worker-ecs")
    status, headers, body = call(api, event("GET", "/v1/health"))
    assert status == 200 and headers["x-request-id"] and body["status"] == "ok"
    assert body["checks"] == {"table": "ok", "queue": "ok", "bucket": "ok", "inference": "gpu-worker-ecs"}
    store.failing.add("probe")
    storage.failing.add("probe")
    status, _, body = call(api, event("GET", "/v1/health"))
    assert status == 503 and body["checks"] == {"table": "unavailable", "queue": "ok", "bucket": "unavailable", "inference": "gpu-worker-ecs"}
    assert body["code"] == "SERVICE_UNAVAILABLE" and "table" in body["error"] and "bucket" in body["error"]
    status, _, body = call(api, event("GET", "/v1/health", key_id=None))
    assert (status, body) == (403, {"message": "Forbidden"}), "a key is required, as on every /v1 route"


def test_health_does_not_wait_for_a_hanging_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from stickers_core import service as service_module

    monkeypatch.setattr(service_module, "HEALTH_TIMEOUT_S", 0.2)
    svc, store, _, _ = _fake_service()
    release = threading.Event()
    store.probe = lambda: release.wait(5)  # type: ignore[method-assign]
    started = time.monotonic()
    status, body = svc.health()
    release.set()
    assert time.monotonic() - started < 2 and status == 503 and body["checks"]["table"] == "unavailable"


def test_version_is_pyprojects() -> None:
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert __version__ == pyproject["project"]["version"]


def test_output_limits_match_the_contract() -> None:
    assert (limits.OUTPUT_SIZE_MIN_PX, limits.OUTPUT_SIZE_MAX_PX, limits.WATERMARK_MAX_CHARS, limits.THUMBNAIL_MAX_PX) == (128, 1024, 40, 256)
