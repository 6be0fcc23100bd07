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


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """The embedded stack with two API keys and a 2 s visibility timeout (fast redelivery)."""
    from local_stack.stack import api_key_id

    with LocalStack(workers=0, visibility_timeout_s=2, api_keys={KEY_A: api_key_id(KEY_A), KEY_B: api_key_id(KEY_B)}, burst_limit=1000, rate_limit_rps=1000) as running:
        yield running


@pytest.fixture(autouse=False)
def drained(stack: LocalStack) -> Iterator[LocalStack]:
    """The stack with an empty jobs queue and DLQ before and after the test."""
    sqs = stack.aws.client("sqs")
    for url in (stack.settings.queue_url, stack.settings.dlq_url):
        sqs.purge_queue(QueueUrl=url)
    yield stack
    for url in (stack.settings.queue_url, stack.settings.dlq_url):
        sqs.purge_queue(QueueUrl=url)


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
