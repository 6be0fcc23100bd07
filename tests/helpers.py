"""Helpers shared by tests (importable as `tests.helpers`)."""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from stickers_core.queue import JobMessage, JobQueue


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    """Encode a PIL image to bytes in `fmt`."""
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def receive(queue: JobQueue, job_id: str, timeout_s: float = 15.0) -> JobMessage:
    """Long-poll until a message of `job_id` is delivered (others are left to reappear).

    Raises:
        AssertionError: none within `timeout_s` seconds.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for m in queue.receive(max_messages=10, wait_s=1):
            if m.job_id == job_id:
                return m
    raise AssertionError(f"no message for {job_id} within {timeout_s} s")
