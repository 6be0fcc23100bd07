"""A job that fails its last attempt reaches the dead-letter queue, and the dead-letter handler sends its
webhook: one signed POST of the final (failed) status document, like a job that ends in the worker."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest

from gpu_service.pipeline import StickerPipeline
from tests.helpers import receive
from tests.integration.test_api_full import Receiver
from tests.integration.test_worker import FlakyPipeline, make_worker, submit_photo

pytestmark = pytest.mark.usefixtures("drained")


@pytest.fixture(scope="module")
def pipeline() -> StickerPipeline:
    return StickerPipeline()


def test_a_dead_lettered_job_posts_its_signed_failed_status(stack, api: httpx.Client, pipeline, cat_photo) -> None:  # noqa: ANN001
    receiver = Receiver(204)
    try:
        job_id = submit_photo(api, cat_photo, styles="classic", callbackUrl=receiver.url)
        flaky = FlakyPipeline(pipeline, failures=99)
        worker = make_worker(stack, flaky)
        for attempt in (1, 2, 3):
            message = receive(worker.queue, job_id)
            assert message.attempt == attempt
            worker.handle(message)
        assert not receiver.calls, "attempts that will be retried send no webhook"
        # The fourth receive moves the message to the DLQ; the local stack's DeadLetterPoller hands it to
        # functions/dead_letters/app.py, which fails the job and then delivers the webhook.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not receiver.got.is_set():
            worker.queue.receive(max_messages=10, wait_s=1)
        assert receiver.got.wait(5), "no webhook from the dead-letter handler"
        time.sleep(0.5)  # a second POST, if there were one, would arrive now
    finally:
        receiver.close()

    assert len(receiver.calls) == 1, "one POST: the receiver answered 204"
    headers, body = receiver.calls[0]
    secret = api.get("/v1/webhooks/secret").json()["secret"]
    signed = headers["x-sticker-timestamp"].encode() + b"." + body  # the signature covers "{timestamp}.{raw body}"
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-sticker-signature"], expected)
    assert headers["x-sticker-event"] == "job.failed" and headers["x-sticker-job-id"] == job_id
    doc = json.loads(body)
    assert doc["jobId"] == job_id and doc["status"] == "failed" and doc["attempts"] == 3
    assert doc["error"] == "Sticker rendering failed on attempt 3"
    assert doc == api.get(f"/v1/jobs/{job_id}").json(), "the webhook carries the job's final status document"
    assert flaky.calls == 3
