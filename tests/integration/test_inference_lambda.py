"""The CPU inference Lambda handler (functions/inference/app.py) behind the emulated SQS event source
mapping (local_stack/event_source.py), in this process, on the package's embedded stack.

Real queue messages become Lambda SQS events; the handler runs the GPU worker's per-message code; the
mapping deletes what the handler did not name in ``batchItemFailures``. Checked: completed, failed for
good, malformed and busy records in one batch (only the busy one reported), a transient failure
reported with the retry backoff as its visibility, records left unstarted when the invocation's time
cannot fit a job (visible again at once), and pollers bounded by the maximum concurrency.
A transient fault is injected by wrapping the real pipeline (its first text render raises).
"""

from __future__ import annotations

import importlib
import time

import httpx
import pytest

from local_stack.event_source import SqsEventSource, failed_ids, sqs_record
from stickers_core import limits
from stickers_core.models import JobStatus
from stickers_core.store import ClaimOutcome, JobStore

pytestmark = pytest.mark.usefixtures("drained")


@pytest.fixture(scope="module")
def app(stack):  # noqa: ANN001, ANN201
    """The handler module, initialised (cold init) against this package's stack."""
    module = importlib.import_module("functions.inference.app")
    if module.worker.settings.queue_url != stack.settings.queue_url:  # imported earlier against another stack
        module = importlib.reload(module)
    return module


def receive_all(stack, count: int, timeout_s: float = 15.0) -> list[dict]:  # noqa: ANN001
    """`count` messages of the jobs queue, received with every system attribute (as the mapping does)."""
    sqs, got = stack.aws.client("sqs"), {}
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=stack.settings.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     MessageSystemAttributeNames=["All"]).get("Messages", []):  # fmt: skip
            got[m["MessageId"]] = m
    assert len(got) == count, f"{len(got)} of {count} messages received"
    return list(got.values())


def job_of(stack, message: dict) -> str:  # noqa: ANN001
    from stickers_core.queue import parse_job_id

    return parse_job_id(message["Body"])


def status(api: httpx.Client, job_id: str) -> dict:
    return api.get(f"/v1/jobs/{job_id}").json()


def queue_depth(stack) -> tuple[int, int]:  # noqa: ANN001
    attrs = stack.aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.settings.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_failed_ids_reads_partial_batch_responses_as_lambda_does() -> None:
    ids = {"a", "b"}
    assert failed_ids({"batchItemFailures": []}, ids) == set()
    assert failed_ids(None, ids) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids) == {"b"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, ids) is None, "an unknown id fails the whole batch"
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids) is None


