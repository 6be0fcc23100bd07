"""Dead-letter Lambda: a message that SQS gave up on (3 receives) fails its job for good.

Triggered by an SQS event source on the dead-letter queue, with partial batch responses: a record that
cannot be settled now (DynamoDB unavailable) is reported back and retried; the rest are deleted.

A job failed here that has a ``callbackUrl`` gets its webhook like any other ended job (docs/api.md): the
final status document, signed with the owner key's secret (:mod:`stickers_core.webhooks`). Deliveries
are made after the batch is settled, in parallel, synchronously within the invocation and bounded to
a few seconds (:data:`WEBHOOK_TRIES` short POSTs each); they never raise and never fail a record.
Only the invocation whose conditional write failed the job delivers, so a redelivered dead letter
does not notify twice.
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from stickers_core import limits
from stickers_core.errors import JobNotFound
from stickers_core.queue import parse_job_id
from stickers_core.settings import Settings
from stickers_core.store import JobStore
from stickers_core.webhooks import WebhookNotifier

logger = Logger(service=limits.SERVICE_NAME)
# stickers_core logs with the standard library (e.g. stickers_core.webhooks: "webhook attempt failed").
# Those records would go to the root logger only, whose handler (the Lambda runtime's) Powertools
# filters to drop every record whose logger name contains the service name ("stickers"): they were
# silently lost on AWS. Give the stickers_core loggers this logger's handler and level instead.
copy_config_to_registered_loggers(source_logger=logger, include={"stickers_core"})
warnings.filterwarnings("ignore", message="No application metrics to publish")
metrics = Metrics(namespace=limits.METRICS_NAMESPACE, service=limits.SERVICE_NAME)
processor = BatchProcessor(event_type=EventType.SQS)

#: POSTs per webhook at most, the timeout of each and the pause before the retry, seconds: one delivery
#: takes at most 2 × 2 s + 0.5 s, and all of a batch's deliveries run in parallel.
WEBHOOK_TRIES = 2
WEBHOOK_TIMEOUT_S = 2.0
WEBHOOK_BACKOFF_S = 0.5
#: Deliveries in parallel at most (a batch holds up to 10 records).
WEBHOOK_PARALLELISM = 10
#: Seconds of the invocation kept free after the deliveries (the handler must answer before its timeout).
DEADLINE_MARGIN_S = 2.0

_store: JobStore | None = None
_notifier: WebhookNotifier | None = None
_pending = threading.local()


@dataclass(frozen=True)
class Webhook:
    """One webhook to deliver: where, what (the final status document) and for which API key."""

    url: str
    document: dict[str, Any]
    api_key_id: str


def reset() -> None:
    """Forget the process-wide store and notifier (the next call builds them from the environment again):
    the local stack calls it when a new stack of the same process starts its dead-letter poller."""
    global _store, _notifier
    _store = _notifier = None


def store() -> JobStore:
    """The process-wide job store."""
    global _store
    if _store is None:
        _store = JobStore(Settings.from_env().table_name)
    return _store


def notifier() -> WebhookNotifier:
    """The process-wide webhook notifier, with the short, bounded retries of this function."""
    global _notifier
    if _notifier is None:
        _notifier = WebhookNotifier(max_tries=WEBHOOK_TRIES, first_backoff_s=WEBHOOK_BACKOFF_S, timeout_s=WEBHOOK_TIMEOUT_S)
    return _notifier


def _queue_webhook(webhook: Webhook) -> None:
    if not hasattr(_pending, "webhooks"):
        _pending.webhooks = []
    _pending.webhooks.append(webhook)


def _take_webhooks() -> list[Webhook]:
    webhooks: list[Webhook] = getattr(_pending, "webhooks", [])
    _pending.webhooks = []
    return webhooks


def deliver_webhooks(webhooks: list[Webhook], budget_s: float) -> int:
    """POST `webhooks` in parallel, waiting at most `budget_s` seconds; returns how many got a 2xx.

    Never raises: :meth:`WebhookNotifier.deliver` logs refusals and failures itself, and a delivery
    still running when the budget is spent is abandoned (logged here).
    """
    if not webhooks:
        return 0
    pool = ThreadPoolExecutor(max_workers=min(WEBHOOK_PARALLELISM, len(webhooks)), thread_name_prefix="dlq-webhook")
    try:
        futures = [pool.submit(notifier().deliver, w.url, w.document, w.api_key_id) for w in webhooks]
        done, not_done = wait(futures, timeout=max(0.0, budget_s))
        if not_done:
            logger.warning("webhooks still running at the deadline were abandoned", extra={"count": len(not_done)})
        return sum(1 for f in done if f.exception() is None and f.result())
    except Exception:  # noqa: BLE001 - a notification never fails the batch
        logger.exception("webhook delivery failed")
        return 0
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def final_error(last_error: str | None, attempts: int) -> str:
    """The sentence a dead-lettered job ends with: its last attempt's error when one was recorded."""
    if last_error:
        return last_error
    return f"The job did not finish after {attempts} attempts (the worker stopped or timed out)"


def record_handler(record: SQSRecord) -> None:
    """Fail the record's job unless it already ended. Malformed messages are logged and dropped."""
    job_id = parse_job_id(record.body or "")
    if not job_id:
        logger.warning("dead letter without a job id dropped", extra={"messageId": record.message_id})
        return
    try:
        job = store().get(job_id)
    except JobNotFound:
        logger.info("dead letter for a deleted job", extra={"jobId": job_id})
        return
    if job.status.terminal:
        logger.info("dead letter for a finished job", extra={"jobId": job_id, "status": job.status.value})
        return
    failed = store().fail(job_id, final_error(job.error, job.attempts))
    if failed is not None:
        metrics.add_metric(name="JobsDeadLettered", unit=MetricUnit.Count, value=1)
        logger.warning("job failed after its last attempt", extra={"jobId": job_id, "error": failed.error})
        if failed.callback_url:
            try:
                document = failed.status_document(Settings.from_env().cdn_base_url)
                _queue_webhook(Webhook(failed.callback_url, document, failed.owner_id))
            except Exception:  # noqa: BLE001 - the job is failed; its notification is best effort
                logger.exception("webhook of a dead-lettered job not prepared", extra={"jobId": job_id})


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (SQS event source on the DLQ, ReportBatchItemFailures).

    Settles the batch, then delivers the webhooks of the jobs it failed (bounded by the invocation's
    remaining time less :data:`DEADLINE_MARGIN_S`).
    """
    _take_webhooks()  # nothing left over from an invocation that raised
    result = process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    webhooks = _take_webhooks()
    if webhooks:
        budget_s = context.get_remaining_time_in_millis() / 1000 - DEADLINE_MARGIN_S
        delivered = deliver_webhooks(webhooks, budget_s)
        logger.info("webhooks of dead-lettered jobs", extra={"queued": len(webhooks), "delivered": delivered})
    return result
