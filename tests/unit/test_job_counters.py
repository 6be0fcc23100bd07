"""Per-owner job counters (issue 12, item 6): ``GET /v1/stats`` reads one item, and every transition
is counted exactly once, through duplicates, late attempts, retries, dead letters and deletes.

The store runs against moto's DynamoDB (transactions and ``ADD`` included); calls are counted with
botocore's own event hooks, and the conflict retry is driven by botocore's Stubber.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from stickers_core import limits
from stickers_core.errors import ApiError, JobNotFound
from stickers_core.models import Job, JobMetadata, JobType
from stickers_core.queue import JobQueue
from stickers_core.service import StickerService
from stickers_core.settings import Settings
from stickers_core.storage import Storage
from stickers_core.store import COUNTERS_PREFIX, AttemptLost, ClaimOutcome, JobActive, JobStore, counters_key

moto = pytest.importorskip("moto")

REGION = "us-east-1"
#: Names of their own: moto's state is process-global and other packages run a local stack in it.
TABLE = "counters-test-jobs"
UPLOADS, STICKERS = "counters-test-uploads", "counters-test-stickers"
OWNER, OTHER = "owner-key-id", "other-key-id"


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[StickerService]:
    """A StickerService on moto: the jobs table as provisioned (pk jobId, GSI byOwner), a queue, buckets."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with moto.mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "jobId", "AttributeType": "S"},
                {"AttributeName": "ownerId", "AttributeType": "S"},
                {"AttributeName": "createdAt", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": limits.OWNER_INDEX_NAME,
                    "KeySchema": [{"AttributeName": "ownerId", "KeyType": "HASH"}, {"AttributeName": "createdAt", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (UPLOADS, STICKERS):
            s3.create_bucket(Bucket=bucket)
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="counters-test-jobs")["QueueUrl"]
        settings = Settings(table_name=TABLE, queue_url=queue_url, uploads_bucket=UPLOADS, stickers_bucket=STICKERS, cdn_base_url="https://cdn.example")
        yield StickerService(
            settings,
            store=JobStore(TABLE, dynamodb=dynamodb),
            queue=JobQueue(queue_url, sqs=sqs),
            storage=Storage(UPLOADS, STICKERS, s3=s3),
        )


def text_job(service: StickerService, owner: str = OWNER) -> str:
    return service.submit_text(owner, text="hi", keywords=None).job_id


def counts(service: StickerService, owner: str = OWNER) -> dict[str, int]:
    return service.stats(owner)["jobs"]


def expect(service: StickerService, owner: str = OWNER, **nonzero: int) -> None:
    want = {"queued": 0, "active": 0, "completed": 0, "failed": 0} | nonzero
    want["total"] = sum(v for k, v in want.items() if k != "total")
    assert counts(service, owner) == want


def dynamodb_calls(store: JobStore) -> list[tuple[str, dict[str, Any]]]:
    """Every DynamoDB operation the store's client sends from now on: (name, params), via botocore's
    ``before-call`` event (what goes on the wire, whatever code sent it)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, json.loads(params["body"])))  # the serialized request

    store.table.meta.client.meta.events.register("before-call.dynamodb", record)
    return calls


def test_counts_follow_every_transition(service: StickerService) -> None:
    store = service.store
    expect(service)
    done, retried, waiting = text_job(service), text_job(service), text_job(service)
    expect(service, queued=3)

    assert store.claim(done, 1)[0] is ClaimOutcome.CLAIMED
    expect(service, queued=2, active=1)
    store.set_progress(done, 1, 50)  # progress is not a transition
    expect(service, queued=2, active=1)
    store.complete(done, 1, [f"stickers/{done}/1-bubble.png"], 1200)
    expect(service, queued=2, completed=1)

    store.claim(retried, 1)
    assert store.release_for_retry(retried, 1, "Sticker rendering failed on attempt 1")
    expect(service, queued=2, completed=1)
    assert store.claim(retried, 2)[0] is ClaimOutcome.CLAIMED
    assert store.fail(retried, "cannot decode", attempt=2) is not None
    expect(service, queued=1, completed=1, failed=1)

    assert store.fail(waiting, "dead-lettered") is not None  # the dead-letter handler: no attempt
    expect(service, completed=1, failed=2)

    service.delete_job(OWNER, done)
    expect(service, failed=2)
    service.delete_job(OWNER, retried)
    service.delete_job(OWNER, waiting)
    expect(service)


def test_duplicates_and_late_attempts_are_counted_once(service: StickerService) -> None:
    store = service.store
    job_id = text_job(service)
    assert store.claim(job_id, 1)[0] is ClaimOutcome.CLAIMED
    assert store.claim(job_id, 1)[0] is ClaimOutcome.BUSY  # a duplicate delivery of the same attempt
    expect(service, active=1)

    # The worker died: the message reappeared, attempt 2 re-claims the active job (no count moves).
    claimed = store.claim(job_id, 2)
    assert claimed[0] is ClaimOutcome.CLAIMED and claimed[1].attempts == 2
    expect(service, active=1)
    with pytest.raises(AttemptLost):  # the replaced attempt finishes late
        store.complete(job_id, 1, ["late"], 1)
    assert not store.release_for_retry(job_id, 1, "late")
    assert store.fail(job_id, "late", attempt=1) is None
    expect(service, active=1)

    done = store.complete(job_id, 2, [f"stickers/{job_id}/1-bubble.png"], 900)
    assert done.status.value == "completed" and done.progress == 100 and done.error is None
    with pytest.raises(AttemptLost):
        store.complete(job_id, 2, ["again"], 1)
    assert store.claim(job_id, 3)[0] is ClaimOutcome.FINISHED  # redelivery after completion
    assert store.fail(job_id, "dead letter of a finished job") is None
    expect(service, completed=1)
    assert store.get(job_id).sticker_keys == [f"stickers/{job_id}/1-bubble.png"]


def test_delete_refusals_change_no_count(service: StickerService) -> None:
    store = service.store
    active, mine = text_job(service), text_job(service)
    text_job(service, OTHER)
    store.claim(active, 1)
    with pytest.raises(ApiError) as refused:
        service.delete_job(OWNER, active)
    assert refused.value.status == 409 and refused.value.code == "JOB_ACTIVE"
    with pytest.raises(JobActive):
        store.delete(active, OWNER)
    with pytest.raises(JobNotFound):
        service.delete_job(OTHER, mine)  # another key's job
    expect(service, queued=1, active=1)
    expect(service, OTHER, queued=1)

    service.delete_job(OWNER, mine)
    with pytest.raises(JobNotFound):
        service.delete_job(OWNER, mine)  # deleted twice: counted once
    expect(service, active=1)
    expect(service, OTHER, queued=1)


def test_stats_reads_one_item_however_many_jobs(service: StickerService) -> None:
    for _ in range(60):
        text_job(service)
    calls = dynamodb_calls(service.store)
    assert counts(service)["queued"] == 60
    assert [(name, params["Key"]) for name, params in calls] == [("GetItem", {"jobId": {"S": f"{COUNTERS_PREFIX}{OWNER}"}})]
    assert calls[0][1]["ConsistentRead"] is True


def test_each_transition_is_one_transaction_with_an_idempotency_token(service: StickerService) -> None:
    """The job write and the counter ADD go in one TransactWriteItems whose ClientRequestToken botocore
    fills, so botocore's retries of a transaction whose answer was lost cannot count twice."""
    calls = dynamodb_calls(service.store)
    job_id = text_job(service)
    service.store.claim(job_id, 1)
    transactions = [params for name, params in calls if name == "TransactWriteItems"]
    assert len(transactions) == 2 and all(params.get("ClientRequestToken") for params in transactions)
    put, add = transactions[0]["TransactItems"]
    assert put["Put"]["ConditionExpression"] == "attribute_not_exists(jobId)"
    assert add["Update"]["Key"] == {"jobId": {"S": f"{COUNTERS_PREFIX}{OWNER}"}}
    assert add["Update"]["UpdateExpression"].startswith("ADD ")
    claim = transactions[1]["TransactItems"][0]["Update"]
    assert claim["ConditionExpression"].startswith("#s = :from") and claim["ExpressionAttributeValues"][":from"] == {"S": "queued"}


def test_the_counters_item_is_no_job(service: StickerService) -> None:
    job_id = text_job(service)
    jobs, token = service.store.list_for_owner(OWNER, 100)
    assert [j.job_id for j in jobs] == [job_id] and token is None, "the counters item stays out of the byOwner index"
    assert service.list_jobs(OWNER, None, None)["jobs"][0]["jobId"] == job_id
    with pytest.raises(JobNotFound):
        service.status(OWNER, counters_key(OWNER)["jobId"])
    with pytest.raises(JobNotFound):
        service.delete_job(OWNER, counters_key(OWNER)["jobId"])
    assert service.store.claim(counters_key(OWNER)["jobId"], 1)[0] is ClaimOutcome.MISSING


def test_a_counter_below_zero_reads_zero(service: StickerService) -> None:
    """A job written before the counters existed (no ADD at its creation) then deleted."""
    job = Job.new(owner_id=OWNER, type=JobType.TEXT, styles=["bubble"], text="old", metadata=JobMetadata(type=JobType.TEXT))
    service.store.table.put_item(Item=job.to_item())
    service.delete_job(OWNER, job.job_id)
    assert service.store.table.get_item(Key=counters_key(OWNER))["Item"]["queued"] == -1
    expect(service)


def test_a_transaction_conflict_is_sent_again() -> None:
    """Two transitions of one owner's jobs meeting on the counters item: DynamoDB cancels one with
    ``TransactionConflict``; the store sends it again (nothing was written), and a condition failure
    is not retried."""
    resource = boto3.resource("dynamodb", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    store = JobStore(TABLE, dynamodb=resource)
    client = store.table.meta.client  # the client the store sends through (no network: stubbed)
    job = Job.new(owner_id=OWNER, type=JobType.TEXT, styles=["bubble"], text="hi", metadata=JobMetadata(type=JobType.TEXT))
    conflict = {"CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "conflict"}]}
    condition = {"CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "None"}]}
    with Stubber(client) as stub:
        stub.add_client_error("transact_write_items", "TransactionCanceledException", "Transaction cancelled", 400, modeled_fields=conflict)
        stub.add_client_error("transact_write_items", "TransactionCanceledException", "Transaction cancelled", 400, modeled_fields=conflict)
        stub.add_response("transact_write_items", {})
        store.create(job)
        stub.assert_no_pending_responses()

        stub.add_client_error("transact_write_items", "TransactionCanceledException", "Transaction cancelled", 400, modeled_fields=condition)
        with pytest.raises(Exception, match="ConditionalCheckFailedException"):
            store.create(job)
        stub.assert_no_pending_responses()
