"""The GPU service's consumer: long-polls SQS, claims jobs, renders stickers, stores them, settles.

Why one module of this size: the claim, the heartbeat, the work and the settling of one attempt share
the attempt's ownership rules (docs/design.md), which must be read in one place; the prompt jobs' image
generation itself lives in :mod:`gpu_service.generation`.

One :class:`Worker` per consumer thread; the segmentation model session is shared by all threads of a
process (onnxruntime's ``InferenceSession.run`` is thread-safe). The same program runs in the ECS
container (``python -m gpu_service``), as ``stickers worker`` and inside the embedded local stack.

Per message (at-least-once delivery, docs/design.md):

1. claim the job with a conditional update (attempt = SQS ApproximateReceiveCount); a message for a
   finished or deleted job is deleted, one for a job another attempt holds is left alone;
2. keep the message invisible while working (visibility heartbeat) and write progress milestones;
3. load the photo, segment, render (the job's ``method`` and output options: rotation, size,
   watermark, PNG or WebP), encode, put the stickers and the job's contact sheet
   (``stickers/<jobId>/thumbnail.webp``; a failure there is logged and the job completes without one)
   in S3, complete the job, delete the message;
4. on a permanent error (the photo cannot be decoded) fail the job at once and delete the message; on
   any other error (the job timeout included) hand the job back to ``queued`` and let SQS redeliver it
   after a short backoff — the third failure's message goes to the dead-letter queue, whose handler
   fails the job.

The per-message part (:meth:`Worker.handle`) is also what the CPU inference Lambda runs on each record
of an SQS batch (``functions/inference/app.py``): it returns a :class:`MessageOutcome` saying whether the
message was deleted (settled for good) or left on the queue for a later receive, and takes an optional
deadline (the invocation's) that shortens the attempt's budget. One implementation serves both consumers.

Graceful stop (ECS scale-in, deployments, Spot drains send SIGTERM, then SIGKILL after the stop
timeout): once the stop event is set the worker receives no more; a message already received but not
started is handed back at once (visibility 0); the job in flight may run until the drain deadline
(:attr:`Settings.drain_s` after the stop), past which it is aborted at its next progress milestone,
handed back to ``queued`` and its message made visible again, so another worker picks it up at once.
"""

from __future__ import annotations

import concurrent.futures
import enum
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
from stickers_core.models import ImageProgress, Job, JobType, PromptProgress, TextProgress
from stickers_core.queue import JobMessage, JobQueue
from stickers_core.settings import Settings
from stickers_core.storage import Storage, sticker_key, thumbnail_key
from stickers_core.store import AttemptLost, ClaimOutcome, JobStore
from stickers_core.webhooks import WebhookNotifier

if TYPE_CHECKING:
    from gpu_service.generation import BedrockGenerator
    from gpu_service.pipeline import StickerPipeline
    from gpu_service.pipeline.settings import PipelineSettings

logger = Logger(service=f"{limits.SERVICE_NAME}-worker")


class JobTimeout(Exception):
    """The attempt ran past the job timeout; it is retried like any transient failure."""


class WorkerStopping(Exception):
    """The worker was told to stop and the drain deadline passed: the attempt is handed back."""

#: What a job handed back by a stopping worker says until another worker picks it up.
HANDED_BACK_ERROR = "The worker stopped before the job finished; it will be retried"


