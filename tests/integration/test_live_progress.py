"""Live progress over WebSocket on the embedded stack: real sockets on the API front's ``/ws``, the real
connection handler, the jobs table's stream read by the poller into the real notifier handler, which
posts through boto3's ``apigatewaymanagementapi`` client back to the API front.

What a caller relies on (docs/api.md, "Live progress over WebSocket"): a key's subscriber receives its
job's status documents in order, ending with the final state (the same document as
``GET /v1/jobs/{jobId}``); another key's subscription gets ``JOB_NOT_FOUND`` and nothing else; a bad or
missing key cannot connect; connections per key are bounded; a connection that went away without
``$disconnect`` is forgotten when a post finds it gone, without breaking the fan-out to the others; a
client that stops reading is dropped without holding up the others; 20 sockets each see every
milestone of their own job.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from gpu_service.pipeline import StickerPipeline
from gpu_service.worker import Worker
from local_stack.stack import LocalStack, api_key_id
from stickers_core import realtime
from stickers_core.store import JobStore
from tests.helpers import receive
from tests.integration.conftest import KEY_A, KEY_B

pytestmark = pytest.mark.usefixtures("drained")
FINAL = ("completed", "failed")


class Subscriber:
    """A WebSocket client of the stack, collecting what it receives in a background thread."""

    def __init__(self, stack: LocalStack, key: str) -> None:
        self.ws: ClientConnection = connect(f"{stack.ws_url}?key={key}", proxy=None, open_timeout=10).__enter__()
        self.messages: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                with self.arrived:
                    self.messages.append(json.loads(raw))
                    self.arrived.notify_all()
        except Exception:  # noqa: BLE001 - closed
            pass

    def send(self, **message: Any) -> None:
        self.ws.send(json.dumps(message))

    def wait_for(self, predicate: Any, timeout_s: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        with self.arrived:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; received {self.messages}")
                self.arrived.wait(left)
            return list(self.messages)

    def until_final(self, job_id: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        return [m["data"] for m in self.wait_for(lambda ms: any(_final(m, job_id) for m in ms), timeout_s) if m["type"] == "job"]

    def close(self) -> None:
        self.ws.close()


def _final(message: dict[str, Any], job_id: str) -> bool:
    return message["type"] == "job" and message["data"]["jobId"] == job_id and message["data"]["status"] in FINAL


@pytest.fixture
def subscribers(stack: LocalStack) -> Iterator[Any]:
    opened: list[Subscriber] = []

    def open_(key: str) -> Subscriber:
        sub = Subscriber(stack, key)
        opened.append(sub)
        return sub

    yield open_
    for sub in opened:
        sub.close()


@pytest.fixture(scope="module")
def pipeline() -> StickerPipeline:
    return StickerPipeline()


def text_job(api: httpx.Client, text: str = "Live!") -> str:
    r = api.post("/v1/stickers/text", json={"text": text, "styles": ["bubble"]})
    assert r.status_code == 202, r.text
    return r.json()["data"]["jobId"]


def steps(documents: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [(d["status"], d["progress"], d["attempts"]) for d in documents]


# --- order and final state ---------------------------------------------------------------------------------
def test_a_subscriber_receives_every_change_of_its_image_job_in_order(stack, api, subscribers, pipeline, cat_photo) -> None:  # noqa: ANN001
    r = api.post("/v1/stickers/image", files={"image": ("cat.jpg", cat_photo)}, data={"styles": "classic,outline"})
    job_id = r.json()["data"]["jobId"]
    sub = subscribers(KEY_A)
    sub.send(action="subscribe", jobId=job_id)
    sub.wait_for(lambda ms: len(ms) >= 1)  # the current state first
    worker = Worker(stack.settings, pipeline, receive_wait_s=1)
    worker.handle(receive(worker.queue, job_id))

    documents = sub.until_final(job_id)
    assert steps(documents) == [("queued", 0, 0), ("active", 0, 1), ("active", 10, 1), ("active", 30, 1), ("active", 40, 1),
                                ("active", 70, 1), ("active", 90, 1), ("completed", 100, 1)]  # fmt: skip
    assert documents[-1] == api.get(f"/v1/jobs/{job_id}").json(), "the last message is the final status document"
    time.sleep(0.5)
    assert len(sub.messages) == len(documents), "nothing after the final state"


class FailingOnce:
    """The real pipeline, whose first text render raises (a transient fault: the job is retried)."""

    def __init__(self, real: StickerPipeline) -> None:
        self.real, self.calls = real, 0

    def render_text(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return self.real.render_text(*args, **kwargs)


def test_a_retried_job_is_followed_through_both_attempts(stack, api, subscribers, pipeline) -> None:  # noqa: ANN001
    job_id = text_job(api, "Twice")
    sub = subscribers(KEY_A)
    sub.send(action="subscribe", jobId=job_id)
    sub.wait_for(lambda ms: len(ms) >= 1)
    flaky = FailingOnce(pipeline)
    worker = Worker(stack.settings, flaky, receive_wait_s=1)
    worker.handle(receive(worker.queue, job_id))  # attempt 1 fails: the job goes back to queued
    worker.handle(receive(worker.queue, job_id, timeout_s=30))  # redelivered after the backoff: attempt 2
    documents = sub.until_final(job_id)
    revisions = [realtime.revision(d) for d in documents]
    assert revisions == sorted(set(revisions)), steps(documents)
    assert ("queued", 0, 1) in steps(documents) and documents[-1]["status"] == "completed" and documents[-1]["attempts"] == 2
    for attempt in (1, 2):
        progress = [d["progress"] for d in documents if d["attempts"] == attempt and d["status"] == "active"]
        assert progress == sorted(progress), "progress never goes backwards within an attempt"


# --- isolation and keys ----------------------------------------------------------------------------------
def test_another_keys_subscription_gets_job_not_found_and_nothing_else(stack, api, subscribers) -> None:  # noqa: ANN001
    job_id = text_job(api)
    mine, theirs = subscribers(KEY_A), subscribers(KEY_B)
    theirs.send(action="subscribe", jobId=job_id)
    assert theirs.wait_for(lambda ms: len(ms) >= 1) == [
        {"type": "error", "code": "JOB_NOT_FOUND", "message": "Job not found", "jobId": job_id}
    ]
    mine.send(action="subscribe", jobId=job_id)
    mine.wait_for(lambda ms: len(ms) >= 1)
    jobs = JobStore(stack.settings.table_name)
    jobs.claim(job_id, 1)
    jobs.set_progress(job_id, 1, 50)
    jobs.complete(job_id, 1, [], 5)
    assert steps(mine.until_final(job_id))[-1] == ("completed", 100, 1)
    time.sleep(0.5)
    assert len(theirs.messages) == 1, "the other key never receives the job's changes"
    theirs.send(action="subscribe", jobId="not-a-job-id")
    theirs.send(action="dance")
    assert [m.get("code") for m in theirs.wait_for(lambda ms: len(ms) >= 3)[1:]] == ["JOB_NOT_FOUND", "INVALID_MESSAGE"]


def test_a_bad_or_missing_key_cannot_connect(stack) -> None:  # noqa: ANN001
    for query in ("?key=not-a-key", "", "?key="):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{stack.ws_url}{query}", proxy=None, open_timeout=5)
        assert refused.value.response.status_code == 403, query
        assert json.loads(refused.value.response.body) == {"message": "Forbidden"}


def test_connections_per_key_are_bounded(stack, subscribers) -> None:  # noqa: ANN001
    from functions.ws_connections.app import create_handler

    original = stack._ws_handler
    stack._ws_handler = create_handler(stack.settings.model_copy(update={"ws_max_connections_per_key": 2}))
    try:
        first, second = subscribers(KEY_A), subscribers(KEY_A)
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{stack.ws_url}?key={KEY_A}", proxy=None, open_timeout=5)
        assert refused.value.response.status_code == 429
        assert subscribers(KEY_B), "another key is not affected"
        first.close()
        deadline = time.monotonic() + 5
        while True:  # the $disconnect frees the slot
            try:
                with connect(f"{stack.ws_url}?key={KEY_A}", proxy=None, open_timeout=5):
                    break
            except InvalidStatus:
                assert time.monotonic() < deadline, "the closed connection's slot was not freed"
                time.sleep(0.1)
        assert second.ws.state.name == "OPEN"
    finally:
        stack._ws_handler = original


# --- connections that go away ----------------------------------------------------------------------------
def test_a_gone_connection_is_removed_and_does_not_break_the_fan_out(stack, api, subscribers) -> None:  # noqa: ANN001
    """A connection whose $disconnect never arrived (AWS documents it as best effort): its records say
    it follows the job, but API Gateway answers 410 for it. The notifier forgets it and the live
    subscriber still gets every change."""
    job_id = text_job(api)
    connections = realtime.ConnectionStore(stack.settings.connections_table)
    owner = api_key_id(KEY_A)
    ghost = "GhostGhostGhost="
    assert connections.connect(ghost, owner) and connections.subscribe(ghost, owner, job_id)
    live = subscribers(KEY_A)
    live.send(action="subscribe", jobId=job_id)
    live.wait_for(lambda ms: len(ms) >= 1)
    jobs = JobStore(stack.settings.table_name)
    jobs.claim(job_id, 1)
    for p in (10, 50, 90):
        jobs.set_progress(job_id, 1, p)
    jobs.complete(job_id, 1, [], 5)
    assert steps(live.until_final(job_id)) == [("queued", 0, 0), ("active", 0, 1), ("active", 10, 1), ("active", 50, 1),
                                                ("active", 90, 1), ("completed", 100, 1)]  # fmt: skip
    assert connections.connection(ghost) is None, "the gone connection's record was removed"
    assert ghost not in connections.connections_of(owner), "and its slot freed"
    assert [s.connection_id for s in connections.subscribers(job_id)] != [] and all(
        s.connection_id != ghost for s in connections.subscribers(job_id)
    )


def _raw_handshake(stack: LocalStack, key: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads (a tiny receive buffer)."""
    host, port = stack.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(
        f"GET /ws?key={key} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_client_that_stops_reading_is_dropped_without_holding_up_the_others(stack, subscribers) -> None:  # noqa: ANN001
    front = stack.websocket
    saved = front.send_queue_max
    front.send_queue_max = 4
    try:
        before = set(front.connection_ids)
        slow = _raw_handshake(stack, KEY_A)
        fast = subscribers(KEY_B)
        deadline = time.monotonic() + 5
        while len(set(front.connection_ids) - before) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        by_key = {front._get(c).key_id: c for c in set(front.connection_ids) - before}
        slow_id, fast_id = by_key[api_key_id(KEY_A)], by_key[api_key_id(KEY_B)]
        management = httpx.Client(base_url=stack.url, timeout=5)
        payload = json.dumps({"type": "job", "data": {"pad": "x" * 60_000}}).encode()
        statuses = []
        for i in range(200):  # the slow client's socket buffers fill, then its 4-message queue
            statuses.append(management.post(f"/@connections/{quote(slow_id, safe='')}", content=payload).status_code)
            assert management.post(f"/@connections/{fast_id}", content=b'{"n": %d}' % i).status_code == 200  # ids may hold "/": sent as is
            # the reading client reads each message before the next (on a loaded 2-core machine its reader
            # thread can otherwise fall 4 messages behind and be dropped as a slow client, rightly)
            fast.wait_for(lambda ms, sent=i + 1: len(ms) >= sent, timeout_s=5)
            if statuses[-1] == 410:
                break
        assert statuses[-1] == 410 and statuses.count(200) >= 4, statuses
        received = fast.wait_for(lambda ms: len(ms) == len(statuses), timeout_s=5)
        assert [m["n"] for m in received] == list(range(len(statuses))), "the reading client got every message, in order"
        assert management.post(f"/@connections/{slow_id}", content=b"{}").status_code == 410, "dropped for good"
        assert management.get(f"/@connections/{fast_id}").json()["identity"]["sourceIp"] == "127.0.0.1"
        deadline = time.monotonic() + 5
        while realtime.ConnectionStore(stack.settings.connections_table).connection(slow_id) is not None:
            assert time.monotonic() < deadline, "the dropped connection got its $disconnect"
            time.sleep(0.05)
        slow.close()
    finally:
        front.send_queue_max = saved


def test_the_management_api_answers_loopback_callers_as_api_gateway_does(stack) -> None:  # noqa: ANN001
    import boto3

    client = boto3.client("apigatewaymanagementapi", endpoint_url=stack.url, region_name="us-east-1")
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="NoSuchConnectio=", Data=b"{}")
    with connect(f"{stack.ws_url}?key={KEY_A}", proxy=None) as ws:
        deadline = time.monotonic() + 5
        while not stack.websocket.connection_ids:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        cid = [c for c in stack.websocket.connection_ids if stack.websocket._get(c).key_id == api_key_id(KEY_A)][-1]
        info = client.get_connection(ConnectionId=cid)
        assert info["Identity"]["SourceIp"] == "127.0.0.1" and info["ConnectedAt"].year >= 2024
        client.post_to_connection(ConnectionId=cid, Data=b'{"hello": 1}')
        assert json.loads(ws.recv(timeout=5)) == {"hello": 1}
        client.delete_connection(ConnectionId=cid)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1001


