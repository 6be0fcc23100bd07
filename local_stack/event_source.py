"""The local stack's event source mappings: what AWS runs between a queue or a stream and a Lambda function.

:class:`SqsEventSource` runs the CPU inference Lambda on the jobs queue; :class:`DeadLetterPoller` hands
the dead-letter queue to the dead-letter handler; :class:`StreamPoller` hands the jobs table's DynamoDB
stream to the live-progress notifier.

:class:`SqsEventSource` plays what AWS runs between the jobs queue and the CPU inference function
(infra/cpu_inference.py; https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html):

* pollers long-poll the queue (``ReceiveMessage`` with ``WaitTimeSeconds``, all system attributes) and
  invoke the function with what one receive returned, up to ``batch_size`` records (1–10; no batching
  window: an idle queue's first message is not held back);
* at most ``max_concurrency`` invocations run at once (the mapping's ``ScalingConfig.MaximumConcurrency``):
  one poller thread per concurrent invocation, started on :meth:`start`;
* the event is Lambda's SQS event shape, ``{"Records": [{"messageId", "receiptHandle", "body",
  "attributes": {"ApproximateReceiveCount", "SentTimestamp", …}, "messageAttributes", "md5OfBody",
  "eventSource": "aws:sqs", "eventSourceARN", "awsRegion"}, …]}``, with a context whose deadline is the
  function timeout;
* with ``ReportBatchItemFailures`` the records not named in the answer's ``batchItemFailures`` are
  deleted (``DeleteMessageBatch``); the named ones are left alone and reappear when their visibility
  timeout ends (whatever the function set it to). An answer that names a record not in the batch, or an
  invocation that raised, fails the whole batch: nothing is deleted, as Lambda does.

The function is called in this process (like the local stack's other handlers). It may be given as a
``handler_factory`` that is called at the first batch: importing the inference handler module is the
execution environment's cold init (imports + model load), paid by the first job as on an idle
deployment. In-process, all pollers share that one initialised module (Lambda would start one execution
environment per concurrent invocation; the handler keeps no per-invocation state outside the call).
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from local_stack.proxy_event import ACCOUNT_ID, REGION, LambdaContext, make_context
from stickers_core import limits
from stickers_core.settings import Settings

#: Records per invocation, concurrent invocations, function timeout (s) and memory (MB) by default: what
#: the CDK stack deploys (infra/config.py ``lambdaBatchSize`` 1, ``lambdaMaxConcurrency`` 10;
#: infra/cpu_inference.py: timeout = job timeout 300 s + 30 s, 3,008 MB).
DEFAULT_BATCH_SIZE = 1
DEFAULT_MAX_CONCURRENCY = 10
DEFAULT_FUNCTION_TIMEOUT_S = 330.0
DEFAULT_MEMORY_MB = 3008
#: The function timeout is the job timeout plus this, seconds (infra/cpu_inference.py ``TIMEOUT_MARGIN_S``).
FUNCTION_TIMEOUT_MARGIN_S = 30
#: Bounds Lambda accepts for an SQS mapping: batch size (standard queue, no batching window) and
#: maximum concurrency.
BATCH_SIZE_RANGE = (1, 10)
MAX_CONCURRENCY_RANGE = (2, 1000)

Handler = Callable[[dict[str, Any], Any], Any]


def sqs_record(message: dict[str, Any], queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """Lambda's event record for one ``ReceiveMessage`` message (received with all system attributes).

    Args:
        message: one entry of ``ReceiveMessage``'s ``Messages``.
        queue_arn: the queue's ARN (the record's ``eventSourceARN``).
    """
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": dict(message.get("MessageAttributes", {})),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def failed_ids(result: Any, batch_ids: set[str]) -> set[str] | None:
    """The message ids a partial batch response names, or None when the whole batch failed: the answer
    names a record that is not in the batch, or an empty/missing ``itemIdentifier`` (Lambda then treats
    every record as failed)."""
    failures = (result or {}).get("batchItemFailures", []) if isinstance(result, dict) else None
    if failures is None:
        return set()
    ids = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not item or item not in batch_ids:
            return None
        ids.add(item)
    return ids


class SqsEventSource:
    """Polls one SQS queue and invokes a Lambda handler with its messages as SQS events (module docstring).

    Args:
        sqs: a boto3 SQS client.
        queue_url: the queue to poll.
        handler: the function (``handler(event, context)``), or None with `handler_factory`.
        handler_factory: returns the function; called once, at the first batch (the cold init).
        batch_size: records per invocation at most (1–10).
        max_concurrency: concurrent invocations at most (2–1,000, Lambda's bounds; 1 is also accepted here).
        function_name, function_timeout_s, memory_mb: the function's (its context's deadline is the timeout).
        wait_s: each poll's long-poll wait, seconds (0–20; shorter stops quicker).

    Attributes:
        invocations: invocations made; records_deleted / records_failed: records deleted after an
            invocation / left on the queue; errors: invocations that raised.

    Raises:
        ValueError: a batch size or concurrency out of range.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler | None = None,
        *,
        handler_factory: Callable[[], Handler] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        function_name: str = "stickers-cpu-inference",
        function_timeout_s: float = DEFAULT_FUNCTION_TIMEOUT_S,
        memory_mb: int = DEFAULT_MEMORY_MB,
        wait_s: int = 1,
    ) -> None:
        if (handler is None) == (handler_factory is None):
            raise ValueError("give a handler or a handler_factory")
        if not BATCH_SIZE_RANGE[0] <= batch_size <= BATCH_SIZE_RANGE[1]:
            raise ValueError(f"batch size {batch_size} is out of range {BATCH_SIZE_RANGE[0]}–{BATCH_SIZE_RANGE[1]}")
        if not 1 <= max_concurrency <= MAX_CONCURRENCY_RANGE[1]:
            raise ValueError(f"maximum concurrency {max_concurrency} is out of range {MAX_CONCURRENCY_RANGE[0]}–{MAX_CONCURRENCY_RANGE[1]}")
        self._sqs, self.queue_url = sqs, queue_url
        self._handler, self._factory = handler, handler_factory
        self._handler_lock = threading.Lock()
        self.batch_size, self.max_concurrency = batch_size, max_concurrency
        self.function_name, self.function_timeout_s, self.memory_mb = function_name, function_timeout_s, memory_mb
        self.wait_s = wait_s
        self.queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_url.rstrip('/').rsplit('/', 1)[-1]}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stats_lock = threading.Lock()
        self._running = 0
        self.peak_concurrency = 0
        self.invocations = self.records_deleted = self.records_failed = self.errors = 0
        #: Seconds the handler factory took (the cold init), once called.
        self.init_s: float | None = None

    # --- life cycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the pollers (one per concurrent invocation)."""
        for i in range(self.max_concurrency):
            thread = threading.Thread(target=self._poll, name=f"esm-{self.function_name}-{i + 1}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop polling; invocations in flight finish (each thread waited for up to `timeout_s`)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout_s)

    def handler(self) -> Handler:
        """The function, made by the factory on first use (thread-safe: one cold init)."""
        if self._handler is None:
            with self._handler_lock:
                if self._handler is None:
                    assert self._factory is not None
                    t0 = time.perf_counter()
                    self._handler = self._factory()
                    self.init_s = time.perf_counter() - t0
        return self._handler

    # --- polling ----------------------------------------------------------------------------------------
    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=self.wait_s,
                    MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
                ).get("Messages", [])  # fmt: skip
            except Exception:  # noqa: BLE001 - emulator shutting down or unavailable: back off
                self._stop.wait(1)
                continue
            if messages:
                self.invoke_batch(messages)

    def invoke_batch(self, messages: list[dict[str, Any]]) -> set[str]:
        """Invoke the function with these received messages and settle them as the mapping does.

        Returns:
            The ids of the messages left on the queue (batch item failures, or all on a failed invocation).
        """
        records = [sqs_record(m, self.queue_arn) for m in messages]
        batch_ids = {r["messageId"] for r in records}
        with self._stats_lock:
            self._running += 1
            self.peak_concurrency = max(self.peak_concurrency, self._running)
            self.invocations += 1
        try:
            try:
                handler = self.handler()
                context = make_context(str(uuid.uuid4()), function_name=self.function_name, timeout_s=self.function_timeout_s, memory_mb=self.memory_mb)
                result = handler({"Records": records}, context)
            except Exception as exc:  # noqa: BLE001 - a failed invocation: the batch returns to the queue
                sys.stderr.write(f"event-source: {self.function_name} failed on a batch of {len(records)}: {type(exc).__name__}: {exc}\n")
                with self._stats_lock:
                    self.errors += 1
                failed: set[str] | None = None
            else:
                failed = failed_ids(result, batch_ids)
            left = batch_ids if failed is None else failed
            done = [r for r in records if r["messageId"] not in left]
            if done:
                self._delete(done)
            with self._stats_lock:
                self.records_deleted += len(done)
                self.records_failed += len(left)
            return left
        finally:
            with self._stats_lock:
                self._running -= 1

    def _delete(self, records: list[dict[str, Any]]) -> None:
        """Delete processed records (``DeleteMessageBatch``; a failed entry is logged, not retried)."""
        entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(records)]
        try:
            answer = self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception as exc:  # noqa: BLE001 - the messages reappear and are settled as duplicates
            sys.stderr.write(f"event-source: could not delete {len(entries)} record(s): {exc}\n")
            return
        for failure in answer.get("Failed", []):
            sys.stderr.write(f"event-source: record not deleted: {failure.get('Code')} {failure.get('Message', '')}\n")


