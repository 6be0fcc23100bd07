"""Stickers from a prompt, end to end through the embedded local stack with ``STICKERS_GENERATOR=bedrock``
and the Bedrock Runtime endpoint pointed at a loopback stand-in (:class:`BedrockStandIn`, test-only,
never shipped): a prompt job submitted over HTTP goes through the worker, the generator client
(gpu_service.generation, over real HTTP with SigV4 signing), the segmentation model and the image
styles, and completes with die-cut stickers of the stand-in's "generated" picture (scikit-image's
chelsea, a real photo); a refused prompt fails at attempt 1 with ``PROMPT_REFUSED``. Also the
route's answers: 400 ``BAD_PROMPT``, 404 ``UPLOAD_NOT_FOUND``, 429 ``PROMPT_QUOTA_EXCEEDED``.
(501 ``GENERATION_UNAVAILABLE`` without a generator: tests/integration/test_prompt_route.py.)
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import httpx
import numpy as np
import pytest
from PIL import Image

from local_stack.stack import LocalStack, api_key_id
from tests.nova_canvas import INPUT_REFUSED, check_request

KEY, QUOTA_KEY = "prompt-key", "prompt-quota-key"
QUOTA = 4  # KEY submits four prompt jobs here
MODEL = "amazon.nova-canvas-v1:0"
#: A prompt the stand-in's "content filter" blocks.
REFUSED_WORD = "forbidden-subject"


def _chelsea_png() -> bytes:
    import skimage.data

    return (Path(skimage.data.__file__).resolve().parent / "chelsea.png").read_bytes()


class BedrockStandIn:
    """A loopback stand-in of the Bedrock Runtime endpoint: ``POST /model/<modelId>/invoke`` checks the
    body against Nova Canvas's documented schema (tests/nova_canvas.py) and answers the documented
    JSON with a real photo as the picture, or a ``ValidationException`` with the content filter's
    words for a prompt holding :data:`REFUSED_WORD`. Each request is recorded (path, headers, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict]] = []
        picture = base64.b64encode(_chelsea_png()).decode()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _answer(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.requests.append((self.path, dict(self.headers), body))
                if not re.fullmatch(r"/model/[^/]+/invoke", self.path):
                    self._answer(404, {"message": "not found"}, {"x-amzn-ErrorType": "ResourceNotFoundException"})
                    return
                check_request(body)
                params = body.get("textToImageParams") or body.get("imageVariationParams")
                if REFUSED_WORD in params.get("text", ""):
                    self._answer(400, {"message": INPUT_REFUSED}, {"x-amzn-ErrorType": "ValidationException"})
                    return
                self._answer(200, {"images": [picture]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stand_in() -> Iterator[BedrockStandIn]:
    server = BedrockStandIn()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(stand_in: BedrockStandIn) -> Iterator[LocalStack]:
    """The local stack with a Bedrock generator pointed at the stand-in, one in-process worker, and a
    prompt quota of :data:`QUOTA` a day."""
    # stand-ins for the real credentials the local stack keeps for Bedrock (signed, never checked); its
    # start replaces them in os.environ with the emulator's, as it does in every test package
    os.environ.update({"AWS_ACCESS_KEY_ID": "AKIDSTANDIN", "AWS_SECRET_ACCESS_KEY": "stand-in-secret"})
    os.environ.pop("AWS_SESSION_TOKEN", None)
    with pytest.MonkeyPatch.context() as env:  # the generator's variables do not outlive the start
        env.setenv("STICKERS_GENERATOR", "bedrock")
        env.setenv("STICKERS_BEDROCK_ENDPOINT_URL", stand_in.url)
        env.setenv("STICKERS_PROMPT_DAILY_QUOTA", str(QUOTA))
        running = LocalStack(workers=1, api_keys={KEY: api_key_id(KEY), QUOTA_KEY: api_key_id(QUOTA_KEY)}, burst_limit=1000, rate_limit_rps=1000)
        running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers={"x-api-key": KEY}, timeout=30) as client:
        yield client


def _wait(client: httpx.Client, job_id: str, timeout_s: float = 60) -> tuple[dict, list[int]]:
    seen: list[int] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        doc = client.get(f"/v1/jobs/{job_id}").json()
        seen.append(doc["progress"])
        if doc["status"] in ("completed", "failed"):
            return doc, seen
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {doc}")


def test_prompt_job_completes_through_worker_and_pipeline(api: httpx.Client, stand_in: BedrockStandIn) -> None:
    before = len(stand_in.requests)
    r = api.post("/v1/stickers/prompt", json={"prompt": "  a grey cat  ", "negativePrompt": "dogs", "seed": 7, "styles": ["classic", "outline"]})
    assert r.status_code == 202, r.text
    data = r.json()["data"]
    assert data["status"] == "queued" and data["styles"] == ["classic", "outline"]
    assert data["input"] == {"prompt": "a grey cat", "negativePrompt": "dogs", "referenceImages": 0, "seed": 7}
    doc, seen = _wait(api, data["jobId"])
    assert doc["status"] == "completed", doc
    assert doc["type"] == "prompt" and doc["attempts"] == 1 and doc["input"]["prompt"] == "a grey cat"
    assert seen == sorted(seen) and doc["progress"] == 100
    # the worker asked the stand-in once, signed, with a documented TEXT_IMAGE body
    path, headers, body = stand_in.requests[before]
    assert unquote(path) == f"/model/{MODEL}/invoke" and headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDSTANDIN/")
    assert body["taskType"] == "TEXT_IMAGE" and body["textToImageParams"]["text"].startswith("a grey cat")
    assert body["imageGenerationConfig"]["seed"] == 7 and body["textToImageParams"]["negativeText"].startswith("dogs")
    assert len(doc["stickers"]) == 2
    for url in doc["stickers"]:
        sticker = Image.open(io.BytesIO(httpx.get(url, timeout=10).content))
        alpha = np.asarray(sticker.convert("RGBA"))[..., 3]
        assert sticker.mode == "RGBA" and max(sticker.size) <= 512
        assert alpha[0, 0] == 0 and (alpha == 255).mean() > 0.1  # a die-cut subject on transparency
    listed = api.get("/v1/jobs").json()["jobs"]
    assert any(job["jobId"] == data["jobId"] and job["type"] == "prompt" for job in listed)
    assert api.delete(f"/v1/jobs/{data['jobId']}").status_code in (200, 204)
    assert api.get(f"/v1/jobs/{data['jobId']}").status_code == 404


def test_reference_images_make_an_image_variation(api: httpx.Client, stand_in: BedrockStandIn, stack: LocalStack) -> None:
    photo = _chelsea_png()
    slot = api.post("/v1/uploads", json={"contentType": "image/png", "contentLength": len(photo)}).json()
    assert httpx.post(slot["url"], data=slot["fields"], files={"file": ("c.png", photo, "image/png")}, timeout=30).status_code in (200, 201, 204)
    before = len(stand_in.requests)
    r = api.post("/v1/stickers/prompt", json={"prompt": "the same cat as a plush toy", "referenceImages": [slot["uploadId"]], "count": 1})
    assert r.status_code == 202, r.text
    doc, _ = _wait(api, r.json()["data"]["jobId"])
    assert doc["status"] == "completed" and doc["input"]["referenceImages"] == 1 and len(doc["stickers"]) == 1
    body = stand_in.requests[before][2]
    assert body["taskType"] == "IMAGE_VARIATION" and len(body["imageVariationParams"]["images"]) == 1


def test_refused_prompt_fails_at_once_with_prompt_refused(api: httpx.Client) -> None:
    r = api.post("/v1/stickers/prompt", json={"prompt": f"a {REFUSED_WORD}", "count": 1})
    assert r.status_code == 202, r.text
    doc, _ = _wait(api, r.json()["data"]["jobId"])
    assert doc["status"] == "failed" and doc["attempts"] == 1, doc
    assert doc["code"] == "PROMPT_REFUSED" and "content filter" in doc["error"]
    assert doc["stickers"] == [] and doc["progress"] == 10


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 400, "BAD_PROMPT", "prompt"),
        ({"prompt": "   "}, 400, "BAD_PROMPT", "prompt"),
        ({"prompt": "x" * 501}, 400, "BAD_PROMPT", "prompt"),
        ({"prompt": 5}, 400, "BAD_PROMPT", "prompt"),
        ({"prompt": "a cat", "negativePrompt": "y" * 501}, 400, "BAD_PROMPT", "negativePrompt"),
        ({"prompt": "a cat", "referenceImages": ["a", "b", "c", "d"]}, 400, "INVALID_REQUEST", "referenceImages"),
        ({"prompt": "a cat", "seed": -1}, 400, "INVALID_OPTION", "seed"),
        ({"prompt": "a cat", "styles": ["bubble"]}, 400, "UNKNOWN_STYLE", None),
        ({"prompt": "a cat", "referenceImages": ["00000000-0000-4000-8000-000000000000"]}, 404, "UPLOAD_NOT_FOUND", None),
    ],
)
def test_bad_requests(api: httpx.Client, body: dict, status: int, code: str, field: str | None) -> None:
    r = api.post("/v1/stickers/prompt", json=body)
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert field is None or r.json()["field"] == field


