"""Hostile input against the embedded stack: every case of :mod:`tests.reliability.corpus` gets its
4xx in the contract's shape, or — odd but valid — is accepted and completes; no 5xx, ever; the worker
never dies, and the stack still serves afterwards.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from gpu_service.worker import Worker
from local_stack.gateway import TOO_LARGE_DOCUMENT
from stickers_core.errors import ERROR_CODES
from tests.reliability.conftest import KEY_A, wait_status
from tests.reliability.corpus import Case, corpus

CASES = corpus()
STATUSES: list[tuple[str, int]] = []  # every response of the module: (case id, status)


@pytest.fixture(scope="module")
def worker(stack) -> Iterator[threading.Thread]:  # noqa: ANN001
    """One real worker (the real pipeline) consuming the package stack's queue for this module."""
    stop = threading.Event()
    thread = threading.Thread(target=Worker(stack.settings, receive_wait_s=1, name="hostile").run, args=(stop,), daemon=True)
    thread.start()
    yield thread
    stop.set()
    thread.join(30)


def send(stack, case: Case) -> tuple[int, bytes, dict[str, str]]:  # noqa: ANN001
    """Send `case` with its path exactly as written (no client-side normalisation of `..` or `%2e`)."""
    headers = {"x-api-key": KEY_A}
    if case.files is not None:
        request = httpx.Request(case.method, f"{stack.url}{case.path}", files=case.files, data=case.data, headers=headers)
        body, headers = request.read(), dict(request.headers)
    elif case.raw is not None:
        body, headers = case.raw, {**headers, "content-type": case.content_type or ""}
    elif case.method == "POST":
        body, headers = json.dumps(case.json_body).encode(), {**headers, "content-type": "application/json"}
    else:
        body = b""
    url = urlsplit(stack.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.putrequest(case.method, case.path, skip_accept_encoding=True)
        for k, v in headers.items():
            if k.lower() not in ("host", "content-length"):
                conn.putheader(k, v)
        conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_case(stack, worker, case: Case) -> None:  # noqa: ANN001
    status, raw, headers = send(stack, case)
    STATUSES.append((case.id, status))
    assert status < 500, f"{case.id}: {status} {raw[:300]!r}"
    body = json.loads(raw)
    if case.expect == "GATEWAY_413":
        assert status == 413 and body == TOO_LARGE_DOCUMENT, "the stack's REQUEST_TOO_LARGE gateway response"
        return
    if case.expect == "COMPLETED":
        assert status == 202, f"{case.id}: {status} {body}"
        job_id = body["data"]["jobId"]
        with httpx.Client(base_url=stack.url, headers={"x-api-key": KEY_A}, timeout=30) as client:
            doc = wait_status(client, job_id, timeout_s=120, every_s=0.2)
        assert doc["status"] == "completed", f"{case.id}: {doc}"
        assert doc["attempts"] == 1 and len(doc["stickers"]) == doc["count"]
        check_valid_case(case.id, doc)
        return
    assert status == ERROR_CODES[case.expect], f"{case.id}: {status} {body}"
    assert body["success"] is False and body["code"] == case.expect and isinstance(body["error"], str) and body["error"], body
    assert headers.get("x-request-id")
    assert "Traceback" not in raw.decode("utf-8", "replace")


def check_valid_case(case_id: str, doc: dict) -> None:
    """Extra checks of some odd-but-valid cases."""
    if case_id == "exif-rotated-jpeg":
        assert doc["metadata"]["dimensions"] == {"width": 240, "height": 320, "format": "jpeg"}, "EXIF orientation applied"
        cutout = httpx.get(doc["stickers"][1], timeout=30)
        import io

        from PIL import Image

        assert Image.open(io.BytesIO(cutout.content)).size == (240, 320), "the full-resolution cutout is upright"
    if case_id == "path-trick-filename":
        assert doc["metadata"]["originalName"] == "passwd.jpg" or "/" not in doc["metadata"]["originalName"]
    if case_id == "png-bytes-named-gif":
        assert doc["metadata"]["dimensions"]["format"] == "png", "type decided from the bytes"


def test_after_the_corpus_no_5xx_and_the_stack_still_serves(stack, worker, cat_photo) -> None:  # noqa: ANN001
    assert len(STATUSES) == len(CASES), "run with the whole corpus"
    assert [s for s in STATUSES if s[1] >= 500] == []
    assert worker.is_alive(), "the worker survived every case"
    with httpx.Client(base_url=stack.url, headers={"x-api-key": KEY_A}, timeout=30) as client:
        r = client.post("/v1/stickers/image", files={"image": ("cat.jpg", cat_photo)}, data={"styles": "classic,outline"})
        assert r.status_code == 202
        t0 = time.monotonic()
        doc = wait_status(client, r.json()["data"]["jobId"], timeout_s=60)
        assert doc["status"] == "completed" and len(doc["stickers"]) == 2, doc
        print(f"normal job after the corpus: {time.monotonic() - t0:.1f} s")
