"""Live progress, the shared code (stickers_core.realtime) and the three functions' logic, on moto.

The protocol and its order key; the connections table (per-key bound, atomic under concurrency, stale
slots freed; per-connection subscription bound); the fan-out (only the job owner's subscriptions, never
an older state after a newer one, gone connections forgotten without breaking the others, a transient
failure rewound and retried only where it failed); stream records → documents; the notifier's batch
order (nothing after a failed record is sent before it); the WebSocket authorizer against a usage plan.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from stickers_core import limits, realtime
from stickers_core.models import Job, JobMetadata, JobType
from stickers_core.store import JobStore

moto = pytest.importorskip("moto")

REGION = "us-east-1"
#: Names of their own: moto's state is process-global.
CONNECTIONS = "realtime-test-connections"
JOBS = "realtime-test-jobs"
OWNER, OTHER = "owner-key-id", "other-key-id"
CDN = "https://cdn.example"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto in-process with the connections table and a jobs table as provisioned (with its stream)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    from stickers_core import aws as core_aws

    core_aws.reset()
    with moto.mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=CONNECTIONS, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )  # fmt: skip
        dynamodb.create_table(
            TableName=JOBS, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )  # fmt: skip
        yield dynamodb
    core_aws.reset()


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingPoster:
    """A :class:`realtime.Poster` that records what it sends; ids in `gone` are closed, ids in
    `failing` fail (transiently) that many more times."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.gone: set[str] = set()
        self.failing: dict[str, int] = {}
        self.lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> None:
        if connection_id in self.gone:
            raise realtime.ConnectionGone(connection_id)
        if self.failing.get(connection_id, 0) > 0:
            self.failing[connection_id] -= 1
            raise RuntimeError("throttled")
        with self.lock:
            self.sent.append((connection_id, json.loads(data)))

    def to(self, connection_id: str) -> list[dict[str, Any]]:
        return [m for c, m in self.sent if c == connection_id]


def store(aws: Any, **kwargs: Any) -> realtime.ConnectionStore:
    return realtime.ConnectionStore(CONNECTIONS, dynamodb=aws, **kwargs)


def doc(job_id: str, status: str, progress: int, attempts: int) -> dict[str, Any]:
    return {"success": True, "jobId": job_id, "status": status, "progress": progress, "attempts": attempts}


JOB = "0f8fad5b-d9cb-469f-a165-70867728950e"


# --- the protocol ----------------------------------------------------------------------------------------
def test_client_messages_parse_or_are_refused() -> None:
    assert realtime.parse_client_message('{"action": "unsubscribe", "jobId": "x"}') == realtime.ClientMessage("unsubscribe", "x")
    for bad in (None, "", "nope", "[]", '{"action": "subscribe"}', '{"action": "dance", "jobId": "x"}',
                '{"action": "subscribe", "jobId": 5}', json.dumps({"action": "subscribe", "jobId": "x" * 65})):  # fmt: skip
        with pytest.raises(realtime.InvalidMessage):
            realtime.parse_client_message(bad)
    assert realtime.error_message(realtime.JOB_NOT_FOUND, "j") == {"type": "error", "code": "JOB_NOT_FOUND", "message": "Job not found", "jobId": "j"}
    assert json.loads(realtime.encode(realtime.job_message({"a": "é"}))) == {"type": "job", "data": {"a": "é"}}


