"""CPU inference Lambda: consumes the jobs queue (SQS event source, batches, partial batch responses).

The same job semantics and the same pipeline as the GPU worker, by the same code: each record is one
:meth:`gpu_service.worker.Worker.handle` call (conditional claim with attempt = ApproximateReceiveCount,
visibility heartbeat, progress milestones, the job timeout, retry backoff by ChangeMessageVisibility,
permanent failures, webhooks, metrics; docs/design.md, "The CPU inference Lambda"). What this module
adds is the mapping to Lambda's SQS event source with ``ReportBatchItemFailures``:

* a record whose message the worker **deleted** (:attr:`~gpu_service.worker.MessageOutcome.deleted`:
  completed, failed for good, a duplicate delivery of a finished or deleted job, a malformed body) is a
  success. The worker deletes settled messages itself, as on ECS, so a job that completed is never
  redelivered even when the invocation dies later in the batch; the event source mapping then deletes
  the successes again, which SQS accepts (deleting a deleted message succeeds).
* a record whose message was **left** on the queue is a batch item failure, which the mapping leaves
  alone: ``busy`` (another attempt holds the job; the message reappears after its visibility timeout),
  ``retry`` (a transient failure; the worker set the retry backoff as its visibility), ``lost``
  (a newer attempt owns the job) and ``error``. After ``maxReceiveCount`` receives SQS moves it to the
  dead-letter queue, whose handler fails the job.
* records are started one after another while the invocation's remaining time
  (``context.get_remaining_time_in_millis()``) still holds a whole attempt: the job timeout plus
  :data:`SETTLE_MARGIN_S`. The first record of an invocation always starts (with its budget cut to the
  invocation's end less the margin, should the function timeout be shorter than the job timeout). The
  records left over are made visible again at once (visibility 0: another invocation takes them) and
  reported as failures. Each attempt ends by the invocation's end less the margin (the worker aborts it
  at its next milestone and hands the job back for a retry) so the function is never killed mid-job.

Execution environment: the settings, the AWS clients, the pipeline and its segmentation model session
are created once, at import (Lambda's init phase: :func:`cold_init`), and reused by every invocation of
the environment. Init is measured (:data:`COLD_INIT`, logged as ``"cold init"`` with ``importS`` and
``modelS``). The int8 u2netp file is built into the container image (functions/inference/Dockerfile),
never at cold start; Lambda's file system is read-only but ``/tmp``.

Configuration: the worker's ``STICKERS_*`` variables (:class:`stickers_core.settings.Settings` and
:class:`gpu_service.pipeline.settings.PipelineSettings`); the image sets ``STICKERS_EXECUTION_PROVIDER=cpu``
and ``STICKERS_CACHE_DIR`` (where the int8 file is).
"""

from __future__ import annotations

import threading
import time

_IMPORT_STARTED = time.perf_counter()

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response  # noqa: E402
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord  # noqa: E402
from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa: E402

import gpu_service.pipeline  # noqa: E402, F401 - numpy, OpenCV, onnxruntime, Pillow: part of the measured cold init
from gpu_service.entry import check_execution_provider  # noqa: E402
from gpu_service.pipeline.settings import PipelineSettings  # noqa: E402
from gpu_service.worker import Worker, configure_logging, logger  # noqa: E402
from stickers_core.queue import JobMessage, parse_job_id  # noqa: E402
from stickers_core.settings import Settings  # noqa: E402

_IMPORTS_DONE = time.perf_counter()

#: Seconds of an invocation kept back after the last attempt: to settle it (S3, DynamoDB, SQS calls)
#: and deliver the batch's webhooks before the function's timeout.
SETTLE_MARGIN_S = 5.0
#: Cold init of this execution environment, seconds: ``import_s`` (the modules), ``model_s`` (settings,
#: AWS clients, pipeline, the die-cut model's session), ``total_s``; plus ``execution_provider``.
COLD_INIT: dict[str, float | str] = {}


