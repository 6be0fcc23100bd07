"""Notifier Lambda: every change of a job's status or progress → the job owner's WebSocket subscribers.

Event source: the jobs table's DynamoDB stream (``NEW_AND_OLD_IMAGES``) through an event source mapping
with parallelization factor 1 (one batch per shard at a time: the changes of one job arrive in the order
they were written), bisect-on-error and partial batch responses (``ReportBatchItemFailures``); locally a
poller plays that mapping (``local_stack.stack.StreamPoller``). Why the stream: every writer of a job
(the API, the GPU workers, the dead-letter function) already writes the table, so nothing upstream
needs to know about WebSockets and no change is missed.

Each record is handled by :class:`stickers_core.realtime.Notifier`: the status document is built as
``GET /v1/jobs/{jobId}`` builds it and posted (``PostToConnection``) to the subscriptions of the job's
owner whose last revision is older; connections found gone are forgotten.

Order within a batch: records are handled one after the other, and once one fails the rest of the batch
is reported failed without being handled, so Lambda resumes the shard from the first failure and no
later change of a job is sent before an earlier one (a resend of what a subscription already has is
skipped by its revision).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from stickers_core import limits, realtime
from stickers_core.settings import Settings

logger = Logger(service=limits.SERVICE_NAME)
copy_config_to_registered_loggers(source_logger=logger, include={"stickers_core"})
warnings.filterwarnings("ignore", message="No application metrics to publish")
metrics = Metrics(namespace=limits.METRICS_NAMESPACE, service=limits.SERVICE_NAME)
tracer = Tracer(service=limits.SERVICE_NAME)

#: EMF metrics of this function.
MESSAGES_SENT = "WebSocketMessagesSent"
CONNECTIONS_GONE = "WebSocketConnectionsGone"

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


class NotAttempted(Exception):
    """A record after a failed one in the same batch: left for the retry, to keep each job's order."""


def create_handler(
    settings: Settings | None = None,
    *,
    store: realtime.ConnectionStore | None = None,
    poster: realtime.Poster | None = None,
) -> Handler:
    """A Lambda handler bound to `settings` (default: the environment's) and optional adapters."""
    settings = settings or Settings.from_env()
    built: dict[str, realtime.Notifier] = {}

    def notifier() -> realtime.Notifier:
        if "n" not in built:
            connections = store or realtime.ConnectionStore(
                settings.connections_table,
                max_connections_per_key=settings.ws_max_connections_per_key,
                max_subscriptions=settings.ws_max_subscriptions,
            )
            publisher = realtime.Publisher(connections, poster or realtime.ManagementApiPoster(settings.ws_management_url))
            built["n"] = realtime.Notifier(publisher, settings.cdn_base_url)
        return built["n"]

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # traced as '## handler'
        failed = False

        def record_handler(record: DynamoDBRecord) -> None:
            nonlocal failed
            if failed:
                raise NotAttempted(record.dynamodb.sequence_number if record.dynamodb else "")
            try:
                result = notifier().handle(record.raw_event)
            except Exception:
                failed = True
                logger.exception("job change not delivered; the batch resumes from this record")
                raise
            if result is not None:
                if result.sent:
                    metrics.add_metric(name=MESSAGES_SENT, unit=MetricUnit.Count, value=result.sent)
                if result.gone:
                    metrics.add_metric(name=CONNECTIONS_GONE, unit=MetricUnit.Count, value=result.gone)

        processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
        return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

    return handler


_handler: Handler | None = None


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (DynamoDB stream of the jobs table, ReportBatchItemFailures)."""
    global _handler
    if _handler is None:
        _handler = create_handler()
    return _handler(event, context)
