"""Two embedded stacks, one after the other, in one process (as the test suite and `stickers demo` do):
the second gets new execution environments for the in-process Lambda handlers, never clients that
still point at the first stack's emulator (found under pytest-xdist: the dead-letter handler kept the
first stack's endpoint, its poller thread died on the refused connection, and a dead-lettered job of
the second stack stayed `queued`). Stopping a stack also puts ``os.environ`` back as it was.

It lives outside tests/integration on purpose: the stacks of one process share moto's state and the
in-process handler modules, so a stack started while another one is serving (that package's shared
stack) would have both dead-letter pollers on one queue — not a situation the product has."""

from __future__ import annotations

import os
import sys
import time

import httpx

from local_stack.stack import LocalStack, inference_handler
from stickers_core.queue import parse_job_id

KEY = "restart-key"


def _dead_letter_one_job(stack: LocalStack) -> str:
    """Queue a text job, then move its message to the dead-letter queue as SQS's redrive does."""
    with httpx.Client(base_url=stack.url, headers={"x-api-key": KEY}, timeout=30) as api:
        job_id = api.post("/v1/stickers/text", json={"text": "restart"}).json()["data"]["jobId"]
    sqs = stack.aws.client("sqs")  # the queue may hold other tests' messages (moto's state is the process's)
    deadline = time.monotonic() + 10
    while True:
        assert time.monotonic() < deadline, "the job's message never came"
        messages = sqs.receive_message(QueueUrl=stack.settings.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        message = next((m for m in messages.get("Messages", []) if parse_job_id(m["Body"]) == job_id), None)
        if message is not None:
            break
    sqs.send_message(QueueUrl=stack.settings.dlq_url, MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=stack.settings.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return job_id


def _status(stack: LocalStack, job_id: str, want: str, timeout_s: float = 20) -> str:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=stack.url, headers={"x-api-key": KEY}, timeout=30) as api:
        while True:
            status = api.get(f"/v1/jobs/{job_id}").json()["status"]
            if status == want or time.monotonic() > deadline:
                return status
            time.sleep(0.2)


def test_a_second_stack_gets_fresh_dead_letter_and_inference_environments() -> None:
    before = dict(os.environ)
    for _ in range(2):
        with LocalStack(workers=0, api_keys={KEY: "owner-restart"}) as stack:
            assert _status(stack, _dead_letter_one_job(stack), "failed") == "failed"
            inference_handler()  # what the stack's emulated event source mapping calls at its first batch
            worker = sys.modules["functions.inference.app"].worker
            assert worker.queue.queue_url == stack.settings.queue_url and worker.settings.table_name == stack.settings.table_name
        assert dict(os.environ) == before, "the stack undid what it changed in the process environment"
