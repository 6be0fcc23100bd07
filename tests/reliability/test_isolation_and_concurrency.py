"""Tenant isolation (every read, list and delete scoped to the caller's API key id) and concurrent
callers through the local API front (no request sees another's event)."""

from __future__ import annotations

import io
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from tests.reliability.conftest import KEY_A

pytestmark = pytest.mark.usefixtures("drained")


def test_another_key_can_neither_read_list_delete_nor_use_an_upload(api: httpx.Client, api_b: httpx.Client) -> None:
    job_id = api.post("/v1/stickers/text", json={"text": "mine"}).json()["data"]["jobId"]
    for r in (api_b.get(f"/v1/jobs/{job_id}"), api_b.delete(f"/v1/jobs/{job_id}")):
        assert r.status_code == 404 and r.json()["code"] == "JOB_NOT_FOUND"
    assert job_id not in {j["jobId"] for j in api_b.get("/v1/jobs", params={"limit": 100}).json()["jobs"]}
    assert job_id in {j["jobId"] for j in api.get("/v1/jobs", params={"limit": 100}).json()["jobs"]}
    b_stats, a_stats = api_b.get("/v1/stats").json()["jobs"], api.get("/v1/stats").json()["jobs"]
    assert a_stats["total"] >= 1 and b_stats["total"] == sum(1 for _ in api_b.get("/v1/jobs", params={"limit": 100}).json()["jobs"])
    upload = api.post("/v1/uploads", json={"contentType": "image/png", "contentLength": 1000}).json()
    r = api_b.post("/v1/stickers/image", json={"uploadId": upload["uploadId"]})
    assert r.status_code == 404 and r.json()["code"] == "UPLOAD_NOT_FOUND", "uploads are keyed under their owner"
    # a page token of A's listing does not open B's view onto A's jobs
    for _ in range(2):
        api.post("/v1/stickers/text", json={"text": "more"})
    token = api.get("/v1/jobs", params={"limit": 1}).json()["nextToken"]
    assert token
    r = api_b.get("/v1/jobs", params={"limit": 1, "nextToken": token})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST"
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "queued", "untouched by the other key"


def test_concurrent_mixed_submissions_all_accepted(stack) -> None:  # noqa: ANN001
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), "red").save(buf, "JPEG")
    photo = buf.getvalue()
    with httpx.Client(base_url=stack.url, headers={"x-api-key": KEY_A}, timeout=60) as client:
        def one(i: int) -> int:
            if i % 2:
                return client.post("/v1/stickers/text", json={"text": "مرحبا 🎉"}).status_code
            return client.post("/v1/stickers/image", files={"image": ("a.jpg", photo)}, data={"count": "1"}).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = Counter(pool.map(one, range(120)))
    assert codes == Counter({202: 120})