class RecordNotProcessed(Exception):
    """The record's message was left on the queue: the event source mapping must not delete it."""

    def __init__(self, message_id: str, outcome: str) -> None:
        super().__init__(f"message {message_id} left on the queue: {outcome}")
        self.outcome = outcome


def message_from_record(record: SQSRecord) -> JobMessage:
    """The :class:`~stickers_core.queue.JobMessage` of one SQS event record (``job_id`` empty when the
    body is not a job message; ``attempt`` is the record's ``ApproximateReceiveCount``)."""
    return JobMessage(
        job_id=parse_job_id(record.body or ""),
        receipt_handle=record.receipt_handle,
        attempt=int(record.attributes.approximate_receive_count or 1),
        message_id=record.message_id,
    )


def cold_init() -> Worker:
    """Build this execution environment's consumer: settings from the environment, the AWS clients,
    the pipeline, and the segmentation model of die-cut jobs (its onnxruntime session, logged with the
    execution provider it took). Records the times in :data:`COLD_INIT`.

    Raises:
        pydantic.ValidationError: a ``STICKERS_*`` variable is invalid.
        ValueError, FileNotFoundError, ImportError: the model cannot be loaded (init fails, as it must).
    """
    t0 = time.perf_counter()
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    worker = Worker(settings, name="lambda", pipeline_settings=PipelineSettings.for_service(settings))
    runs_on = check_execution_provider(worker.pipeline.model, settings)  # loads the model now
    done = time.perf_counter()
    COLD_INIT.update(
        import_s=round(_IMPORTS_DONE - _IMPORT_STARTED, 3),
        model_s=round(done - t0, 3),
        total_s=round(done - _IMPORT_STARTED, 3),
        execution_provider=runs_on,
    )
    logger.info("cold init", extra={"importS": COLD_INIT["import_s"], "modelS": COLD_INIT["model_s"], "totalS": COLD_INIT["total_s"],
                                    "executionProvider": runs_on, "model": getattr(worker.pipeline.model, "name", None),
                                    "quant": getattr(worker.pipeline.model, "quant", None)})  # fmt: skip
    return worker


worker = cold_init()


def _hand_back_unstarted(message: JobMessage) -> None:
    """A record there is no time left for: visible again at once, untouched (never raises)."""
    try:
        worker.queue.set_visibility(message, 0)
    except Exception:  # noqa: BLE001 - it reappears after its visibility timeout anyway
        logger.warning("could not hand back an unstarted record", extra={"jobId": message.job_id})


#: Per-invocation state (whether a record was started yet), per thread: Lambda runs one invocation at a
#: time per environment, the local stack's event source mapping several in one process.
_invocation = threading.local()


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> str:
    """Process one record with the worker's per-message code; returns the outcome's value.

    Raises:
        RecordNotProcessed: the message was left on the queue (a batch item failure), or there was no
            time left to start it (then it was made visible again at once).
    """
    message = message_from_record(record)
    remaining_s = lambda_context.get_remaining_time_in_millis() / 1000
    if getattr(_invocation, "started", False) and remaining_s < worker.settings.job_timeout_s + SETTLE_MARGIN_S:
        _hand_back_unstarted(message)
        raise RecordNotProcessed(record.message_id, "not started: the invocation's remaining time cannot fit a job")
    _invocation.started = True
    outcome = worker.handle(message, deadline=time.monotonic() + remaining_s - SETTLE_MARGIN_S)
    if not outcome.deleted:
        raise RecordNotProcessed(record.message_id, outcome.value)
    return outcome.value


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    """Lambda entry point (SQS event source on the jobs queue, ``ReportBatchItemFailures``).

    Returns:
        ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, …]}`` listing the records whose
        messages were left on the queue (module docstring).
    """
    _invocation.started = False
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)  # holds the batch's state
    result = process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    if worker.webhooks is not None:  # the environment freezes after the return: deliver now, bounded
        worker.webhooks.join(max(0.0, context.get_remaining_time_in_millis() / 1000 - 1.0))
    return result