class DeadLetterPoller:
    """Delivers dead-letter-queue messages to the dead-letter Lambda handler as SQS events.

    Plays the Lambda SQS event source mapping: batches of up to 10 records; records reported in
    ``batchItemFailures`` stay on the queue for a later try, the rest are deleted.
    """

    def __init__(self, settings: Settings, sqs: Any) -> None:
        self._settings, self._sqs = settings, sqs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dlq-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        from functions.dead_letters import app as dlq_app

        dlq_app.reset()  # a new execution environment: no client of an earlier stack's emulator
        while not self._stop.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self._settings.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["All"],
                ).get("Messages", [])
            except Exception:  # noqa: BLE001 - emulator shutting down
                self._stop.wait(1)
                continue
            if not messages:
                continue
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{limits.DLQ_NAME}",
                    "awsRegion": "us-east-1",
                }
                for m in messages
            ]
            ctx = LambdaContext(
                aws_request_id=str(uuid.uuid4()),
                function_name="stickers-dead-letters",
                memory_limit_in_mb=256,
                invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:stickers-dead-letters",
                deadline_epoch_s=time.time() + 30,
            )
            try:
                result = dlq_app.handler({"Records": records}, ctx)
            except Exception as exc:  # noqa: BLE001 - as on Lambda: the whole batch stays, retried after its visibility timeout
                sys.stderr.write(f"dlq-poller: the dead-letter handler failed on a batch of {len(records)}: {type(exc).__name__}: {exc}\n")
                continue
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
            for m in messages:
                if m["MessageId"] not in failed:
                    self._sqs.delete_message(QueueUrl=self._settings.dlq_url, ReceiptHandle=m["ReceiptHandle"])


