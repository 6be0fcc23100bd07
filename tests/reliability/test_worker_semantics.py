"""The worker's failure semantics, in-process against the emulated queue, table and buckets.

Visibility heartbeat, job timeout, graceful stop (drain, hand back), concurrent duplicates, an
exception in one message, a settled message that cannot be deleted. The renderer is a stand-in
(:class:`SlowPipeline`) so each test controls how long a job takes.
"""

from __future__ import annotations

import threading
import time

import pytest

import gpu_service.worker as worker_module
from gpu_service.worker import HANDED_BACK_ERROR, Worker
from stickers_core.queue import JobQueue
from stickers_core.store import ClaimOutcome, JobStore
from tests.helpers import receive
from tests.reliability.conftest import SlowPipeline, sticker_count

pytestmark = pytest.mark.usefixtures("drained")


def text_job(api, text: str = "reliable") -> str:  # noqa: ANN001
    r = api.post("/v1/stickers/text", json={"text": text})
    assert r.status_code == 202, r.text
    return r.json()["data"]["jobId"]


def make_worker(stack, pipeline, **settings) -> Worker:  # noqa: ANN001, ANN003
    return Worker(stack.settings.model_copy(update=settings), pipeline, receive_wait_s=1)


def start(worker: Worker, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    return thread


def visible_copies(queue: JobQueue, job_id: str, seconds: float) -> int:
    """Receive for `seconds`; how many deliveries of `job_id`'s message showed up (they are left as is)."""
    seen, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen += sum(m.job_id == job_id for m in queue.receive(max_messages=10, wait_s=1, visibility_timeout_s=1))
    return seen


@pytest.mark.parametrize("heartbeat", [True, False], ids=["with-heartbeat", "control-without-heartbeat"])
def test_heartbeat_keeps_a_job_longer_than_the_visibility_timeout_invisible(stack, api, monkeypatch, heartbeat) -> None:  # noqa: ANN001
    """A 4.5 s job under a 2 s visibility timeout: no other receiver sees its message. The control run
    without the heartbeat shows that the message would reappear (so the test can fail)."""
    if not heartbeat:
        monkeypatch.setattr(worker_module.VisibilityHeartbeat, "_run", lambda self: None)
    job_id = text_job(api)
    worker = make_worker(stack, SlowPipeline(step_s=4.5))
    message = receive(worker.queue, job_id)
    thread = threading.Thread(target=worker.handle, args=(message,))
    thread.start()
    seen = visible_copies(JobQueue(stack.settings.queue_url), job_id, 4.0)
    thread.join(30)
    if heartbeat:
        assert seen == 0, "the message reappeared while its job was running"
        doc = api.get(f"/v1/jobs/{job_id}").json()
        assert doc["status"] == "completed" and doc["attempts"] == 1
    else:
        assert seen >= 1, "without the heartbeat the message reappears after the visibility timeout"


def test_job_timeout_aborts_the_attempt_and_it_is_retried(stack, api) -> None:  # noqa: ANN001
    job_id = text_job(api)
    slow = make_worker(stack, SlowPipeline(step_s=1.0), job_timeout_s=0.5)
    slow.handle(receive(slow.queue, job_id))
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "queued" and doc["attempts"] == 1 and doc["progress"] == 0
    assert doc["error"] == "The job ran longer than 0.5 s"
    message = receive(slow.queue, job_id)  # after the retry backoff
    assert message.attempt == 2
    make_worker(stack, SlowPipeline()).handle(message)
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "completed" and doc["attempts"] == 2 and "error" not in doc


def test_graceful_stop_lets_the_job_in_flight_finish_within_the_drain_deadline(stack, api) -> None:  # noqa: ANN001
    job_id = text_job(api)
    pipeline = SlowPipeline(step_s=1.5)
    worker = make_worker(stack, pipeline, stop_timeout_s=60)
    stop = threading.Event()
    thread = start(worker, stop)
    assert pipeline.started.wait(15)
    stop.set()
    thread.join(20)
    assert not thread.is_alive(), "the worker returned after its job"
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "completed" and doc["attempts"] == 1
    assert worker.queue.depth().waiting == 0 and worker.queue.depth().active == 0


def test_graceful_stop_past_the_drain_deadline_hands_job_and_message_back(stack, api) -> None:  # noqa: ANN001
    job_id = text_job(api)
    pipeline = SlowPipeline(step_s=1.5)
    worker = make_worker(stack, pipeline, stop_timeout_s=0)  # no drain time at all
    stop = threading.Event()
    thread = start(worker, stop)
    assert pipeline.started.wait(15)
    stop.set()
    thread.join(20)
    assert not thread.is_alive()
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "queued" and doc["attempts"] == 1 and doc["error"] == HANDED_BACK_ERROR
    t0 = time.monotonic()
    message = receive(worker.queue, job_id, timeout_s=5)
    assert time.monotonic() - t0 < 1.5, "visibility 0: the message is back at once, not after the timeout"
    make_worker(stack, SlowPipeline()).handle(message)
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "completed" and doc["attempts"] == 2 and "error" not in doc


def test_a_message_received_while_stopping_is_handed_back_unstarted(stack, api) -> None:  # noqa: ANN001
    job_id = text_job(api)
    pipeline = SlowPipeline()
    worker = make_worker(stack, pipeline)
    stop = threading.Event()
    original = worker.queue.receive

    def receive_then_stop(**kwargs):  # noqa: ANN003, ANN202 - SIGTERM arrives during the long poll
        messages = original(**kwargs)
        stop.set()
        return messages

    worker.queue.receive = receive_then_stop  # type: ignore[method-assign]
    start(worker, stop).join(20)
    assert pipeline.calls == 0
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
    queue = JobQueue(stack.settings.queue_url)
    queue.delete(receive(queue, job_id, timeout_s=1.5))


class RecordingStore(JobStore):
    """The real store, recording claim outcomes; claims of `poison` raise (a bug, a bad record)."""

    def __init__(self, table_name: str, poison: str = "") -> None:
        super().__init__(table_name)
        self.outcomes: list[ClaimOutcome] = []
        self.poison = poison

    def claim(self, job_id: str, attempt: int):  # noqa: ANN201
        if job_id == self.poison:
            raise RuntimeError("unexpected record shape")
        outcome = super().claim(job_id, attempt)
        self.outcomes.append(outcome[0])
        return outcome


def test_concurrent_duplicate_deliveries_make_one_set_of_stickers(stack, api) -> None:  # noqa: ANN001
    job_id = api.post("/v1/stickers/text", json={"text": "twice", "count": 3}).json()["data"]["jobId"]
    queue = JobQueue(stack.settings.queue_url)
    queue.send(job_id, "text")  # SQS at-least-once: a second copy of the same job
    copies: dict[str, object] = {}
    deadline = time.monotonic() + 10
    while len(copies) < 2 and time.monotonic() < deadline:
        copies |= {m.message_id: m for m in queue.receive(max_messages=10, wait_s=1) if m.job_id == job_id}
    first, second = copies.values()
    assert first.message_id != second.message_id and first.attempt == second.attempt == 1
    pipeline, store = SlowPipeline(step_s=0.5), RecordingStore(stack.settings.table_name)
    workers = [Worker(stack.settings, pipeline, store=store, name=f"dup-{i}") for i in (1, 2)]
    threads = [threading.Thread(target=w.handle, args=(m,)) for w, m in zip(workers, (first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(o.value for o in store.outcomes) == ["busy", "claimed"]
    # The BUSY copy was left; it reappears after the visibility timeout and is settled as a duplicate.
    workers[1].handle(receive(queue, job_id))
    assert store.outcomes[-1] is ClaimOutcome.FINISHED
    assert pipeline.calls == 1, "rendered once"
    assert sticker_count(stack, job_id) == 3 + 1, "three stickers and the job's contact sheet (thumbnail.webp)"
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "completed" and doc["attempts"] == 1 and len(doc["stickers"]) == 3
    assert queue.depth().waiting == 0 and queue.depth().active == 0


def test_an_exception_in_one_message_never_stops_the_worker(stack, api) -> None:  # noqa: ANN001
    poison = text_job(api, "poison")
    good = text_job(api, "good")
    pipeline = SlowPipeline()
    worker = Worker(stack.settings, pipeline, store=RecordingStore(stack.settings.table_name, poison=poison), receive_wait_s=1)
    stop = threading.Event()
    thread = start(worker, stop)
    deadline = time.monotonic() + 20
    while api.get(f"/v1/jobs/{good}").json()["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api.get(f"/v1/jobs/{good}").json()["status"] == "completed"
    assert thread.is_alive(), "still consuming after the poison message"
    stop.set()
    thread.join(10)
    assert api.get(f"/v1/jobs/{poison}").json()["status"] == "queued", "left for SQS to redeliver (then the DLQ)"


class UndeletableQueue(JobQueue):
    """A queue whose DeleteMessage fails (SQS hiccup after the job completed)."""

    def delete(self, message) -> None:  # noqa: ANN001
        raise ConnectionError("SQS unavailable")


def test_a_completed_job_whose_message_cannot_be_deleted_still_notifies_and_settles(stack, api) -> None:  # noqa: ANN001
    job_id = text_job(api)
    done: list[str] = []
    worker = Worker(stack.settings, SlowPipeline(), queue=UndeletableQueue(stack.settings.queue_url), receive_wait_s=1, on_job_done=lambda job: done.append(job.status.value))
    worker.handle(receive(worker.queue, job_id))
    assert done == ["completed"], "the job-done hook ran although the delete failed"
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "completed" and doc["attempts"] == 1
    message = receive(JobQueue(stack.settings.queue_url), job_id)  # redelivered: settled as a duplicate
    make_worker(stack, SlowPipeline()).handle(message)
    assert JobQueue(stack.settings.queue_url).depth().waiting == 0
