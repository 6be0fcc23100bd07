"""StickerService's business rules on in-memory adapters (tests/unit/fakes.py): no moto, no HTTP.

What each method validates and with which code, what it stores and enqueues, and that every read and
write is scoped to the owner (the caller's API key id)."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from stickers_core import limits
from stickers_core.errors import ApiError, JobNotFound
from stickers_core.models import JobStatus, JobType, is_job_id
from stickers_core.service import ServiceUnavailable, StickerService, accepted_body, owner_upload_key
from stickers_core.settings import Settings
from stickers_core.styles import DEFAULT_IMAGE_STYLES, DEFAULT_TEXT_STYLES, IMAGE_STYLE_NAMES, TEXT_STYLE_NAMES
from stickers_core.validation import JobOptions
from tests.helpers import encode
from tests.unit.fakes import FakeJobStore, FakeQueue, FakeStorage

ALICE, BOB = "key-alice", "key-bob"
CDN = "https://cdn.example"
PHOTO = encode(Image.new("RGB", (200, 160), (200, 80, 40)), "PNG")


@pytest.fixture
def store() -> FakeJobStore:
    return FakeJobStore()


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


@pytest.fixture
def storage() -> FakeStorage:
    return FakeStorage()


@pytest.fixture
def service(store: FakeJobStore, queue: FakeQueue, storage: FakeStorage) -> StickerService:
    return StickerService(Settings(cdn_base_url=CDN, retention_days=7), store=store, queue=queue, storage=storage)  # type: ignore[arg-type]


def refused(call: Callable[..., Any], *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as raised:
        call(*args, **kwargs)
    return raised.value


def options(**raw: Any) -> JobOptions:
    return JobOptions.parse(**raw, allowed_styles=IMAGE_STYLE_NAMES, allow_loopback_http=False)


# --- JobOptions -----------------------------------------------------------------------------------------
def test_job_options_parse_each_field() -> None:
    parsed = JobOptions.parse(styles="pop, pixel", count="3", preset=" WhatsApp ", callback_url=None, allowed_styles=IMAGE_STYLE_NAMES, allow_loopback_http=False)
    assert parsed == JobOptions(styles=("pop", "pixel"), count=3, preset="whatsapp", callback_url=None)
    assert JobOptions.parse(allowed_styles=TEXT_STYLE_NAMES, allow_loopback_http=False) == JobOptions()
    assert JobOptions.parse(styles=["bubble"], count=2.0, allowed_styles=TEXT_STYLE_NAMES, allow_loopback_http=False).count == 2


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ({"styles": "classic,glitter"}, "UNKNOWN_STYLE", None),
        ({"styles": {"a": 1}}, "INVALID_REQUEST", "styles"),
        ({"count": 0}, "BAD_COUNT", None),
        ({"count": 9}, "BAD_COUNT", None),
        ({"count": True}, "BAD_COUNT", None),
        ({"count": "three"}, "BAD_COUNT", None),
        ({"preset": "signal"}, "UNKNOWN_PRESET", None),
        ({"callback_url": "http://example.com/hook"}, "INVALID_REQUEST", "callbackUrl"),
        ({"callback_url": 42}, "INVALID_REQUEST", "callbackUrl"),
    ],
)
def test_job_options_refusals(raw: dict[str, Any], code: str, field: str | None) -> None:
    error = refused(options, **raw)
    assert (error.status, error.code, error.details.get("field")) == (400, code, field)


def test_job_options_check_in_a_fixed_order() -> None:
    """styles, then callbackUrl, then preset, then count: the first failure is the one answered."""
    bad = {"styles": "glitter", "callback_url": "ftp://x", "preset": "signal", "count": 99}
    assert refused(options, **bad).code == "UNKNOWN_STYLE"
    assert refused(options, **{**bad, "styles": None}).details["field"] == "callbackUrl"
    assert refused(options, **{**bad, "styles": None, "callback_url": None}).code == "UNKNOWN_PRESET"
    assert refused(options, **{**bad, "styles": None, "callback_url": None, "preset": None}).code == "BAD_COUNT"


def test_image_styles_are_refused_for_a_text_job() -> None:
    error = refused(JobOptions.parse, styles=["classic"], allowed_styles=TEXT_STYLE_NAMES, allow_loopback_http=False)
    assert error.code == "UNKNOWN_STYLE" and error.details["allowed"] == list(TEXT_STYLE_NAMES)


def test_callback_url_rules_use_the_given_resolver() -> None:
    public = lambda host, port, *a, **k: [(2, 1, 6, "", ("93.184.216.34", port))]  # noqa: E731
    private = lambda host, port, *a, **k: [(2, 1, 6, "", ("10.0.0.7", port))]  # noqa: E731
    ok = JobOptions.parse(callback_url="https://hooks.example/x", allowed_styles=IMAGE_STYLE_NAMES, allow_loopback_http=False, resolver=public)
    assert ok.callback_url == "https://hooks.example/x"
    error = refused(JobOptions.parse, callback_url="https://hooks.example/x", allowed_styles=IMAGE_STYLE_NAMES, allow_loopback_http=False, resolver=private)
    assert error.details["field"] == "callbackUrl"
    assert options(callback_url=None).callback_url is None
    assert JobOptions.parse(callback_url="http://127.0.0.1:9/h", allowed_styles=IMAGE_STYLE_NAMES, allow_loopback_http=True).callback_url


# --- submit: a photo on the direct path ---------------------------------------------------------------------
def test_submit_image_stores_the_photo_and_enqueues_one_message(service: StickerService, store: FakeJobStore, queue: FakeQueue, storage: FakeStorage) -> None:
    job = service.submit_image(ALICE, PHOTO, filename="C:\\holiday\\cat\u0007.png", options=options(styles="pixel", count=3, preset="telegram"))
    assert job.status is JobStatus.QUEUED and job.type is JobType.IMAGE and job.owner_id == ALICE
    assert job.styles == ["pixel", "pixel", "pixel"] and job.preset == "telegram"
    assert job.metadata.original_name == "cat.png", "the path and control characters are dropped"
    assert (job.metadata.dimensions.width, job.metadata.dimensions.height, job.metadata.dimensions.format) == (200, 160, "png")
    assert storage.uploads[job.upload_key] == (PHOTO, "image/png") and job.upload_key.endswith(job.job_id)
    assert queue.sent == [{"jobId": job.job_id, "type": "image"}]
    assert store.jobs[job.job_id].status is JobStatus.QUEUED
    assert store.jobs[job.job_id].expires_at == job.expires_at


def test_submit_image_defaults_and_cycled_styles(service: StickerService) -> None:
    assert service.submit_image(ALICE, PHOTO).styles == list(DEFAULT_IMAGE_STYLES)
    assert service.submit_image(ALICE, PHOTO, options=options(styles=["pop", "classic"], count=5)).styles == ["pop", "classic", "pop", "classic", "pop"]
    assert service.submit_image(ALICE, PHOTO, options=options(styles=["pop", "classic"])).styles == ["pop", "classic"]
    assert service.submit_image(ALICE, PHOTO, options=options(count=2)).styles == list(DEFAULT_IMAGE_STYLES[:2])


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"not an image", 415, "UNSUPPORTED_TYPE"),
        (b"\x89PNG\r\n\x1a\n" + b"0" * 40, 400, "CORRUPT_IMAGE"),
        (encode(Image.new("RGB", (32, 32)), "PNG"), 400, "BAD_DIMENSIONS"),
    ],
)
def test_a_refused_photo_stores_and_enqueues_nothing(service: StickerService, store: FakeJobStore, queue: FakeQueue, storage: FakeStorage, data: bytes, status: int, code: str) -> None:
    error = refused(service.submit_image, ALICE, data)
    assert (error.status, error.code) == (status, code)
    assert not store.jobs and not queue.sent and not storage.uploads


def test_dependency_failures_are_503_and_leave_no_job_waiting(service: StickerService, store: FakeJobStore, queue: FakeQueue, storage: FakeStorage) -> None:
    storage.failing = {"put_upload"}
    assert refused(service.submit_image, ALICE, PHOTO).status == 503
    assert not store.jobs and not queue.sent
    storage.failing = set()
    store.failing = {"create"}
    error = refused(service.submit_image, ALICE, PHOTO)
    assert isinstance(error, ServiceUnavailable) and "job store" in error.message and not queue.sent
    store.failing = set()
    queue.failing = {"send"}
    error = refused(service.submit_text, ALICE, text="hi")
    assert (error.status, error.code) == (503, "SERVICE_UNAVAILABLE") and "job queue" in error.message
    (job,) = [j for j in store.jobs.values() if j.type is JobType.TEXT]
    assert job.status is JobStatus.FAILED and job.error, "a job whose message could not be sent is failed, not left queued"


# --- submit: a photo uploaded through a presigned POST ------------------------------------------------------
def test_an_upload_is_found_by_its_owner_only(service: StickerService, storage: FakeStorage, queue: FakeQueue) -> None:
    slot = service.create_upload(ALICE, "image/png", len(PHOTO))
    (post,) = storage.posts
    storage.uploads[post["key"]] = (PHOTO, "image/png")  # what S3 holds after the browser's POST
    assert refused(service.submit_uploaded_image, BOB, slot["uploadId"]).code == "UPLOAD_NOT_FOUND"
    job = service.submit_uploaded_image(ALICE, slot["uploadId"], options=options(styles="cutout", preset="whatsapp"))
    assert job.upload_key == owner_upload_key(ALICE, slot["uploadId"]) == post["key"]
    assert job.styles == ["cutout"] and job.preset == "whatsapp" and job.metadata.original_name is None
    assert queue.sent == [{"jobId": job.job_id, "type": "image"}]


@pytest.mark.parametrize("upload_id", [None, 42, "", "../etc/passwd", "492B3CBA-03A8-41A1-AF47-9FFAD9B7906A", "ff9625ff-eddb-4fb6-975c-57c5fbbe12d0"])
def test_unknown_or_malformed_upload_ids_are_404(service: StickerService, upload_id: Any) -> None:
    error = refused(service.submit_uploaded_image, ALICE, upload_id)
    assert (error.status, error.code) == (404, "UPLOAD_NOT_FOUND")


def test_an_oversized_upload_is_413(service: StickerService, storage: FakeStorage) -> None:
    upload_id = str(uuid.uuid4())
    storage.uploads[owner_upload_key(ALICE, upload_id)] = (b"x" * (limits.UPLOAD_MAX_BYTES + 1), "image/png")
    error = refused(service.submit_uploaded_image, ALICE, upload_id)
    assert (error.status, error.code, error.details["maxSize"]) == (413, "TOO_LARGE", limits.UPLOAD_MAX_BYTES)


# --- submit: text ----------------------------------------------------------------------------------------
def test_submit_text_normalises_and_enqueues(service: StickerService, queue: FakeQueue) -> None:
    decomposed = unicodedata.normalize("NFD", "  Café time!  ")
    job = service.submit_text(ALICE, text=decomposed, keywords=["Party", "party", " cake "], options=JobOptions(preset="telegram"))
    assert job.type is JobType.TEXT and job.text == "Café time!" and job.keywords == ["Party", "cake"]
    assert job.styles == list(DEFAULT_TEXT_STYLES) and job.preset == "telegram"
    assert queue.sent == [{"jobId": job.job_id, "type": "text"}]
    body = accepted_body(job)
    assert body["data"]["input"] == {"text": "Café time!", "keywords": ["Party", "cake"]} and body["data"]["statusUrl"] == f"/v1/jobs/{job.job_id}"
    assert service.submit_text(ALICE, text=None, keywords=["sun"], options=JobOptions(styles=("retro",), count=2)).styles == ["retro", "retro"]


@pytest.mark.parametrize(
    ("text", "keywords", "code"),
    [
        (None, None, "NO_INPUT"),
        ("   ", [], "NO_INPUT"),
        ("x" * (limits.TEXT_MAX_CHARS + 1), None, "TEXT_TOO_LONG"),
        (None, [f"k{i}" for i in range(limits.KEYWORDS_MAX + 1)], "TOO_MANY_KEYWORDS"),
        (None, ["y" * (limits.KEYWORD_MAX_CHARS + 1)], "BAD_KEYWORD"),
        ("bell\u0007", None, "BAD_TEXT"),
        ("a\ud800b", None, "BAD_TEXT"),
        (5, None, "INVALID_REQUEST"),
        (None, "party", "INVALID_REQUEST"),
    ],
)
def test_text_refusals_enqueue_nothing(service: StickerService, queue: FakeQueue, text: Any, keywords: Any, code: str) -> None:
    error = refused(service.submit_text, ALICE, text=text, keywords=keywords)
    assert (error.status, error.code) == (400, code)
    assert not queue.sent


# --- status, list, delete: owner scoping ---------------------------------------------------------------------
def test_status_is_the_owners_alone(service: StickerService) -> None:
    job = service.submit_text(ALICE, text="hi")
    doc = service.status(ALICE, job.job_id)
    assert (doc["success"], doc["jobId"], doc["status"], doc["progress"], doc["count"]) == (True, job.job_id, "queued", 0, len(job.styles))
    for owner, job_id in ((BOB, job.job_id), (ALICE, str(uuid.uuid4())), (ALICE, "not-a-uuid")):
        with pytest.raises(JobNotFound):
            service.status(owner, job_id)


def test_list_pages_newest_first_and_only_the_owners(service: StickerService) -> None:
    mine = {service.submit_text(ALICE, text=f"t{i}").job_id for i in range(5)}
    service.submit_text(BOB, text="bob's")
    seen, token, pages = [], None, 0
    while True:
        page = service.list_jobs(ALICE, "2", token)
        pages += 1
        assert page["success"] is True and len(page["jobs"]) <= 2
        seen += page["jobs"]
        token = page["nextToken"]
        if token is None:
            break
    assert pages == 3 and [d["jobId"] for d in seen if d["jobId"] in mine] == [d["jobId"] for d in seen] and {d["jobId"] for d in seen} == mine
    created = [d["createdAt"] for d in seen]
    assert created == sorted(created, reverse=True), "newest first"
    assert len(service.list_jobs(ALICE, None, None)["jobs"]) == 5 and len(service.list_jobs(ALICE, "", "")["jobs"]) == 5


@pytest.mark.parametrize("limit", ["0", "101", "abc", "2.5", -1])
def test_list_refuses_a_bad_limit(service: StickerService, limit: Any) -> None:
    error = refused(service.list_jobs, ALICE, limit, None)
    assert (error.code, error.details["field"]) == ("INVALID_REQUEST", "limit")


def test_list_refuses_a_bad_or_foreign_token(service: StickerService) -> None:
    for _ in range(3):
        service.submit_text(BOB, text="b")
    bobs_token = service.list_jobs(BOB, 1, None)["nextToken"]
    assert bobs_token
    for token in ("%%%", bobs_token):
        error = refused(service.list_jobs, ALICE, 1, token)
        assert (error.code, error.details["field"]) == ("INVALID_REQUEST", "nextToken")


def test_delete_removes_record_upload_and_stickers(service: StickerService, store: FakeJobStore, storage: FakeStorage) -> None:
    job = service.submit_image(ALICE, PHOTO)
    storage.stickers[f"stickers/{job.job_id}/1-classic.png"] = b"png"
    other = service.submit_image(ALICE, PHOTO)
    storage.stickers[f"stickers/{other.job_id}/1-classic.png"] = b"png"
    with pytest.raises(JobNotFound):
        service.delete_job(BOB, job.job_id)
    assert job.job_id in store.jobs, "another key's delete changes nothing"
    service.delete_job(ALICE, job.job_id)
    assert job.job_id not in store.jobs and job.upload_key not in storage.uploads
    assert list(storage.stickers) == [f"stickers/{other.job_id}/1-classic.png"], "only this job's stickers go"
    with pytest.raises(JobNotFound):
        service.delete_job(ALICE, job.job_id)


def test_an_active_job_cannot_be_deleted(service: StickerService, store: FakeJobStore, storage: FakeStorage) -> None:
    job = service.submit_image(ALICE, PHOTO)
    store.set_status(job.job_id, JobStatus.ACTIVE)
    error = refused(service.delete_job, ALICE, job.job_id)
    assert (error.status, error.code) == (409, "JOB_ACTIVE")
    assert job.job_id in store.jobs and job.upload_key in storage.uploads
    store.set_status(job.job_id, JobStatus.COMPLETED)
    service.delete_job(ALICE, job.job_id)


# --- uploads ---------------------------------------------------------------------------------------------
def test_create_upload_gives_an_owner_scoped_slot(service: StickerService, storage: FakeStorage) -> None:
    slot = service.create_upload(ALICE, "image/jpeg", 5_000_000)
    assert is_job_id(slot["uploadId"])
    assert (slot["success"], slot["expiresIn"], slot["maxSize"]) == (True, limits.UPLOAD_URL_EXPIRES_S, limits.UPLOAD_MAX_BYTES)
    assert storage.posts == [{"key": owner_upload_key(ALICE, slot["uploadId"]), "contentType": "image/jpeg", "maxBytes": limits.UPLOAD_MAX_BYTES, "expiresIn": limits.UPLOAD_URL_EXPIRES_S}]
    assert ALICE in storage.posts[0]["key"] and owner_upload_key(BOB, slot["uploadId"]) != storage.posts[0]["key"]
    assert service.create_upload(ALICE, "image/png", None)["uploadId"] != slot["uploadId"]


@pytest.mark.parametrize(
    ("content_type", "length", "status", "code"),
    [
        ("image/svg+xml", 100, 415, "UNSUPPORTED_TYPE"),
        (None, 100, 415, "UNSUPPORTED_TYPE"),
        ("image/png", 0, 400, "INVALID_REQUEST"),
        ("image/png", True, 400, "INVALID_REQUEST"),
        ("image/png", "100", 400, "INVALID_REQUEST"),
        ("image/png", limits.UPLOAD_MAX_BYTES + 1, 413, "TOO_LARGE"),
    ],
)
def test_create_upload_refusals(service: StickerService, storage: FakeStorage, content_type: Any, length: Any, status: int, code: str) -> None:
    error = refused(service.create_upload, ALICE, content_type, length)
    assert (error.status, error.code) == (status, code)
    assert not storage.posts


def test_owner_upload_keys_cannot_escape_their_prefix() -> None:
    assert owner_upload_key("../../x", "id") == owner_upload_key("x", "id")
    assert owner_upload_key("", "id").endswith("anonymous/id")


# --- stats -----------------------------------------------------------------------------------------------
def test_stats_counts_the_owners_jobs_by_last_status(service: StickerService, store: FakeJobStore, queue: FakeQueue) -> None:
    jobs = [service.submit_text(ALICE, text=f"t{i}") for i in range(4)]
    service.submit_text(BOB, text="b")
    store.set_status(jobs[0].job_id, JobStatus.ACTIVE)
    store.set_status(jobs[1].job_id, JobStatus.COMPLETED)
    store.set_status(jobs[2].job_id, JobStatus.FAILED)
    queue.in_flight = 1
    stats = service.stats(ALICE)
    assert stats["jobs"] == {"queued": 1, "active": 1, "completed": 1, "failed": 1, "total": 4}
    assert stats["queue"] == {"waiting": 4, "active": 1, "delayed": 0} and stats["success"] is True and stats["timestamp"].endswith("Z")
    service.delete_job(ALICE, jobs[1].job_id)
    assert service.stats(ALICE)["jobs"]["total"] == 3 and service.stats(BOB)["jobs"]["total"] == 1
    assert service.stats("key-nobody")["jobs"]["total"] == 0


def test_stats_is_503_when_a_dependency_fails(service: StickerService, store: FakeJobStore, queue: FakeQueue) -> None:
    queue.failing = {"depth"}
    assert refused(service.stats, ALICE).status == 503
    queue.failing, store.failing = set(), {"count_for_owner"}
    assert refused(service.stats, ALICE).status == 503