class StreamPoller:
    """Plays the Lambda event source mapping of the jobs table's DynamoDB stream for the notifier.

    As infra/realtime.py configures the mapping: it starts at the latest record; it hands each shard's
    records in batches of up to `batch_size`, one batch of a shard at a time (parallelization factor 1),
    as ``{"Records": [...]}`` in Lambda's DynamoDB-stream shape; with a partial batch response it resumes
    from the lowest failed sequence number (the records before it are done); when the handler raises it
    retries the first half of the batch (bisect on error); a record retried `max_retries` times is
    skipped (``maximumRetryAttempts``), with a line on stderr.

    Args:
        streams: a boto3 ``dynamodbstreams`` client (the emulator's).
        stream_arn: the jobs table's stream.
        handler: the notifier's Lambda handler.
    """

    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        handler: Any,
        *,
        batch_size: int = 100,
        poll_interval_s: float = 0.05,
        max_retries: int = 10,
        function_name: str = "stickers-ws-notifier",
    ) -> None:
        self._streams, self.stream_arn, self._handler = streams, stream_arn, handler
        self.batch_size, self.poll_interval_s, self.max_retries = batch_size, poll_interval_s, max_retries
        self.function_name = function_name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream-poller", daemon=True)
        self._iterators: dict[str, str] = {}
        #: Records delivered to the handler successfully, and records skipped after their retries.
        self.delivered = 0
        self.skipped = 0

    def start(self) -> None:
        """Position at the stream's latest record, then poll in a daemon thread."""
        self._refresh_shards("LATEST")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _refresh_shards(self, position: str) -> None:
        shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            if shard["ShardId"] not in self._iterators and "EndingSequenceNumber" not in shard.get("SequenceNumberRange", {}):
                self._iterators[shard["ShardId"]] = self._streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=position
                )["ShardIterator"]

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        change = dict(record["dynamodb"])
        created = change.get("ApproximateCreationDateTime")
        if hasattr(created, "timestamp"):
            change["ApproximateCreationDateTime"] = int(created.timestamp())
        return {**record, "dynamodb": change, "eventSourceARN": self.stream_arn}

    def _run(self) -> None:
        pending: dict[str, list[dict[str, Any]]] = {}
        retries: dict[str, int] = {}
        size = self.batch_size
        while not self._stop.is_set():
            worked = False
            for shard_id in list(self._iterators):
                records = pending.setdefault(shard_id, [])
                if not records:
                    try:
                        answer = self._streams.get_records(ShardIterator=self._iterators[shard_id], Limit=self.batch_size)
                    except Exception:  # noqa: BLE001 - emulator shutting down
                        self._stop.wait(0.5)
                        continue
                    if answer.get("NextShardIterator"):
                        self._iterators[shard_id] = answer["NextShardIterator"]
                    else:
                        del self._iterators[shard_id]
                    records.extend(self._lambda_record(r) for r in answer.get("Records", []))
                if not records:
                    continue
                worked = True
                batch = records[:size]
                done = self._invoke(batch)
                if done == len(batch):
                    size = self.batch_size
                else:
                    if done < 0:  # the handler raised: bisect
                        size, done = max(1, len(batch) // 2), 0
                    sequence = batch[done]["dynamodb"]["SequenceNumber"]
                    retries[sequence] = retries.get(sequence, 0) + 1
                    if retries[sequence] > self.max_retries:
                        sys.stderr.write(f"stream-poller: record {sequence} skipped after {self.max_retries} retries\n")
                        self.skipped += 1
                        done += 1
                    else:
                        self._stop.wait(min(2.0, 0.05 * 2 ** retries[sequence]))
                self.delivered += max(0, done)
                del records[: max(0, done)]
            if not worked:
                self._stop.wait(self.poll_interval_s)

    def _invoke(self, batch: list[dict[str, Any]]) -> int:
        """Hand one batch to the handler; how many leading records are done (-1: the handler raised)."""
        ctx = LambdaContext(
            aws_request_id=str(uuid.uuid4()),
            function_name=self.function_name,
            memory_limit_in_mb=256,
            invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}",
            deadline_epoch_s=time.time() + 60,
        )
        try:
            result = self._handler({"Records": batch}, ctx)
        except Exception:  # noqa: BLE001 - Lambda retries (and bisects) a batch whose invocation failed
            sys.stderr.write("stream-poller: the notifier failed on a batch; retrying half of it\n")
            return -1
        failed = {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])}
        if not failed:
            return len(batch)
        positions = [i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed]
        return min(positions) if positions and None not in failed and "" not in failed else 0