# --- a bounded load, in the suite (scripts/ws_load.py runs 200) ---------------------------------------------
def test_twenty_sockets_each_receive_every_milestone_of_their_own_job(stack, api, api_b, subscribers) -> None:  # noqa: ANN001
    clients = {KEY_A: api, KEY_B: api_b}
    pairs = []
    for i in range(20):
        key = (KEY_A, KEY_B)[i % 2]
        sub, job_id = subscribers(key), text_job(clients[key], f"load {i}")
        sub.send(action="subscribe", jobId=job_id)
        pairs.append((sub, job_id))
    for sub, _ in pairs:
        sub.wait_for(lambda ms: len(ms) >= 1)
    jobs = JobStore(stack.settings.table_name)

    def drive(job_id: str) -> None:
        jobs.claim(job_id, 1)
        for p in (10, 50, 90):
            jobs.set_progress(job_id, 1, p)
        jobs.complete(job_id, 1, [], 5)

    drivers = [threading.Thread(target=drive, args=(job_id,)) for _, job_id in pairs]
    for t in drivers:
        t.start()
    for t in drivers:
        t.join()
    expected = [("queued", 0, 0), ("active", 0, 1), ("active", 10, 1), ("active", 50, 1), ("active", 90, 1), ("completed", 100, 1)]
    for sub, job_id in pairs:
        documents = sub.until_final(job_id, timeout_s=60)
        assert steps(documents) == expected and {d["jobId"] for d in documents} == {job_id}, job_id