def test_every_transition_the_store_makes_raises_the_revision(aws: Any) -> None:
    """Walk a job through everything stickers_core.store can do to it, in an order it allows: the
    revision of each status document is larger than the one before."""
    jobs = JobStore(JOBS, dynamodb=aws)
    revisions = []

    def seen(job: Job | None = None, job_id: str = "") -> None:
        job = job or jobs.get(job_id)
        revisions.append(realtime.revision(job.status_document(CDN)))

    job = Job.new(owner_id=OWNER, type=JobType.TEXT, styles=["bubble"], metadata=JobMetadata(type=JobType.TEXT), text="hi")
    jobs.create(job)
    seen(job_id=job.job_id)
    jobs.claim(job.job_id, 1)
    seen(job_id=job.job_id)
    for p in (10, 50):
        jobs.set_progress(job.job_id, 1, p)
        seen(job_id=job.job_id)
    jobs.release_for_retry(job.job_id, 1, "worker crashed")  # back to queued, progress 0, attempts 1
    seen(job_id=job.job_id)
    jobs.claim(job.job_id, 2)
    seen(job_id=job.job_id)
    jobs.claim(job.job_id, 3)  # attempt 2 abandoned (its message reappeared): attempt 3 takes over
    seen(job_id=job.job_id)
    jobs.set_progress(job.job_id, 3, 90)
    seen(job_id=job.job_id)
    seen(jobs.complete(job.job_id, 3, ["stickers/x/1-bubble.png"], 10))
    assert revisions == sorted(set(revisions)), revisions

    other = Job.new(owner_id=OWNER, type=JobType.TEXT, styles=["bubble"], metadata=JobMetadata(type=JobType.TEXT), text="x")
    jobs.create(other)
    before = realtime.revision(jobs.get(other.job_id).status_document(CDN))
    assert realtime.revision(jobs.fail(other.job_id, "could not be queued").status_document(CDN)) > before  # type: ignore[union-attr]
    failed_from_active = Job.new(owner_id=OWNER, type=JobType.TEXT, styles=["bubble"], metadata=JobMetadata(type=JobType.TEXT), text="y")
    jobs.create(failed_from_active)
    jobs.claim(failed_from_active.job_id, 3)
    jobs.set_progress(failed_from_active.job_id, 3, 90)
    active = realtime.revision(jobs.get(failed_from_active.job_id).status_document(CDN))
    assert realtime.revision(jobs.fail(failed_from_active.job_id, "dead letter").status_document(CDN)) > active  # type: ignore[union-attr]


# --- the connections table ------------------------------------------------------------------------------
def test_connections_per_key_are_bounded_and_freed(aws: Any) -> None:
    s = store(aws, max_connections_per_key=3)
    assert all(s.connect(f"c{i}", OWNER) for i in range(3))
    assert not s.connect("c3", OWNER), "a fourth connection of the key is refused"
    assert s.connection("c3") is None, "a refused connection leaves no record"
    assert s.connect("x0", OTHER), "another key has its own bound"
    s.disconnect("c1")
    assert s.connect("c3", OWNER), "a disconnect frees its slot"
    assert s.connections_of(OWNER) == {"c0", "c2", "c3"}


def test_the_bound_holds_under_concurrent_connects(aws: Any) -> None:
    s = store(aws, max_connections_per_key=5)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda i=i: results.append(s.connect(f"c{i}", OWNER))) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 5 and len(s.connections_of(OWNER)) == 5


def test_a_connection_whose_disconnect_never_came_frees_its_slot_when_it_expires(aws: Any) -> None:
    clock = FakeClock()
    s = store(aws, max_connections_per_key=2, clock=clock)
    assert s.connect("old", OWNER)
    clock.now += limits.WS_CONNECTION_TTL_S - 60
    assert s.connect("newer", OWNER)
    assert not s.connect("third", OWNER), "both slots are live"
    clock.now += 120  # "old" is past API Gateway's 2-hour limit and its record's expiry
    assert s.connect("third", OWNER), "the expired connection's slot was freed"
    assert s.connections_of(OWNER) == {"newer", "third"}


def test_subscriptions_per_connection_are_bounded(aws: Any) -> None:
    s = store(aws, max_subscriptions=2)
    s.connect("c", OWNER)
    assert s.subscribe("c", OWNER, "j1") and s.subscribe("c", OWNER, "j2")
    assert s.subscribe("c", OWNER, "j2"), "subscribing again to a followed job is fine"
    assert not s.subscribe("c", OWNER, "j3")
    s.unsubscribe("c", "j1")
    assert s.subscribe("c", OWNER, "j3")
    with pytest.raises(LookupError):
        s.subscribe("c", OTHER, "j4")  # not this key's connection
    with pytest.raises(LookupError):
        s.subscribe("nobody", OWNER, "j4")
    assert {sub.connection_id for sub in s.subscribers("j3")} == {"c"}
    gone = s.disconnect("c")
    assert gone is not None and gone.jobs == frozenset({"j2", "j3"})
    assert s.subscribers("j2") == s.subscribers("j3") == [] and s.connections_of(OWNER) == set()
    assert s.disconnect("c") is None, "idempotent"


