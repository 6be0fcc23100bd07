"""The GPU service's consumer: long-polls SQS, claims jobs, renders stickers, stores them, settles.

One :class:`Worker` per consumer thread; the segmentation model session is shared by all threads of a
process (onnxruntime's ``InferenceSession.run`` is thread-safe). The same program runs in the ECS
container (``stickers worker``) and inside the embedded local stack.

Per message (at-least-once delivery, DESIGN.md):

1. claim the job with a conditional update (attempt = SQS ApproximateReceiveCount); a message for a
   finished or deleted job is deleted, one for a job another attempt holds is left alone;
2. keep the message invisible while working (visibility heartbeat) and write progress milestones;
3. load the photo, segment, render, encode, put the stickers in S3, complete the job, delete the message;
4. on a permanent error (the photo cannot be decoded) fail the job at once and delete the message; on
   any other error hand the job back to ``queued`` and let SQS redeliver it after a short backoff —
   the third failure's message goes to the dead-letter queue, whose handler fails the job.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from stickers_core import limits
from stickers_core.errors import PermanentJobError, ValidationFailed
from stickers_core.images import decode_image
from stickers_core.models import ImageProgress, Job, JobType, TextProgress
from stickers_core.queue import JobMessage, JobQueue
from stickers_core.settings import Settings
from stickers_core.storage import Storage, sticker_key
from stickers_core.store import AttemptLost, ClaimOutcome, JobStore

if TYPE_CHECKING:
    from gpu_service.pipeline import StickerPipeline

logger = Logger(service=f"{limits.SERVICE_NAME}-worker")


class JobTimeout(Exception):
    """The attempt ran past the job timeout; it is retried like any transient failure."""


def emit_metric(name: str, value: float, unit: MetricUnit, **dimensions: str) -> None:
    """Write one CloudWatch EMF metric line to stdout (namespace ``Stickers``).

    Nothing is written when ``POWERTOOLS_METRICS_DISABLED`` is true (the embedded local stack sets it).
    """
    if is_metrics_disabled():
        return
    with single_metric(name=name, unit=unit, value=value, namespace=limits.METRICS_NAMESPACE) as metric:
        for key, val in dimensions.items():
            metric.add_dimension(name=key, value=val)


class VisibilityHeartbeat:
    """Keeps an SQS message invisible while a long job runs, by extending its visibility timeout.

    Every `interval_s` seconds the message's visibility is set to `extend_to_s` seconds from now. Used
    as a context manager around the work on one message.
    """

    def __init__(self, queue: JobQueue, message: JobMessage, extend_to_s: int, interval_s: float) -> None:
        self._queue, self._message = queue, message
        self._extend_to_s, self._interval_s = extend_to_s, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{message.job_id[:8]}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._queue.set_visibility(self._message, self._extend_to_s)
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next interval
                logger.warning("visibility heartbeat failed", extra={"jobId": self._message.job_id})

    def __enter__(self) -> "VisibilityHeartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Worker:
    """Consumes the jobs queue until told to stop.

    Args:
        settings: table, queue, buckets, timeouts.
        pipeline: the renderer (default: a :class:`gpu_service.pipeline.StickerPipeline` on the
            configured model).
        store, queue, storage: AWS adapters (built from `settings` when omitted).
        name: a label for logs.
    """

    def __init__(
        self,
        settings: Settings,
        pipeline: "StickerPipeline | None" = None,
        *,
        store: JobStore | None = None,
        queue: JobQueue | None = None,
        storage: Storage | None = None,
        name: str = "worker",
        receive_wait_s: int = limits.RECEIVE_WAIT_S,
        on_job_done: Callable[[Job], None] | None = None,
    ) -> None:
        if pipeline is None:
            from gpu_service.pipeline import StickerPipeline
            from gpu_service.pipeline.segmentation import get_model

            pipeline = StickerPipeline(get_model(settings.model_name, settings.model_path))
        self.settings = settings
        self.pipeline = pipeline
        self.store = store or JobStore(settings.table_name)
        self.queue = queue or JobQueue(settings.queue_url)
        self.storage = storage or Storage(settings.uploads_bucket, settings.stickers_bucket)
        self.name = name
        self.receive_wait_s = receive_wait_s
        self.on_job_done = on_job_done
        self._uploads = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"{name}-s3")

    # --- loop ----------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Receive and handle messages until `stop` is set (checked between long polls and jobs)."""
        logger.info("worker started", extra={"worker": self.name, "queue": self.settings.queue_url})
        while not stop.is_set():
            try:
                messages = self.queue.receive(max_messages=1, wait_s=self.receive_wait_s)
            except Exception:  # noqa: BLE001 - SQS unavailable: back off, never die
                logger.exception("receive failed")
                stop.wait(2)
                continue
            for message in messages:
                self.handle(message)
        self._uploads.shutdown(wait=True)
        logger.info("worker stopped", extra={"worker": self.name})

    def handle(self, message: JobMessage) -> None:
        """Process one message to a settled state. Never raises (a crash here would kill the loop)."""
        try:
            self._handle(message)
        except Exception:  # noqa: BLE001 - left for SQS to redeliver
            logger.exception("unexpected error handling a message", extra={"jobId": message.job_id})

    def _handle(self, message: JobMessage) -> None:
        if not message.job_id:
            logger.warning("malformed message deleted", extra={"messageId": message.message_id})
            self.queue.delete(message)
            return
        outcome, job = self.store.claim(message.job_id, message.attempt)
        if outcome in (ClaimOutcome.FINISHED, ClaimOutcome.MISSING):
            logger.info("duplicate delivery settled", extra={"jobId": message.job_id, "outcome": outcome.value})
            self.queue.delete(message)
            return
        if outcome is ClaimOutcome.BUSY:
            logger.info("job held by another attempt; message left", extra={"jobId": message.job_id})
            return
        assert job is not None
        logger.append_keys(jobId=job.job_id, attempt=message.attempt)
        try:
            self._run_attempt(job, message)
        finally:
            logger.remove_keys(["jobId", "attempt"])

    def _run_attempt(self, job: Job, message: JobMessage) -> None:
        started = time.monotonic()
        deadline = started + self.settings.job_timeout_s
        attempt = message.attempt

        def progress(value: int) -> None:
            if time.monotonic() > deadline:
                raise JobTimeout(f"The job ran longer than {self.settings.job_timeout_s:.0f} s")
            self.store.set_progress(job.job_id, attempt, value)

        heartbeat_every = max(1.0, self.settings.visibility_timeout_s / 3)
        try:
            with VisibilityHeartbeat(self.queue, message, self.settings.visibility_timeout_s, heartbeat_every):
                keys = self._render_and_store(job, progress)
                done = self.store.complete(job.job_id, attempt, keys, int((time.monotonic() - started) * 1000))
            self.queue.delete(message)
        except AttemptLost:
            logger.warning("attempt lost the job to a newer one; result dropped")
            return
        except PermanentJobError as exc:
            logger.warning("job failed permanently", extra={"error": str(exc)})
            if self.store.fail(job.job_id, str(exc), attempt=attempt) is not None:
                emit_metric("JobsFailed", 1, MetricUnit.Count, reason="permanent")
            self.queue.delete(message)
            self._notify(job.job_id)
            return
        except Exception as exc:  # noqa: BLE001 - transient: SQS redelivers
            error = str(exc) if isinstance(exc, JobTimeout) else f"Sticker rendering failed on attempt {attempt}"
            logger.exception("attempt failed", extra={"error": repr(exc)})
            emit_metric("JobsFailed", 1, MetricUnit.Count, reason=type(exc).__name__)
            if self.store.release_for_retry(job.job_id, attempt, error):
                try:
                    self.queue.set_visibility(message, limits.RETRY_BACKOFF_S * attempt)
                except Exception:  # noqa: BLE001 - the visibility timeout expires anyway
                    logger.warning("could not shorten visibility for retry")
            return
        elapsed = time.monotonic() - started
        emit_metric("JobLatency", elapsed * 1000, MetricUnit.Milliseconds, type=job.type.value)
        emit_metric("StickersMade", len(keys), MetricUnit.Count, type=job.type.value)
        logger.info("job completed", extra={"stickers": len(keys), "seconds": round(elapsed, 3)})
        self._notify(done.job_id)

    def _notify(self, job_id: str) -> None:
        if self.on_job_done is not None:
            try:
                self.on_job_done(self.store.get(job_id))
            except Exception:  # noqa: BLE001 - a notification never fails a job
                logger.exception("job-done hook failed")

    # --- the work --------------------------------------------------------------------------------------
    def _render_and_store(self, job: Job, progress: Callable[[int], None]) -> list[str]:
        if job.type is JobType.IMAGE:
            progress(ImageProgress.PREPROCESSING)
            data = self.storage.get_upload(job.upload_key or "")
            if data is None:
                raise PermanentJobError("The uploaded photo no longer exists")
            try:
                image, _ = decode_image(data)
            except ValidationFailed as exc:
                raise PermanentJobError(exc.message) from None
            t0 = time.perf_counter()
            stickers = self.pipeline.render_image(image, job.styles, on_progress=progress)
            emit_metric("InferenceAndRenderLatency", (time.perf_counter() - t0) * 1000, MetricUnit.Milliseconds)
            stored = ImageProgress.STORED
        else:
            progress(TextProgress.VALIDATED)
            stickers = self.pipeline.render_text(job.text, job.keywords, job.styles, on_progress=progress)
            stored = TextProgress.STORED
        keys = [sticker_key(job.job_id, s.index, s.style) for s in stickers]
        futures = [self._uploads.submit(self.storage.put_sticker, key, s.png) for key, s in zip(keys, stickers)]
        for f in futures:
            f.result()
        progress(stored)
        return keys


def configure_logging(level: str = "INFO") -> None:
    """Set the worker's log level (JSON logs to stdout via Powertools)."""
    logger.setLevel(level)
    logging.getLogger("botocore").setLevel(logging.WARNING)
