"""The GPU-service worker against the emulated queue, table and buckets, message by message.

Covers the at-least-once rules of docs/design.md: claim by conditional write, duplicate deliveries,
retries with `attempts`, the dead-letter path, permanent failures, and stale attempts.
"""

from __future__ import annotations

import io
import json
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from gpu_service.pipeline import StickerPipeline
from gpu_service.worker import Worker
from stickers_core.models import JobStatus
from stickers_core.queue import JobQueue
from stickers_core.store import AttemptLost, ClaimOutcome, JobStore
from stickers_core.styles import DEFAULT_IMAGE_STYLES, DEFAULT_TEXT_STYLES
from tests.helpers import receive

pytestmark = pytest.mark.usefixtures("drained")


@pytest.fixture(scope="module")
def pipeline() -> StickerPipeline:
    return StickerPipeline()


class FlakyPipeline:
    """The real pipeline, but the first `failures` image renders raise (a transient fault)."""

    def __init__(self, real: StickerPipeline, failures: int) -> None:
        self.real, self.failures, self.calls = real, failures, 0

    def render_image(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return self.real.render_image(*args, **kwargs)

    def render_text(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return self.real.render_text(*args, **kwargs)


def submit_photo(api: httpx.Client, photo: bytes, **form: str) -> str:
    r = api.post("/v1/stickers/image", files={"image": ("cat.jpg", photo)}, data=form)
    assert r.status_code == 202, r.text
    return r.json()["data"]["jobId"]


def make_worker(stack, pipeline, **kwargs) -> Worker:  # noqa: ANN001
    return Worker(stack.settings, pipeline, receive_wait_s=1, **kwargs)


class RecordingStore(JobStore):
    """The real store, remembering each progress value written."""

    def __init__(self, table_name: str) -> None:
        super().__init__(table_name)
        self.progress: list[int] = []

    def set_progress(self, job_id: str, attempt: int, progress: int) -> None:
        self.progress.append(int(progress))
        super().set_progress(job_id, attempt, progress)


def test_image_job_completes_with_milestones_and_fetchable_stickers(stack, api, pipeline, cat_photo) -> None:  # noqa: ANN001
    job_id = submit_photo(api, cat_photo)
    store = RecordingStore(stack.settings.table_name)
    worker = make_worker(stack, pipeline, store=store)
    worker.handle(receive(worker.queue, job_id))

    assert store.progress == [10, 30, 40, 70, 90], "docs/api.md's image milestones, in order"
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "completed" and doc["progress"] == 100 and doc["attempts"] == 1
    assert len(doc["stickers"]) == len(DEFAULT_IMAGE_STYLES) and doc["processingTime"].endswith("s")
    for n, (url, style) in enumerate(zip(doc["stickers"], DEFAULT_IMAGE_STYLES), 1):
        assert url == f"{stack.cdn_url}/stickers/{job_id}/{n}-{style}.png"  # the CDN origin, as on AWS
        r = httpx.get(url)  # no API key: the CDN is public
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        img = Image.open(io.BytesIO(r.content))
        assert img.mode == "RGBA" and max(img.size) <= 512
        alpha = np.asarray(img)[..., 3]
        assert alpha[0, 0] == 0 and alpha[-1, -1] == 0, "transparent surroundings"
        assert (alpha == 255).mean() > 0.2, "an opaque subject"
    assert worker.queue.depth().waiting == 0


def test_text_job_completes(stack, api, pipeline) -> None:  # noqa: ANN001
    job_id = api.post("/v1/stickers/text", json={"text": "Happy Birthday!", "keywords": ["party"]}).json()["data"]["jobId"]
    store = RecordingStore(stack.settings.table_name)
    worker = make_worker(stack, pipeline, store=store)
    worker.handle(receive(worker.queue, job_id))
    assert store.progress == [10, 50, 90]
    doc = api.get(f"/v1/jobs/{job_id}").json()
    names = [f"{n}-{style}.png" for n, style in enumerate(DEFAULT_TEXT_STYLES, 1)]
    assert doc["status"] == "completed" and [u.rsplit("/", 1)[1] for u in doc["stickers"]] == names


def test_duplicate_delivery_after_completion_is_deleted_not_redone(stack, api, pipeline, cat_photo) -> None:  # noqa: ANN001
    job_id = submit_photo(api, cat_photo, styles="pixel")
    worker = make_worker(stack, pipeline)
    worker.handle(receive(worker.queue, job_id))
    first = api.get(f"/v1/jobs/{job_id}").json()
    worker.queue.send(job_id, "image")  # SQS at-least-once: the same job arrives again
    counting = FlakyPipeline(pipeline, failures=0)
    make_worker(stack, counting).handle(receive(worker.queue, job_id))
    assert counting.calls == 0, "a finished job is not rendered again"
    assert api.get(f"/v1/jobs/{job_id}").json() == first
    assert worker.queue.depth().waiting == 0 and worker.queue.depth().active == 0, "the duplicate was deleted"


def test_concurrent_duplicate_claims_only_once(stack, api) -> None:  # noqa: ANN001
    job_id = api.post("/v1/stickers/text", json={"text": "once"}).json()["data"]["jobId"]
    store = JobStore(stack.settings.table_name)
    first, _ = store.claim(job_id, attempt=1)
    second, job = store.claim(job_id, attempt=1)
    assert (first, second) == (ClaimOutcome.CLAIMED, ClaimOutcome.BUSY)
    assert job.status is JobStatus.ACTIVE and job.attempts == 1


def test_a_stale_attempt_cannot_write_after_it_was_replaced(stack, api) -> None:  # noqa: ANN001
    job_id = api.post("/v1/stickers/text", json={"text": "stale"}).json()["data"]["jobId"]
    store = JobStore(stack.settings.table_name)
    assert store.claim(job_id, 1)[0] is ClaimOutcome.CLAIMED
    store.set_progress(job_id, 1, 10)
    assert store.claim(job_id, 2)[0] is ClaimOutcome.CLAIMED  # the message reappeared: attempt 2 took over
    with pytest.raises(AttemptLost):
        store.set_progress(job_id, 1, 50)
    with pytest.raises(AttemptLost):
        store.complete(job_id, 1, ["stickers/x/1-bubble.png"], 10)
    store.set_progress(job_id, 2, 10)
    store.set_progress(job_id, 2, 5)  # never lowers
    assert store.get(job_id).progress == 10


def test_transient_failure_is_retried_with_attempts_2(stack, api, pipeline, cat_photo) -> None:  # noqa: ANN001
    job_id = submit_photo(api, cat_photo, styles="classic")
    flaky = FlakyPipeline(pipeline, failures=1)
    worker = make_worker(stack, flaky)
    worker.handle(receive(worker.queue, job_id))
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "queued" and doc["attempts"] == 1 and doc["progress"] == 0 and doc["error"]
    message = receive(worker.queue, job_id)  # redelivered after the retry backoff
    assert message.attempt == 2
    worker.handle(message)
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "completed" and doc["attempts"] == 2 and "error" not in doc


def test_third_failure_goes_through_the_dead_letter_queue(stack, api, pipeline, cat_photo) -> None:  # noqa: ANN001
    job_id = submit_photo(api, cat_photo, styles="classic")
    flaky = FlakyPipeline(pipeline, failures=99)
    worker = make_worker(stack, flaky)
    for attempt in (1, 2, 3):
        message = receive(worker.queue, job_id)
        assert message.attempt == attempt
        worker.handle(message)
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
    # The fourth receive makes SQS move the message to the DLQ; the DLQ handler fails the job.
    deadline = time.monotonic() + 20
    doc = {}
    while time.monotonic() < deadline:
        worker.queue.receive(max_messages=10, wait_s=1)
        doc = api.get(f"/v1/jobs/{job_id}").json()
        if doc["status"] == "failed":
            break
    assert doc["status"] == "failed" and doc["attempts"] == 3
    assert doc["error"] == "Sticker rendering failed on attempt 3", "the last attempt's error"
    assert flaky.calls == 3


def test_an_undecodable_upload_fails_at_once(stack, api, pipeline, cat_photo) -> None:  # noqa: ANN001
    job_id = submit_photo(api, cat_photo)
    store = JobStore(stack.settings.table_name)
    job = store.get(job_id)
    # The stored photo gets corrupted after validation (e.g. a bad object in the bucket).
    stack.aws.client("s3").put_object(Bucket=stack.settings.uploads_bucket, Key=job.upload_key, Body=b"\xff\xd8\xff\xe0garbage")
    worker = make_worker(stack, pipeline)
    worker.handle(receive(worker.queue, job_id))
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "failed" and doc["attempts"] == 1 and "corrupt" in doc["error"]
    assert worker.queue.depth().waiting == 0 and worker.queue.depth().active == 0


def test_malformed_messages_are_dropped(stack) -> None:  # noqa: ANN001
    queue = JobQueue(stack.settings.queue_url)
    stack.aws.client("sqs").send_message(QueueUrl=stack.settings.queue_url, MessageBody="not json")
    [message] = queue.receive(wait_s=2)
    assert message.job_id == ""
    Worker(stack.settings, FlakyPipeline(None, 0)).handle(message)  # type: ignore[arg-type]
    assert queue.depth().waiting == 0 and queue.depth().active == 0


def test_deleted_job_message_is_settled(stack, api, pipeline) -> None:  # noqa: ANN001
    job_id = api.post("/v1/stickers/text", json={"text": "bye"}).json()["data"]["jobId"]
    assert api.delete(f"/v1/jobs/{job_id}").status_code == 204
    worker = make_worker(stack, pipeline)
    worker.handle(receive(worker.queue, job_id))
    assert worker.queue.depth().waiting == 0 and worker.queue.depth().active == 0
    assert json.loads(json.dumps(api.get(f"/v1/jobs/{job_id}").json()))["code"] == "JOB_NOT_FOUND"


# --- issue 14: method, output options, thumbnail ------------------------------------------------------------
class SpyPipeline:
    """The real pipeline, remembering the keyword arguments of each render."""

    def __init__(self, real: StickerPipeline) -> None:
        self.real, self.calls = real, []

    def render_image(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        self.calls.append(kwargs)
        return self.real.render_image(*args, **kwargs)

    def render_text(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        self.calls.append(kwargs)
        return self.real.render_text(*args, **kwargs)


def _tiles(sheet: Image.Image, n: int) -> int:
    """Grid cells of a contact sheet of `n` stickers that hold one."""
    import math

    cols = math.ceil(math.sqrt(n))
    tile = sheet.width // cols
    a = np.asarray(sheet.convert("RGBA"))[..., 3]
    return sum(bool(a[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile].max() > 200) for r in range(sheet.height // tile) for c in range(cols))


def test_a_job_with_every_output_option_completes_with_webp_stickers_and_a_thumbnail(stack, api, pipeline, cat_photo) -> None:  # noqa: ANN001
    form = {"styles": "classic,cartoon,charcoal", "method": "artistic", "format": "webp", "size": "256", "rotate": "30", "watermark": "©me"}
    job_id = submit_photo(api, cat_photo, **form)
    spy = SpyPipeline(pipeline)
    worker = make_worker(stack, spy)
    worker.handle(receive(worker.queue, job_id))

    assert spy.calls[0]["method"] == "artistic" and spy.calls[0]["output"].rotate == 30
    job = JobStore(stack.settings.table_name).get(job_id)
    assert job.status is JobStatus.COMPLETED and job.thumbnail_key == f"stickers/{job_id}/thumbnail.webp"
    assert job.sticker_keys == [f"stickers/{job_id}/{n}-{s}.webp" for n, s in enumerate(["classic", "cartoon", "charcoal"], 1)]
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["thumbnail"] == f"{stack.cdn_url}/stickers/{job_id}/thumbnail.webp"
    for url in doc["stickers"]:
        r = httpx.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
        img = Image.open(io.BytesIO(r.content))
        assert img.format == "WEBP" and img.mode == "RGBA" and max(img.size) == 256
    r = httpx.get(doc["thumbnail"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
    sheet = Image.open(io.BytesIO(r.content))
    assert sheet.format == "WEBP" and max(sheet.size) <= 256 and _tiles(sheet, 3) == 3


def test_a_default_job_gets_png_stickers_and_a_thumbnail_too(stack, api, pipeline) -> None:  # noqa: ANN001
    job_id = api.post("/v1/stickers/text", json={"text": "thumbs"}).json()["data"]["jobId"]
    spy = SpyPipeline(pipeline)
    worker = make_worker(stack, spy)
    worker.handle(receive(worker.queue, job_id))
    assert "method" not in spy.calls[0], "text styles have no method"
    job = JobStore(stack.settings.table_name).get(job_id)
    assert job.status is JobStatus.COMPLETED and all(k.endswith(".png") for k in job.sticker_keys)
    sheet = Image.open(io.BytesIO(httpx.get(f"{stack.cdn_url}/{job.thumbnail_key}").content))
    assert max(sheet.size) <= 256 and _tiles(sheet, len(DEFAULT_TEXT_STYLES)) == len(DEFAULT_TEXT_STYLES)


def test_a_preset_still_decides_size_and_format_with_rotation_and_watermark(stack, api, pipeline, cat_photo) -> None:  # noqa: ANN001
    job_id = submit_photo(api, cat_photo, styles="pop", preset="whatsapp", rotate="-20", watermark="me")
    worker = make_worker(stack, pipeline)
    worker.handle(receive(worker.queue, job_id))
    job = JobStore(stack.settings.table_name).get(job_id)
    assert job.sticker_keys == [f"stickers/{job_id}/1-pop.webp"] and job.thumbnail_key
    img = Image.open(io.BytesIO(httpx.get(f"{stack.cdn_url}/{job.sticker_keys[0]}").content))
    assert img.size == (512, 512)


def test_a_thumbnail_failure_never_fails_the_job(stack, api, pipeline, monkeypatch) -> None:  # noqa: ANN001
    import gpu_service.worker as worker_module
    from stickers_core.storage import Storage

    def broken(_stickers):  # noqa: ANN001, ANN202
        raise RuntimeError("no sheet today")

    monkeypatch.setattr(worker_module, "_thumbnail", broken)
    first = api.post("/v1/stickers/text", json={"text": "no sheet"}).json()["data"]["jobId"]
    worker = make_worker(stack, pipeline)
    worker.handle(receive(worker.queue, first))
    job = JobStore(stack.settings.table_name).get(first)
    assert job.status is JobStatus.COMPLETED and job.thumbnail_key is None and len(job.sticker_keys) == len(DEFAULT_TEXT_STYLES)
    assert api.get(f"/v1/jobs/{first}").json()["thumbnail"] is None
    monkeypatch.undo()

    class NoThumbnails(Storage):
        def put_sticker(self, key: str, data: bytes, content_type: str = "image/png") -> None:
            if key.endswith("/thumbnail.webp"):
                raise RuntimeError("S3 said no")
            super().put_sticker(key, data, content_type)

    second = api.post("/v1/stickers/text", json={"text": "no upload"}).json()["data"]["jobId"]
    worker = make_worker(stack, pipeline, storage=NoThumbnails(stack.settings.uploads_bucket, stack.settings.stickers_bucket))
    worker.handle(receive(worker.queue, second))
    job = JobStore(stack.settings.table_name).get(second)
    assert job.status is JobStatus.COMPLETED and job.thumbnail_key is None


def test_complete_with_a_thumbnail_key_keeps_its_conditional_semantics(stack, api) -> None:  # noqa: ANN001
    job_id = api.post("/v1/stickers/text", json={"text": "cond"}).json()["data"]["jobId"]
    store = JobStore(stack.settings.table_name)
    assert store.claim(job_id, 1)[0] is ClaimOutcome.CLAIMED
    assert store.claim(job_id, 2)[0] is ClaimOutcome.CLAIMED  # attempt 2 took over
    with pytest.raises(AttemptLost):
        store.complete(job_id, 1, ["stickers/x/1-bubble.png"], 10, thumbnail_key="stickers/x/thumbnail.webp")
    stale = store.get(job_id)
    assert stale.status is JobStatus.ACTIVE and stale.thumbnail_key is None and stale.sticker_keys == [], "nothing written"
    done = store.complete(job_id, 2, [f"stickers/{job_id}/1-bubble.png"], 10, thumbnail_key=f"stickers/{job_id}/thumbnail.webp")
    assert done.thumbnail_key == store.get(job_id).thumbnail_key == f"stickers/{job_id}/thumbnail.webp"
    with pytest.raises(AttemptLost):
        store.complete(job_id, 2, ["again"], 1, thumbnail_key="other")
    assert store.get(job_id).thumbnail_key == f"stickers/{job_id}/thumbnail.webp"
    # and without one the record has none
    other = api.post("/v1/stickers/text", json={"text": "cond2"}).json()["data"]["jobId"]
    store.claim(other, 1)
    assert store.complete(other, 1, [], 5).thumbnail_key is None and store.get(other).thumbnail_key is None