class FlakyOnce:
    """The real pipeline whose first text render raises (a transient fault)."""

    def __init__(self, real) -> None:  # noqa: ANN001
        self.real, self.raised = real, False

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.real, name)

    def render_text(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        if not self.raised:
            self.raised = True
            raise RuntimeError("simulated transient fault")
        return self.real.render_text(*args, **kwargs)


def test_one_batch_completed_failed_malformed_busy_and_retried_only_busy_and_retry_are_reported(stack, api, app, cat_photo, monkeypatch) -> None:  # noqa: ANN001
    sqs = stack.aws.client("sqs")
    completed = api.post("/v1/stickers/image", files={"image": ("cat.jpg", cat_photo)}, data={"styles": "classic,outline"}).json()["data"]["jobId"]
    gone = api.post("/v1/stickers/image", files={"image": ("cat.jpg", cat_photo)}).json()["data"]["jobId"]
    busy = api.post("/v1/stickers/text", json={"text": "busy"}).json()["data"]["jobId"]
    flaky = api.post("/v1/stickers/text", json={"text": "again"}).json()["data"]["jobId"]
    sqs.send_message(QueueUrl=stack.settings.queue_url, MessageBody="not a job message")
    store = JobStore(stack.settings.table_name)
    stack.aws.client("s3").delete_object(Bucket=stack.settings.uploads_bucket, Key=store.get(gone).upload_key)  # the photo vanished: permanent
    assert store.claim(busy, 1)[0] is ClaimOutcome.CLAIMED  # another consumer holds attempt 1 of this job
    monkeypatch.setattr(app.worker, "pipeline", FlakyOnce(app.worker.pipeline))  # the first text render fails (transient)
    messages = sorted(receive_all(stack, 5), key=lambda m: job_of(stack, m) != flaky)  # the flaky job's record first
    by_job = {job_of(stack, m): m["MessageId"] for m in messages}

    source = SqsEventSource(sqs, stack.settings.queue_url, app.handler, batch_size=10, max_concurrency=2)
    t_invoked = time.monotonic()
    left = source.invoke_batch(messages)

    assert left == {by_job[busy], by_job[flaky]}, "only the busy and the retried records are batch item failures"
    assert source.records_deleted == 3 and source.records_failed == 2 and source.errors == 0
    doc = status(api, completed)
    assert doc["status"] == "completed" and doc["attempts"] == 1 and len(doc["stickers"]) == 2, doc
    for url in doc["stickers"]:
        assert httpx.get(url, timeout=10).status_code == 200
    failed = status(api, gone)
    assert failed["status"] == "failed" and "no longer exists" in failed["error"], failed
    assert store.get(busy).status is JobStatus.ACTIVE, "the busy job is left to its holder"
    retried = status(api, flaky)
    assert retried["status"] == "queued" and retried["attempts"] == 1 and "attempt 1" in retried["error"], retried
    assert sum(queue_depth(stack)) == 2, "the two failed records stay on the queue; the others are deleted"
    # both reappear: the busy one when its 2 s visibility timeout ends, the retried one after the retry backoff
    again = {job_of(stack, m): m for m in receive_all(stack, 2, timeout_s=10)}
    assert set(again) == {busy, flaky} and time.monotonic() - t_invoked >= limits.RETRY_BACKOFF_S - 0.5
    assert SqsEventSource(sqs, stack.settings.queue_url, app.handler).invoke_batch([again[flaky]]) == set()
    doc = status(api, flaky)
    assert doc["status"] == "completed" and doc["attempts"] == 2, doc
    sqs.delete_message(QueueUrl=stack.settings.queue_url, ReceiptHandle=again[busy]["ReceiptHandle"])


def test_records_without_time_for_a_job_are_handed_back_unstarted(stack, api, app) -> None:  # noqa: ANN001
    jobs = [api.post("/v1/stickers/text", json={"text": f"t{i}"}).json()["data"]["jobId"] for i in range(3)]
    messages = receive_all(stack, 3)
    # a function timeout far below the job timeout: the first record runs (its budget cut), the others wait
    source = SqsEventSource(stack.aws.client("sqs"), stack.settings.queue_url, app.handler, batch_size=10, function_timeout_s=30)
    left = source.invoke_batch(messages)
    assert len(left) == 2 and messages[0]["MessageId"] not in left
    first = job_of(stack, messages[0])
    assert status(api, first)["status"] == "completed"
    for m in messages[1:]:
        doc = status(api, job_of(stack, m))
        assert doc["status"] == "queued" and doc["attempts"] == 0, "never claimed"
    again = receive_all(stack, 2, timeout_s=2)  # visible again at once (visibility 0), not after the timeout
    assert {m["MessageId"] for m in again} == left
    assert SqsEventSource(stack.aws.client("sqs"), stack.settings.queue_url, app.handler, batch_size=10).invoke_batch(again) == set()
    assert {status(api, j)["status"] for j in jobs} == {"completed"}


def test_pollers_respect_the_maximum_concurrency(stack, api, app) -> None:  # noqa: ANN001
    jobs = [api.post("/v1/stickers/text", json={"text": f"c{i}"}).json()["data"]["jobId"] for i in range(4)]
    source = SqsEventSource(stack.aws.client("sqs"), stack.settings.queue_url, app.handler, batch_size=1, max_concurrency=2)
    source.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and {status(api, j)["status"] for j in jobs} != {"completed"}:
            time.sleep(0.1)
    finally:
        source.stop()
    assert {status(api, j)["status"] for j in jobs} == {"completed"}
    assert 1 <= source.peak_concurrency <= 2 and source.records_deleted == 4 and source.invocations == 4


def test_sqs_record_has_lambdas_shape(stack) -> None:  # noqa: ANN001
    record = sqs_record({"MessageId": "m", "ReceiptHandle": "r", "Body": "{}", "Attributes": {"ApproximateReceiveCount": "1"}, "MD5OfBody": "x"},
                        "arn:aws:sqs:us-east-1:123456789012:q")  # fmt: skip
    assert record["eventSource"] == "aws:sqs" and record["attributes"]["ApproximateReceiveCount"] == "1"
    assert set(record) == {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"}


def test_the_local_mapping_defaults_are_what_the_cdk_stack_deploys(app) -> None:  # noqa: ANN001
    pytest.importorskip("aws_cdk", reason="the CDK app is not installed (pip install .[cdk])")
    from infra.config import StackConfig
    from infra.cpu_inference import FUNCTION_TIMEOUT_S, TIMEOUT_MARGIN_S
    from local_stack import event_source

    deployed = StackConfig()
    assert (event_source.DEFAULT_BATCH_SIZE, event_source.DEFAULT_MAX_CONCURRENCY, event_source.DEFAULT_MEMORY_MB) == (
        deployed.lambda_batch_size, deployed.lambda_max_concurrency, deployed.lambda_memory_mb)  # fmt: skip
    assert (event_source.DEFAULT_FUNCTION_TIMEOUT_S, event_source.FUNCTION_TIMEOUT_MARGIN_S) == (FUNCTION_TIMEOUT_S, TIMEOUT_MARGIN_S)
    assert FUNCTION_TIMEOUT_S - limits.JOB_TIMEOUT_S > app.SETTLE_MARGIN_S, "records start only while the job timeout + the margin is left"