# --- the fan-out ----------------------------------------------------------------------------------------------
def test_publish_reaches_only_the_owners_subscriptions_and_never_goes_back(aws: Any) -> None:
    s, poster = store(aws), RecordingPoster()
    publisher = realtime.Publisher(s, poster)
    for cid, owner in (("mine-1", OWNER), ("mine-2", OWNER), ("theirs", OTHER)):
        s.connect(cid, owner)
        s.subscribe(cid, owner, JOB)  # a subscription of another key to this job (it cannot get one, but if it did)
    result = publisher.publish(OWNER, doc(JOB, "active", 30, 1))
    assert (result.sent, result.skipped, result.gone) == (2, 0, 0)
    assert poster.to("theirs") == [], "another key's subscription is never sent to"
    late = publisher.publish(OWNER, doc(JOB, "active", 10, 1))  # a stream record that arrives after a newer one
    again = publisher.publish(OWNER, doc(JOB, "active", 30, 1))  # a retried record
    assert late.sent == again.sent == 0 and late.skipped == again.skipped == 2
    publisher.publish(OWNER, doc(JOB, "completed", 100, 1))
    assert [m["data"]["progress"] for m in poster.to("mine-1")] == [30, 100]
    final = doc(JOB, "completed", 100, 1)
    s.subscribe("mine-1", OWNER, JOB)  # subscribing again starts over: the current state is sent again, once
    assert [publisher.deliver(JOB, "mine-1", realtime.encode(realtime.job_message(final)), realtime.revision(final)) for _ in "12"] == ["sent", "skipped"]


def test_a_gone_connection_is_forgotten_and_does_not_break_the_others(aws: Any) -> None:
    s, poster = store(aws), RecordingPoster()
    for cid in ("alive", "gone", "alive-2"):
        s.connect(cid, OWNER)
        s.subscribe(cid, OWNER, JOB)
        s.subscribe(cid, OWNER, "other-job")
    poster.gone.add("gone")
    result = realtime.Publisher(s, poster).publish(OWNER, doc(JOB, "active", 10, 1))
    assert (result.sent, result.gone) == (2, 1)
    assert {m[0] for m in poster.sent} == {"alive", "alive-2"}
    assert s.connection("gone") is None and "gone" not in s.connections_of(OWNER)
    assert {sub.connection_id for sub in s.subscribers("other-job")} == {"alive", "alive-2"}, "all its subscriptions went"


def test_a_transient_failure_is_rewound_and_retried_only_where_it_failed(aws: Any) -> None:
    s, poster = store(aws), RecordingPoster()
    publisher = realtime.Publisher(s, poster)
    for cid in ("a", "b"):
        s.connect(cid, OWNER)
        s.subscribe(cid, OWNER, JOB)
    publisher.publish(OWNER, doc(JOB, "active", 10, 1))
    poster.failing["b"] = 1
    with pytest.raises(RuntimeError):
        publisher.publish(OWNER, doc(JOB, "active", 50, 1))
    publisher.publish(OWNER, doc(JOB, "active", 50, 1))  # the stream record is retried
    assert [m["data"]["progress"] for m in poster.to("a")] == [10, 50]
    assert [m["data"]["progress"] for m in poster.to("b")] == [10, 50]


# --- stream records -------------------------------------------------------------------------------------------
def _record(event: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None, seq: str = "1") -> dict[str, Any]:
    ser = TypeSerializer()
    change: dict[str, Any] = {"SequenceNumber": seq, "StreamViewType": "NEW_AND_OLD_IMAGES", "Keys": {"jobId": {"S": (new or old or {})["jobId"]}}}
    if new is not None:
        change["NewImage"] = {k: ser.serialize(v) for k, v in new.items()}
    if old is not None:
        change["OldImage"] = {k: ser.serialize(v) for k, v in old.items()}
    return {"eventID": seq, "eventName": event, "eventSource": "aws:dynamodb", "dynamodb": change}


def _item(status: str = "active", progress: int = 10, attempts: int = 1) -> dict[str, Any]:
    job = Job.new(owner_id=OWNER, type=JobType.TEXT, styles=["bubble"], metadata=JobMetadata(type=JobType.TEXT), text="hi", job_id=JOB)
    return {**job.to_item(), "status": status, "progress": progress, "attempts": attempts}


