"""Dead-letter Lambda: a message that SQS gave up on (3 receives) fails its job for good.

Triggered by an SQS event source on the dead-letter queue, with partial batch responses: a record that
cannot be settled now (DynamoDB unavailable) is reported back and retried; the rest are deleted.
"""

from __future__ import annotations

import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from stickers_core import limits
from stickers_core.errors import JobNotFound
from stickers_core.queue import parse_job_id
from stickers_core.settings import Settings
from stickers_core.store import JobStore

logger = Logger(service=limits.SERVICE_NAME)
warnings.filterwarnings("ignore", message="No application metrics to publish")
metrics = Metrics(namespace=limits.METRICS_NAMESPACE, service=limits.SERVICE_NAME)
processor = BatchProcessor(event_type=EventType.SQS)

_store: JobStore | None = None


def store() -> JobStore:
    """The process-wide job store."""
    global _store
    if _store is None:
        _store = JobStore(Settings.from_env().table_name)
    return _store


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


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (SQS event source on the DLQ, ReportBatchItemFailures)."""
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