def test_another_keys_upload_is_not_found(api: httpx.Client, stack: LocalStack) -> None:
    slot = api.post("/v1/uploads", json={"contentType": "image/png"}).json()
    photo = _chelsea_png()
    assert httpx.post(slot["url"], data=slot["fields"], files={"file": ("c.png", photo, "image/png")}, timeout=30).status_code in (200, 201, 204)
    with httpx.Client(base_url=stack.url, headers={"x-api-key": QUOTA_KEY}, timeout=30) as other:
        r = other.post("/v1/stickers/prompt", json={"prompt": "a cat", "referenceImages": [slot["uploadId"]]})
    assert (r.status_code, r.json()["code"]) == (404, "UPLOAD_NOT_FOUND")


def test_cli_generate_prompt(stack: LocalStack, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from local_stack.cli import app

    reference = tmp_path / "ref.png"
    reference.write_bytes(_chelsea_png())
    args = ["generate", "--prompt", "a cat on a skateboard", "--negative-prompt", "dogs", "--reference", str(reference), "--seed", "3", "--count", "1"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out"), "--api-url", stack.url, "--api-key", KEY, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout[result.stdout.index("{") :])
    assert doc["status"] == "completed" and doc["input"] == {"prompt": "a cat on a skateboard", "negativePrompt": "dogs", "referenceImages": 1, "seed": 3}
    assert len(list((tmp_path / "out").iterdir())) == 1

def test_daily_quota(stack: LocalStack) -> None:
    with httpx.Client(base_url=stack.url, headers={"x-api-key": QUOTA_KEY}, timeout=30) as client:
        first = client.post("/v1/stickers/prompt", json={"prompt": "a cat", "count": 1}, headers={"Idempotency-Key": "quota-1"})
        again = client.post("/v1/stickers/prompt", json={"prompt": "a cat", "count": 1}, headers={"Idempotency-Key": "quota-1"})
        assert first.status_code == again.status_code == 202 and first.json() == again.json()  # a replay is not counted
        for prompt in [f"animal number {n}" for n in range(QUOTA - 1)]:
            assert client.post("/v1/stickers/prompt", json={"prompt": prompt, "count": 1}).status_code == 202
        over = client.post("/v1/stickers/prompt", json={"prompt": "a bird", "count": 1})
    assert over.status_code == 429 and over.json()["code"] == "PROMPT_QUOTA_EXCEEDED" and over.json()["quota"] == QUOTA



def test_quota_is_taken_atomically(stack: LocalStack) -> None:
    """Concurrent takes of one owner's day never pass the quota between them (one conditional UpdateItem each)."""
    from concurrent.futures import ThreadPoolExecutor

    from stickers_core.aws import resource
    from stickers_core.quota import PromptQuota, PromptQuotaExceeded

    quota = PromptQuota(resource("dynamodb").Table(stack.settings.table_name), daily_quota=5)

    def take(_: int) -> bool:
        try:
            quota.take("race-owner")
        except PromptQuotaExceeded:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(take, range(12)))
    assert taken.count(True) == 5
    quota.give_back("race-owner")
    assert take(0) and not take(0)