def test_stream_records_become_documents_only_for_status_or_progress_changes() -> None:
    job = realtime.changed_job(_record("MODIFY", _item(progress=50), _item(progress=10)))
    assert job is not None and (job.job_id, job.owner_id, job.progress) == (JOB, OWNER, 50)
    assert job.status_document(CDN)["input"] == {"text": "hi", "keywords": []}
    assert realtime.changed_job(_record("INSERT", _item("queued", 0, 0))) is not None
    assert realtime.changed_job(_record("MODIFY", {**_item(), "error": "x"}, _item())) is None, "neither status nor progress changed"
    assert realtime.changed_job(_record("REMOVE", None, _item())) is None
    counters = {"jobId": f"COUNTERS#{OWNER}", "queued": 1, "active": 2}
    assert realtime.changed_job(_record("MODIFY", counters, {**counters, "active": 1})) is None


def test_the_notifier_keeps_each_jobs_order_within_a_batch(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch 10 → 50 → 90 whose second post fails: the handler reports the second and the third as
    failed and never sends 90 before 50; the retry from the second sends 50 then 90."""
    from functions.ws_notifier import app as notifier_app
    from local_stack.proxy_event import make_context
    from stickers_core.settings import Settings

    s, poster = store(aws), RecordingPoster()
    s.connect("c", OWNER)
    s.subscribe("c", OWNER, JOB)
    handler = notifier_app.create_handler(Settings(connections_table=CONNECTIONS, cdn_base_url=CDN), store=s, poster=poster)
    records = [_record("MODIFY", _item(progress=p), _item(progress=p - 1), seq=str(i)) for i, p in enumerate((10, 50, 90), 1)]
    real_post = poster.post

    def post_failing_once_on_50(connection_id: str, data: bytes) -> None:
        if json.loads(data)["data"]["progress"] == 50 and not getattr(post_failing_once_on_50, "failed", False):
            post_failing_once_on_50.failed = True  # type: ignore[attr-defined]
            raise RuntimeError("throttled")
        real_post(connection_id, data)

    monkeypatch.setattr(poster, "post", post_failing_once_on_50)
    ctx = make_context("r1", function_name="notifier", timeout_s=30)
    answer = handler({"Records": records}, ctx)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "3"}]}
    assert [m["data"]["progress"] for m in poster.to("c")] == [10]
    assert handler({"Records": records[1:]}, ctx) == {"batchItemFailures": []}
    assert [m["data"]["progress"] for m in poster.to("c")] == [10, 50, 90]


# --- the WebSocket authorizer ----------------------------------------------------------------------------------
def test_the_authorizer_allows_exactly_the_usage_plans_keys(aws: Any) -> None:
    from functions.ws_authorizer import app as authorizer

    apigw = boto3.client("apigateway", region_name=REGION)
    plan = apigw.create_usage_plan(name="stickers-test")["id"]
    other_plan = apigw.create_usage_plan(name="another-api")["id"]
    ours = apigw.create_api_key(name="ours", enabled=True, value="ours-key-value-0123456789")
    theirs = apigw.create_api_key(name="theirs", enabled=True, value="theirs-key-value-0123456789")
    apigw.create_usage_plan_key(usagePlanId=plan, keyId=ours["id"], keyType="API_KEY")
    apigw.create_usage_plan_key(usagePlanId=other_plan, keyId=theirs["id"], keyType="API_KEY")
    keys = authorizer.UsagePlanKeys(plan, client=apigw)
    arn = "arn:aws:execute-api:us-east-1:123456789012:abcdef/dev/$connect"

    allowed = authorizer.authorize({"queryStringParameters": {"key": ours["value"]}, "methodArn": arn}, keys)
    assert allowed["policyDocument"]["Statement"] == [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}]
    assert allowed["usageIdentifierKey"] == ours["value"], "API Gateway meters and throttles the connect under the key"
    assert allowed["context"] == {"apiKeyId": ours["id"]} and allowed["principalId"] == ours["id"]
    for query in ({"key": theirs["value"]}, {"key": "made-up"}, {}, None):
        denied = authorizer.authorize({"queryStringParameters": query, "methodArn": arn}, keys)
        assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny" and "usageIdentifierKey" not in denied, query


def test_a_failing_job_holds_back_only_its_own_later_records(aws: Any) -> None:
    """Two jobs in one batch: job 1's second post fails, job 2's records are all sent meanwhile; the
    batch answer names job 1's records from the failure on. A batch in which every record fails raises
    (Lambda then bisects it)."""
    from functions.ws_notifier import app as notifier_app
    from local_stack.proxy_event import make_context
    from stickers_core.settings import Settings

    s, poster = store(aws), RecordingPoster()
    other_job = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    for cid, job_id in (("one", JOB), ("two", other_job)):
        s.connect(cid, OWNER)
        s.subscribe(cid, OWNER, job_id)
    handler = notifier_app.create_handler(Settings(connections_table=CONNECTIONS, cdn_base_url=CDN), store=s, poster=poster)

    def item(job_id: str, progress: int) -> dict[str, Any]:
        return {**_item(progress=progress), "jobId": job_id}

    records, seq = [], 0
    for progress in (10, 50, 90):  # interleaved as the stream would deliver them
        for job_id in (JOB, other_job):
            seq += 1
            records.append(_record("MODIFY", item(job_id, progress), item(job_id, progress - 1), seq=str(seq)))
    poster.failing["one"] = 0
    real_post = poster.post

    def post(connection_id: str, data: bytes) -> None:
        if connection_id == "one" and json.loads(data)["data"]["progress"] == 50:
            raise RuntimeError("throttled")
        real_post(connection_id, data)

    poster.post = post  # type: ignore[method-assign]
    ctx = make_context("r1", function_name="notifier", timeout_s=30)
    answer = handler({"Records": records}, ctx)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "5"}]}, "job 1 from its 50 on"
    assert [m["data"]["progress"] for m in poster.to("one")] == [10]
    assert [m["data"]["progress"] for m in poster.to("two")] == [10, 50, 90]
    with pytest.raises(notifier_app.BatchFailed):
        handler({"Records": [records[2]]}, ctx)


def test_two_senders_of_one_subscription_post_in_revision_order(aws: Any) -> None:
    """The current state sent at subscribe (older) and the notifier's next change (newer) race: the one
    that raised the revision first posts first, the other waits for its sending lease (it failed as
    [10, 0] on the local stack before the lease)."""
    s = store(aws)
    s.connect("c1", OWNER)
    s.subscribe("c1", OWNER, JOB)
    in_post, proceed = threading.Event(), threading.Event()

    class SlowFirstPost(RecordingPoster):
        def post(self, connection_id: str, data: bytes) -> None:
            if not in_post.is_set():  # the first post (the current state) is slow on the wire
                in_post.set()
                assert proceed.wait(5)
            super().post(connection_id, data)

    poster = SlowFirstPost()
    publisher = realtime.Publisher(s, poster)
    current, change = doc(JOB, "queued", 0, 0), doc(JOB, "active", 10, 1)
    first = threading.Thread(target=publisher.deliver, args=(JOB, "c1", realtime.encode(realtime.job_message(current)), realtime.revision(current)))
    first.start()
    assert in_post.wait(5)
    second = threading.Thread(target=publisher.deliver, args=(JOB, "c1", realtime.encode(realtime.job_message(change)), realtime.revision(change)))
    second.start()
    second.join(0.3)
    assert second.is_alive(), "the newer message waits for the older one's lease"
    proceed.set()
    first.join(5)
    second.join(5)
    assert [m["data"]["progress"] for m in poster.to("c1")] == [0, 10]


def test_a_held_lease_past_the_wait_is_busy_and_a_dead_senders_lease_runs_out(aws: Any) -> None:
    s = store(aws)
    s.connect("c1", OWNER)
    s.subscribe("c1", OWNER, JOB)
    assert s.advance(JOB, "c1", 5)[0]  # taken and never released (a crashed sender)
    with pytest.raises(realtime.SubscriptionBusy):
        s.advance(JOB, "c1", 6, wait_s=0.1)
    assert s.advance(JOB, "c1", 3, wait_s=0.1) == (False, None), "an older revision is skipped, not awaited"
    s.release(JOB, "c1")
    assert s.advance(JOB, "c1", 8, lease_s=0.05)[0]
    import time as _time

    _time.sleep(0.1)  # the lease ran out: the next sender may go
    assert s.advance(JOB, "c1", 9, wait_s=0.0)[0]
