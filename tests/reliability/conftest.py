"""Fixtures of the reliability tests: one embedded stack per package, fake pipelines, process helpers.

moto's state is process-global, so this package has its own stack (like tests/integration), with a
2 s visibility timeout so redeliveries happen within a test.
"""

from __future__ import annotations

import io
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from PIL import Image, ImageDraw

from local_stack import processes
from local_stack.stack import LocalStack, api_key_id

KEY_A, KEY_B = "rel-key-alpha", "rel-key-bravo"
VISIBILITY_S = 2


@pytest.fixture(scope="package")
def stack() -> Iterator[LocalStack]:
    """The embedded stack, no in-process workers, two API keys, a 2 s visibility timeout."""
    keys = {KEY_A: api_key_id(KEY_A), KEY_B: api_key_id(KEY_B)}
    with LocalStack(workers=0, visibility_timeout_s=VISIBILITY_S, api_keys=keys, burst_limit=10_000, rate_limit_rps=10_000, daily_quota=10**7) as running:
        yield running


def drain_queue(stack: LocalStack) -> None:
    """Delete every message of the jobs queue, waiting out in-flight ones (PurgeQueue is limited to
    once a minute)."""
    sqs = stack.aws.client("sqs")
    deadline = time.monotonic() + VISIBILITY_S + 3
    while True:
        messages = sqs.receive_message(QueueUrl=stack.settings.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            in_flight = int(sqs.get_queue_attributes(QueueUrl=stack.settings.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])["Attributes"]["ApproximateNumberOfMessagesNotVisible"])
            if not in_flight or time.monotonic() > deadline:
                return
            time.sleep(0.25)
        for m in messages:
            sqs.delete_message(QueueUrl=stack.settings.queue_url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def drained(stack: LocalStack) -> Iterator[LocalStack]:
    """The stack with an empty jobs queue before and after the test."""
    drain_queue(stack)
    yield stack
    drain_queue(stack)


@pytest.fixture
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    """An HTTP client of the API with key A."""
    with httpx.Client(base_url=stack.url, headers={"x-api-key": KEY_A}, timeout=30) as client:
        yield client


@pytest.fixture
def api_b(stack: LocalStack) -> Iterator[httpx.Client]:
    """An HTTP client of the API with key B (another tenant)."""
    with httpx.Client(base_url=stack.url, headers={"x-api-key": KEY_B}, timeout=30) as client:
        yield client


def wait_status(client: httpx.Client, job_id: str, statuses: tuple[str, ...] = ("completed", "failed"), timeout_s: float = 60, every_s: float = 0.1) -> dict:
    """Poll a job until its status is one of `statuses`; returns the status document."""
    deadline, doc = time.monotonic() + timeout_s, {}
    while time.monotonic() < deadline:
        doc = client.get(f"/v1/jobs/{job_id}").json()
        if doc.get("status") in statuses:
            return doc
        time.sleep(every_s)
    raise AssertionError(f"job {job_id} not {statuses} within {timeout_s} s: {doc}")


def synthetic_photo(width: int, height: int, fmt: str = "JPEG") -> bytes:
    """A photo-like test image made here: a bright disc (the subject) on a textured background."""
    img = Image.radial_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(img)
    r = min(width, height) // 3
    draw.ellipse((width // 2 - r, height // 2 - r, width // 2 + r, height // 2 + r), fill=(230, 90, 40))
    buf = io.BytesIO()
    img.save(buf, fmt, quality=90) if fmt == "JPEG" else img.save(buf, fmt)
    return buf.getvalue()


class SlowPipeline:
    """A stand-in renderer: every render calls each milestone after `step_s` seconds and returns tiny PNGs.

    `calls` counts renders; `started` is set when a render begins (so tests can act mid-job).
    """

    MILESTONES = {"image": (30, 40, 70), "text": (50,)}

    def __init__(self, step_s: float = 0.0) -> None:
        self.step_s, self.calls = step_s, 0
        self.started = threading.Event()
        self._png = _tiny_png()

    def _render(self, kind: str, styles: list[str], on_progress: Callable[[int], None]) -> list:
        from gpu_service.pipeline.pipeline import RenderedSticker

        self.calls += 1
        self.started.set()
        for value in self.MILESTONES[kind]:
            time.sleep(self.step_s)
            on_progress(value)
        return [RenderedSticker(index=i, style=s, png=self._png, width=8, height=8) for i, s in enumerate(styles, 1)]

    def render_image(self, image, styles, on_progress=lambda _: None, **_: object):  # noqa: ANN001, ANN201
        return self._render("image", list(styles), on_progress)

    def render_text(self, text, keywords, styles, on_progress=lambda _: None, **_: object):  # noqa: ANN001, ANN201
        return self._render("text", list(styles), on_progress)


def _tiny_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (8, 8), (255, 0, 0, 255)).save(buf, "PNG")
    return buf.getvalue()


def sticker_count(stack: LocalStack, job_id: str) -> int:
    """Objects under ``stickers/<jobId>/`` in the stickers bucket."""
    s3 = stack.aws.client("s3")
    page = s3.list_objects_v2(Bucket=stack.settings.stickers_bucket, Prefix=f"stickers/{job_id}/")
    return page.get("KeyCount", 0)


# --- processes: `stickers local` and `stickers worker --attach` --------------------------------------------
def start_local(*extra: str, keys: str = KEY_A, log: io.TextIOBase | int = subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    """Start `stickers local` on a free port with key A (see :func:`local_stack.processes.start_local`)."""
    return processes.start_local(*extra, keys=keys, log=log)


def start_worker(url: str, env: dict[str, str] | None = None, log: io.TextIOBase | int = subprocess.DEVNULL) -> subprocess.Popen:
    """Start `stickers worker --attach URL` (its own process, its own model session)."""
    return processes.start_worker(url, env=env, log=log)


stop_process = processes.stop_process