# --- the command-line client ----------------------------------------------------------------------------------
def _drive_when_followed(stack: LocalStack, job_id: str) -> threading.Thread:
    """Drive the job through its milestones once someone follows it (or after 5 s)."""

    def run() -> None:
        connections = realtime.ConnectionStore(stack.settings.connections_table)
        deadline = time.monotonic() + 5
        while not connections.subscribers(job_id) and time.monotonic() < deadline:
            time.sleep(0.05)
        jobs = JobStore(stack.settings.table_name)
        jobs.claim(job_id, 1)
        for p in (10, 50, 90):
            jobs.set_progress(job_id, 1, p)
        jobs.complete(job_id, 1, [], 5)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_stickers_generate_follows_over_the_socket_and_falls_back_to_polling(stack, api) -> None:  # noqa: ANN001
    from local_stack.client import StickerClient

    job_id, seen = text_job(api), []
    with StickerClient(stack.url, KEY_A) as client:
        assert client.ws_url == stack.ws_url, "the local stack's socket, derived from the API's loopback URL"
        driver = _drive_when_followed(stack, job_id)
        doc = client.wait(job_id, seen.append, timeout_s=30)
        driver.join()
    assert client.followed_by == "websocket"
    assert [(d["status"], d["progress"]) for d in seen] == [("queued", 0), ("active", 0), ("active", 10), ("active", 50),
                                                             ("active", 90), ("completed", 100)], "every milestone, as it happened"  # fmt: skip
    assert doc == api.get(f"/v1/jobs/{job_id}").json()

    job_id = text_job(api)
    with StickerClient(stack.url, KEY_A, ws_url="ws://127.0.0.1:9/ws") as client:  # nothing listens there
        driver = _drive_when_followed(stack, job_id)
        doc = client.wait(job_id, timeout_s=30)
        driver.join()
    assert client.followed_by == "polling" and doc["status"] == "completed"
