"""One embedded stack (moto server + API front, no in-process workers) for the integration tests.

Workers are created by the tests themselves and driven message by message, so every delivery,
failure and retry happens exactly when the test says.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local_stack.stack import LocalStack

KEY_A, KEY_B = "key-alpha", "key-bravo"


@pytest.fixture(scope="package")
def stack() -> Iterator[LocalStack]:
    """The embedded stack with two API keys and a 2 s visibility timeout (fast redelivery)."""
    from local_stack.stack import api_key_id

    with LocalStack(workers=0, visibility_timeout_s=2, api_keys={KEY_A: api_key_id(KEY_A), KEY_B: api_key_id(KEY_B)}, burst_limit=1000, rate_limit_rps=1000) as running:
        yield running


@pytest.fixture(autouse=False)
def drained(stack: LocalStack) -> Iterator[LocalStack]:
    """The stack with an empty jobs queue and DLQ before and after the test."""
    _drain(stack)
    yield stack
    _drain(stack)


def _drain(stack: LocalStack) -> None:
    """Delete every visible message of the jobs queue (PurgeQueue is limited to once a minute)."""
    sqs = stack.aws.client("sqs")
    while True:
        messages = sqs.receive_message(QueueUrl=stack.settings.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return
        for m in messages:
            sqs.delete_message(QueueUrl=stack.settings.queue_url, ReceiptHandle=m["ReceiptHandle"])


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