class MessageOutcome(enum.Enum):
    """How :meth:`Worker.handle` left one SQS message.

    ``deleted`` is True for the outcomes after which the message was deleted by the worker (the job is
    settled for good, or the message can never succeed); False for those that leave it on the queue to
    be received again (after its visibility timeout, the retry backoff, or at once when handed back).
    An SQS event source mapping must report the latter as batch item failures.
    """

    #: The job completed; the message was deleted.
    COMPLETED = "completed"
    #: The job failed for good (permanent error); the message was deleted.
    FAILED = "failed"
    #: The job was already finished or is gone (a duplicate delivery); the message was deleted.
    DUPLICATE = "duplicate"
    #: The body is not a job message; the message was deleted.
    MALFORMED = "malformed"
    #: Another attempt holds the job; the message was left alone (it reappears after its visibility timeout).
    BUSY = "busy"
    #: A transient failure: the job is back to ``queued``, the message reappears after the retry backoff.
    RETRY = "retry"
    #: The worker was stopping (drain deadline passed): the job is back to ``queued``, the message visible at once.
    HANDED_BACK = "handed_back"
    #: A newer attempt took the job over while this one ran; its result was dropped, the message left.
    LOST = "lost"
    #: An unexpected error (e.g. DynamoDB unavailable at the claim); the message was left for SQS to redeliver.
    ERROR = "error"

    @property
    def deleted(self) -> bool:
        """True when the worker deleted the message (nothing is left for a later receive)."""
        return self in (MessageOutcome.COMPLETED, MessageOutcome.FAILED, MessageOutcome.DUPLICATE, MessageOutcome.MALFORMED)


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

    With `until` (a :func:`time.monotonic` instant, the attempt's job deadline plus a grace) the beats
    stop there: an attempt stuck past its timeout (a hung model call never reaches the next
    milestone) stops holding its message, which then reappears and is claimed by another attempt.
    """

    def __init__(self, queue: JobQueue, message: JobMessage, extend_to_s: int, interval_s: float, until: float | None = None) -> None:
        self._queue, self._message = queue, message
        self._extend_to_s, self._interval_s = extend_to_s, interval_s
        self._until = until
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{message.job_id[:8]}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            if self._until is not None and time.monotonic() >= self._until:
                logger.warning("job deadline passed; visibility no longer extended", extra={"jobId": self._message.job_id})
                return
            try:
                self._queue.set_visibility(self._message, self._extend_to_s)
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next interval
                logger.warning("visibility heartbeat failed", extra={"jobId": self._message.job_id})

    def __enter__(self) -> VisibilityHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Worker:
    """Consumes the jobs queue until told to stop.

    Args:
        settings: table, queue, buckets, timeouts.
        pipeline: the renderer (default: a :class:`gpu_service.pipeline.StickerPipeline` built with
            ``pipeline_settings``).
        store, queue, storage: AWS adapters (built from `settings` when omitted).
        name: a label for logs.
        on_job_done: called with the job record when a job ends (completed or failed for good).
        webhooks: delivers the jobs' `callbackUrl` webhooks (default: a :class:`WebhookNotifier`).
        pipeline_settings: the default pipeline's settings (default:
            :meth:`PipelineSettings.for_service`: the environment's, with the model of `settings`).
        generator: draws the pictures of prompt jobs (default: a
            :class:`gpu_service.generation.BedrockGenerator` of `settings`, made at the first prompt job,
            when ``settings.generator`` is ``bedrock``; else prompt jobs fail).
    """

    def __init__(
        self,
        settings: Settings,
        pipeline: StickerPipeline | None = None,
        *,
        store: JobStore | None = None,
        queue: JobQueue | None = None,
        storage: Storage | None = None,
        name: str = "worker",
        receive_wait_s: int = limits.RECEIVE_WAIT_S,
        on_job_done: Callable[[Job], None] | None = None,
        webhooks: WebhookNotifier | None = None,
        pipeline_settings: PipelineSettings | None = None,
        generator: BedrockGenerator | None = None,
    ) -> None:
        if pipeline is None:
            from gpu_service.pipeline import StickerPipeline
            from gpu_service.pipeline.settings import PipelineSettings

            pipeline = StickerPipeline(settings=pipeline_settings if pipeline_settings is not None else PipelineSettings.for_service(settings))
        self.settings = settings
        self.pipeline = pipeline
        self.store = store or JobStore(settings.table_name)
        self.queue = queue or JobQueue(settings.queue_url)
        self.storage = storage or Storage(settings.uploads_bucket, settings.stickers_bucket)
        self.name = name
        self.receive_wait_s = receive_wait_s
        self.on_job_done = on_job_done
        #: Delivers `callbackUrl` webhooks (None: no webhooks from this worker).
        self.webhooks: WebhookNotifier | None = webhooks if webhooks is not None else WebhookNotifier()
        self._uploads = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"{name}-s3")
        self.generator = generator
        self._stop: threading.Event | None = None
        self._stopped_at: float | None = None  # time.monotonic() when the stop event was seen set

    # --- loop ----------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Receive and handle messages until `stop` is set, then drain and return.

        `stop` is checked between long polls and jobs; a job in flight when it is set gets until the
        drain deadline (:attr:`Settings.drain_s`) to finish, else it is handed back (module docstring).
        An exception in one message never ends the loop.
        """
        self._stop, self._stopped_at = stop, None
        threading.Thread(target=self._note_stop, args=(stop,), name=f"{self.name}-stop", daemon=True).start()
        logger.info("worker started", extra={"worker": self.name, "queue": self.settings.queue_url})
        while not stop.is_set():
            try:
                messages = self.queue.receive(max_messages=1, wait_s=self.receive_wait_s)
            except Exception:  # noqa: BLE001 - SQS unavailable: back off, never die
                logger.exception("receive failed")
                stop.wait(2)
                continue
            for message in messages:
                if stop.is_set():
                    self._hand_back_unstarted(message)
                else:
                    self.handle(message)
        self._uploads.shutdown(wait=True)
        logger.info("worker stopped", extra={"worker": self.name})

    def _note_stop(self, stop: threading.Event) -> None:
        """Record when `stop` was set (the drain deadline counts from then)."""
        stop.wait()
        self._stopped_at = time.monotonic()

    def _drain_deadline(self) -> float | None:
        """The :func:`time.monotonic` instant past which an in-flight job is handed back; None while running."""
        if self._stop is None or not self._stop.is_set():
            return None
        if self._stopped_at is None:  # set a moment ago; the watcher thread has not run yet
            self._stopped_at = time.monotonic()
        return self._stopped_at + self.settings.drain_s

    def _hand_back_unstarted(self, message: JobMessage) -> None:
        """A message received as the worker was stopping: make it visible again at once, untouched."""
        try:
            self.queue.set_visibility(message, 0)
            logger.info("stopping: message handed back unstarted", extra={"jobId": message.job_id})
        except Exception:  # noqa: BLE001 - it reappears after the visibility timeout anyway
            logger.warning("could not hand back a message", extra={"jobId": message.job_id})

    def handle(self, message: JobMessage, deadline: float | None = None) -> MessageOutcome:
        """Process one message to a settled state. Never raises (a crash here would kill the loop).

        Args:
            message: the received message (its ``attempt`` is SQS's ApproximateReceiveCount).
            deadline: a :func:`time.monotonic` instant the attempt must end by, besides the job timeout
                (a Lambda invocation's end less a margin); past it the attempt is aborted at its next
                progress milestone and retried like a timed-out one. None: the job timeout only.

        Returns:
            What became of the message (:attr:`MessageOutcome.deleted` tells whether it is gone).
        """
        try:
            return self._handle(message, deadline)
        except Exception:  # noqa: BLE001 - left for SQS to redeliver
            logger.exception("unexpected error handling a message", extra={"jobId": message.job_id})
            return MessageOutcome.ERROR

    def _handle(self, message: JobMessage, deadline: float | None) -> MessageOutcome:
        if not message.job_id:
            logger.warning("malformed message deleted", extra={"messageId": message.message_id})
            self.queue.delete(message)
            return MessageOutcome.MALFORMED
        outcome, job = self.store.claim(message.job_id, message.attempt)
        if outcome in (ClaimOutcome.FINISHED, ClaimOutcome.MISSING):
            logger.info("duplicate delivery settled", extra={"jobId": message.job_id, "outcome": outcome.value})
            self.queue.delete(message)
            return MessageOutcome.DUPLICATE
        if outcome is ClaimOutcome.BUSY:
            logger.info("job held by another attempt; message left", extra={"jobId": message.job_id})
            return MessageOutcome.BUSY
        assert job is not None
        logger.append_keys(jobId=job.job_id, attempt=message.attempt)
        try:
            return self._run_attempt(job, message, deadline)
        finally:
            logger.remove_keys(["jobId", "attempt"])

    def _run_attempt(self, job: Job, message: JobMessage, limit: float | None = None) -> MessageOutcome:
        """Render, store and settle one claimed attempt: completed, failed for good, or handed back.
        `limit`: an earlier :func:`time.monotonic` end than the job timeout's (the invocation's), or None."""
        started = time.monotonic()
        deadline = started + self.settings.job_timeout_s
        cut_short = limit is not None and limit < deadline
        if cut_short:
            deadline = limit
        attempt = message.attempt

        def progress(value: int) -> None:
            self._check_time(deadline, cut_short)
            self.store.set_progress(job.job_id, attempt, value)

        vis = self.settings.visibility_timeout_s
        heartbeat = VisibilityHeartbeat(self.queue, message, vis, max(0.2, vis / 3), until=deadline + max(1.0, vis / 3))
        try:
            with heartbeat:
                keys, thumbnail = self._render_and_store(job, progress)
                ms = int((time.monotonic() - started) * 1000)
                if thumbnail is None:
                    done = self.store.complete(job.job_id, attempt, keys, ms)
                else:
                    done = self.store.complete(job.job_id, attempt, keys, ms, thumbnail_key=thumbnail)
        except AttemptLost:
            logger.warning("attempt lost the job to a newer one; result dropped")
            return MessageOutcome.LOST
        except PermanentJobError as exc:
            self._fail_permanently(job, message, str(exc), code=exc.code)
            return MessageOutcome.FAILED
        except WorkerStopping:
            self._hand_back(job, message)
            return MessageOutcome.HANDED_BACK
        except Exception as exc:  # noqa: BLE001 - transient: SQS redelivers
            self._release_for_retry(job, message, exc)
            return MessageOutcome.RETRY
        self._delete(message)
        elapsed = time.monotonic() - started
        emit_metric("JobLatency", elapsed * 1000, MetricUnit.Milliseconds, type=job.type.value)
        emit_metric("StickersMade", len(keys), MetricUnit.Count, type=job.type.value)
        logger.info("job completed", extra={"stickers": len(keys), "seconds": round(elapsed, 3)})
        self._notify(done.job_id)
        return MessageOutcome.COMPLETED

    def _check_time(self, job_deadline: float, cut_short: bool = False) -> None:
        """At a progress milestone: abort past the job timeout or past the drain deadline of a stop.

        Args:
            job_deadline: the attempt's end (:func:`time.monotonic`).
            cut_short: the end is the caller's deadline (an invocation's), earlier than the job timeout's.

        Raises:
            JobTimeout: the attempt ran past `job_deadline` (``settings.job_timeout_s``, or the caller's deadline).
            WorkerStopping: the worker is stopping and its drain deadline passed.
        """
        now = time.monotonic()
        if now > job_deadline:
            if cut_short:
                raise JobTimeout("The attempt ran out of its invocation's time")
            raise JobTimeout(f"The job ran longer than {self.settings.job_timeout_s:g} s")
        drain = self._drain_deadline()
        if drain is not None and now >= drain:
            raise WorkerStopping()

    def _delete(self, message: JobMessage) -> None:
        """Delete a settled message. A failure is logged, not raised: the job is already settled in
        DynamoDB, and the message, when it reappears, is recognised as a finished job's and deleted."""
        try:
            self.queue.delete(message)
        except Exception:  # noqa: BLE001
            logger.warning("could not delete a settled message; its redelivery will be settled", extra={"jobId": message.job_id})

    def _fail_permanently(self, job: Job, message: JobMessage, error: str, code: str | None = None) -> None:
        """A failure no retry can fix (the photo cannot be decoded, the generator refused the prompt):
        fail the job now, with its machine `code` if it has one, and drop the message."""
        logger.warning("job failed permanently", extra={"error": error, "code": code})
        if self.store.fail(job.job_id, error, attempt=message.attempt, code=code) is not None:
            emit_metric("JobsFailed", 1, MetricUnit.Count, reason="permanent")
        self._delete(message)
        self._notify(job.job_id)

    def _release_for_retry(self, job: Job, message: JobMessage, exc: Exception) -> None:
        """A transient failure: the job goes back to `queued` with its error, the message reappears
        after a backoff growing with the attempt number (the third failure's goes to the DLQ)."""
        attempt = message.attempt
        error = str(exc) if isinstance(exc, JobTimeout) else f"Sticker rendering failed on attempt {attempt}"
        logger.exception("attempt failed", extra={"error": repr(exc)})
        emit_metric("JobsFailed", 1, MetricUnit.Count, reason=type(exc).__name__)
        if self.store.release_for_retry(job.job_id, attempt, error):
            try:
                self.queue.set_visibility(message, limits.RETRY_BACKOFF_S * attempt)
            except Exception:  # noqa: BLE001 - the visibility timeout expires anyway
                logger.warning("could not shorten visibility for retry")

    def _hand_back(self, job: Job, message: JobMessage) -> None:
        """Stopping past the drain deadline: the job back to `queued`, the message visible at once."""
        logger.warning("stopping: unfinished job handed back", extra={"worker": self.name})
        emit_metric("JobsHandedBack", 1, MetricUnit.Count)
        if self.store.release_for_retry(job.job_id, message.attempt, HANDED_BACK_ERROR):
            try:
                self.queue.set_visibility(message, 0)
            except Exception:  # noqa: BLE001 - it reappears after the visibility timeout anyway
                logger.warning("could not make the handed-back message visible")

    def _notify(self, job_id: str) -> None:
        """Tell whoever wants to know that a job ended: the job's webhook (signed POST of its status
        document, in the background) and the `on_job_done` hook. Never raises."""
        if self.on_job_done is None and self.webhooks is None:
            return
        try:
            job = self.store.get(job_id)
            if job.callback_url and self.webhooks is not None:
                self.webhooks.deliver_async(job.callback_url, job.status_document(self.settings.cdn_base_url), job.owner_id)
            if self.on_job_done is not None:
                self.on_job_done(job)
        except Exception:  # noqa: BLE001 - a notification never fails a job
            logger.exception("job-done hook failed")

    # --- the work --------------------------------------------------------------------------------------
    def _render_and_store(self, job: Job, progress: Callable[[int], None]) -> tuple[list[str], str | None]:
        """Render the job's stickers, store them and its contact sheet; (sticker keys, thumbnail key
        or None when the contact sheet could not be made or stored)."""
        if job.type in (JobType.IMAGE, JobType.PROMPT):
            from gpu_service.pipeline.pipeline import decode_for_styles

            if job.type is JobType.PROMPT:  # the generator's picture takes the photo's place
                data = self._generate(job, progress)
            else:
                progress(ImageProgress.PREPROCESSING)
                data = self.storage.get_upload(job.upload_key or "")
            if data is None:
                raise PermanentJobError("The uploaded photo no longer exists")
            try:  # reduced-scale JPEG decode unless cutout (grown for output sizes over 512 px)
                image, _ = decode_for_styles(data, job.styles, job.output.size)
            except ValidationFailed as exc:
                raise PermanentJobError(exc.message) from None
            t0 = time.perf_counter()
            stickers = self.pipeline.render_image(image, job.styles, on_progress=progress, method=job.method, output=job.output)
            emit_metric("InferenceAndRenderLatency", (time.perf_counter() - t0) * 1000, MetricUnit.Milliseconds)
            stored = ImageProgress.STORED
        else:  # text styles have no method
            progress(TextProgress.VALIDATED)
            stickers = self.pipeline.render_text(job.text, job.keywords, job.styles, on_progress=progress, output=job.output)
            stored = TextProgress.STORED
        outputs = _sticker_files(job, stickers)  # (key, bytes, content type); messenger preset applied
        keys = [key for key, _, _ in outputs]
        futures = [self._uploads.submit(self.storage.put_sticker, key, data, ctype) for key, data, ctype in outputs]
        thumbnail = self._store_thumbnail(job, stickers)  # made while the stickers upload
        for f in futures:
            f.result()
        progress(stored)
        return keys, (thumbnail.result() if thumbnail is not None else None)

    def _generate(self, job: Job, progress: Callable[[int], None]) -> bytes:
        """The picture of a prompt job, from the image generator (:mod:`gpu_service.generation`), with
        its reference uploads; milestones 10 (asking) and 20 (picture received); EMF metrics
        ``GenerationLatency`` (ms) and ``PromptsRefused``.

        Raises:
            GenerationRefused: the content filter refused (the job fails with ``PROMPT_REFUSED``).
            PermanentJobError: no generator is configured here, a reference upload is gone or invalid.
            GenerationFailed: the generator stayed unavailable (the attempt is retried).
        """
        from gpu_service.generation import BedrockGenerator, GenerationRefused, GenerationRequest

        if self.generator is None:
            if self.settings.generator != "bedrock":
                raise PermanentJobError("No image generator is configured for this worker", code="GENERATION_UNAVAILABLE")
            self.generator = BedrockGenerator.from_settings(self.settings)
        progress(PromptProgress.GENERATING)
        references = []
        for key in job.reference_keys:
            data = self.storage.get_upload(key)
            if data is None:
                raise PermanentJobError("A reference image no longer exists")
            references.append(data)
        request = GenerationRequest(prompt=job.prompt or "", negative_prompt=job.negative_prompt, seed=job.seed, reference_images=references)
        t0 = time.perf_counter()
        try:
            picture = self.generator.generate(request)
        except GenerationRefused:
            emit_metric("PromptsRefused", 1, MetricUnit.Count)
            raise
        emit_metric("GenerationLatency", (time.perf_counter() - t0) * 1000, MetricUnit.Milliseconds)
        progress(PromptProgress.GENERATED)
        return picture

    def _store_thumbnail(self, job: Job, stickers: list) -> _Settled | None:
        """Make the job's contact sheet (:func:`gpu_service.pipeline.output.thumbnail_webp`) and start
        storing it at ``stickers/<jobId>/thumbnail.webp``; its ``result()`` is the key, or None when
        making or storing it failed (logged, metric ``ThumbnailsFailed``): a thumbnail never fails a job."""
        try:
            sheet = _thumbnail(stickers)
        except Exception:  # noqa: BLE001 - the stickers are what the job is for
            logger.exception("contact sheet could not be made; the job completes without one")
            emit_metric("ThumbnailsFailed", 1, MetricUnit.Count)
            return None
        key = thumbnail_key(job.job_id)
        return _Settled(self._uploads.submit(self.storage.put_sticker, key, sheet, "image/webp"), key)


class _Settled:
    """An S3 put in flight whose ``result()`` is its key, or None (logged) when it failed."""

    def __init__(self, future: concurrent.futures.Future, key: str) -> None:
        self._future, self._key = future, key

    def result(self) -> str | None:
        try:
            self._future.result()
        except Exception:  # noqa: BLE001 - a thumbnail never fails a job
            logger.exception("contact sheet could not be stored; the job completes without one")
            emit_metric("ThumbnailsFailed", 1, MetricUnit.Count)
            return None
        return self._key


def _images(stickers: list) -> list:
    """The RGBA image of each rendered sticker (decoded from its file when the pipeline kept none)."""
    import io

    from PIL import Image

    return [s.image if getattr(s, "image", None) is not None else Image.open(io.BytesIO(s.png)) for s in stickers]


def _thumbnail(stickers: list) -> bytes:
    """The job's contact sheet: a WebP grid of its stickers, longest side ≤ ``limits.THUMBNAIL_MAX_PX``."""
    from gpu_service.pipeline.output import thumbnail_webp

    return thumbnail_webp(_images(stickers), limits.THUMBNAIL_MAX_PX)


def _sticker_files(job: Job, stickers: list) -> list[tuple[str, bytes, str]]:
    """S3 key, bytes and content type of each rendered sticker (PNG, or WebP when the job asked for
    it), re-encoded for the job's messenger preset when it has one
    (:func:`gpu_service.pipeline.presets.apply_preset`, which decides size and format)."""
    if not job.preset:
        return [
            (sticker_key(job.job_id, s.index, s.style, getattr(s, "extension", "png")), s.png, getattr(s, "content_type", "image/png"))
            for s in stickers
        ]
    from gpu_service.pipeline.presets import apply_preset

    files = []
    for s, image in zip(stickers, _images(stickers)):
        data, extension, content_type = apply_preset(image, job.preset)
        files.append((sticker_key(job.job_id, s.index, s.style, extension), data, content_type))
    return files


def configure_logging(level: str = "INFO") -> None:
    """Set the worker's log level (JSON logs to stdout via Powertools)."""
    logger.setLevel(level)
    logging.getLogger("botocore").setLevel(logging.WARNING)
