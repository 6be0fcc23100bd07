"""DELETE /v1/jobs/{jobId} and GET /v1/stats on the local stack (issue 12, items 4 and 6).

After a DELETE the job's sticker URLs stop answering on the CDN front (which reads the private bucket
as CloudFront does through Origin Access Control: a missing object is 403 AccessDenied); stickers carry
a bounded ``Cache-Control`` so CloudFront and browsers forget them within minutes. The stats counts
follow the job through create, complete and delete over HTTP, and a new record expires with its
stickers (one retention number).
"""

from __future__ import annotations

import time

import httpx
import pytest

from gpu_service.pipeline import StickerPipeline
from gpu_service.worker import Worker
from stickers_core import limits
from stickers_core.store import JobStore
from tests.helpers import receive

pytestmark = pytest.mark.usefixtures("drained")


def jobs_counts(api: httpx.Client) -> dict[str, int]:
    r = api.get("/v1/stats")
    assert r.status_code == 200, r.text
    return r.json()["jobs"]


def test_deleted_stickers_stop_answering_on_the_cdn_and_leave_the_counts(stack, api, api_b) -> None:  # noqa: ANN001
    before, before_b = jobs_counts(api), jobs_counts(api_b)
    created = time.time()
    job_id = api.post("/v1/stickers/text", json={"text": "Delete me", "styles": ["bubble", "badge"]}).json()["data"]["jobId"]
    assert jobs_counts(api) == before | {"queued": before["queued"] + 1, "total": before["total"] + 1}

    worker = Worker(stack.settings, StickerPipeline(), receive_wait_s=1)
    worker.handle(receive(worker.queue, job_id))
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "completed" and len(doc["stickers"]) == 2
    assert jobs_counts(api) == before | {"completed": before["completed"] + 1, "total": before["total"] + 1}
    assert jobs_counts(api_b) == before_b, "another key's counts do not move"

    record = JobStore(stack.settings.table_name).get(job_id)
    assert abs(record.expires_at - (created + limits.RETENTION_DAYS * 86_400)) < 120, "the record lives as long as its stickers"

    for url in doc["stickers"]:
        assert url.startswith(f"{stack.cdn_url}/stickers/{job_id}/")
        r = httpx.get(url)
        assert r.status_code == 200
        assert r.headers["cache-control"] == f"public, max-age={limits.STICKER_CACHE_MAX_AGE_S}", "cacheable for minutes, not a year"
        assert "immutable" not in r.headers["cache-control"]

    assert api.delete(f"/v1/jobs/{job_id}").status_code == 204
    for url in doc["stickers"]:
        r = httpx.get(url)
        assert r.status_code in (403, 404), f"{url} still answers {r.status_code} after DELETE"
    assert api.get(f"/v1/jobs/{job_id}").status_code == 404
    assert jobs_counts(api) == before
    assert api.delete(f"/v1/jobs/{job_id}").status_code == 404
    assert jobs_counts(api) == before, "a second DELETE changes nothing"


def test_a_failed_attempt_and_its_retry_are_counted_once(stack, api) -> None:  # noqa: ANN001
    before = jobs_counts(api)
    job_id = api.post("/v1/stickers/text", json={"text": "retry me"}).json()["data"]["jobId"]
    store = JobStore(stack.settings.table_name)
    store.claim(job_id, 1)
    assert jobs_counts(api)["active"] == before["active"] + 1
    assert store.release_for_retry(job_id, 1, "Sticker rendering failed on attempt 1")
    assert store.claim(job_id, 1)[1].attempts == 1, "a duplicate of attempt 1 cannot claim it again"
    assert jobs_counts(api) == before | {"queued": before["queued"] + 1, "total": before["total"] + 1}
    store.claim(job_id, 2)
    store.complete(job_id, 2, [], 10)
    assert jobs_counts(api) == before | {"completed": before["completed"] + 1, "total": before["total"] + 1}
    assert api.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert jobs_counts(api) == before
