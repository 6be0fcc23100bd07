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

Order: a batch's records are grouped by job; the groups run in parallel (:data:`PARALLEL_JOBS` at a
time: one job's subscribers never wait for another's), each group in stream order. Once a record of a
job fails, that job's later records in the batch are reported failed without being handled, so Lambda
resumes the shard from the lowest failed sequence number and no later change of a job is sent before
an earlier one; records of other jobs handled after that point are handled again on the retry, and
their subscriptions' revisions skip what was already sent. A batch in which every record failed
raises, so that Lambda bisects it.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from stickers_core import limits, realtime
from stickers_core.settings import Settings

logger = Logger(service=limits.SERVICE_NAME)
copy_config_to_registered_loggers(source_logger=logger, include={"stickers_core"})
warnings.filterwarnings("ignore", message="No application metrics to publish")
metrics = Metrics(namespace=limits.METRICS_NAMESPACE, service=limits.SERVICE_NAME)

#: EMF metrics of this function.
MESSAGES_SENT = "WebSocketMessagesSent"
CONNECTIONS_GONE = "WebSocketConnectionsGone"
#: Jobs of one batch handled at the same time.
PARALLEL_JOBS = 8

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


class BatchFailed(Exception):
    """Every record of the batch failed: Lambda retries (and bisects) the whole batch."""


def _job_key(record: dict[str, Any]) -> str:
    return str(((record.get("dynamodb") or {}).get("Keys") or {}).get("jobId", {}).get("S", ""))


def _sequence(record: dict[str, Any]) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber", ""))


def create_handler(
    settings: Settings | None = None,
    *,
    store: realtime.ConnectionStore | None = None,
    poster: realtime.Poster | None = None,
) -> Handler:
    """A Lambda handler bound to `settings` (default: the environment's) and optional adapters (a
    given `store` is shared by the threads; by default each thread builds its own, as boto3 resources
    are not thread-safe)."""
    settings = settings or Settings.from_env()
    local = threading.local()
    shared_poster: list[realtime.Poster] = []

    def notifier() -> realtime.Notifier:
        if not hasattr(local, "notifier"):
            connections = store or realtime.ConnectionStore(
                settings.connections_table,
                max_connections_per_key=settings.ws_max_connections_per_key,
                max_subscriptions=settings.ws_max_subscriptions,
            )
            if not shared_poster:  # boto3 clients are thread-safe: one for all threads
                shared_poster.append(poster or realtime.ManagementApiPoster(settings.ws_management_url))
            local.notifier = realtime.Notifier(realtime.Publisher(connections, shared_poster[0]), settings.cdn_base_url)
        return local.notifier

    def handle_job(records: list[dict[str, Any]]) -> tuple[list[str], int, int]:
        """One job's records in order: the sequence numbers not done (from the first failure on), sent, gone."""
        sent = gone = 0
        subscriptions: dict[str, list[realtime.Subscription]] = {}  # one Query per job and batch
        for i, record in enumerate(records):
            try:
                result = notifier().handle(record, subscriptions)
            except Exception:
                logger.exception("job change not delivered; the shard resumes from this record", extra={"jobId": _job_key(record)})
                return [_sequence(r) for r in records[i:]], sent, gone
            if result is not None:
                sent, gone = sent + result.sent, gone + result.gone
        return [], sent, gone

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001 - Lambda's handler signature
        records: list[dict[str, Any]] = event.get("Records") or []
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in records:  # stream order within each job
            groups.setdefault(_job_key(record), []).append(record)
        with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL_JOBS, len(groups)))) as pool:
            outcomes = list(pool.map(handle_job, groups.values()))
        failed = {sequence for not_done, _, _ in outcomes for sequence in not_done}
        sent, gone = sum(o[1] for o in outcomes), sum(o[2] for o in outcomes)
        if sent:
            metrics.add_metric(name=MESSAGES_SENT, unit=MetricUnit.Count, value=sent)
        if gone:
            metrics.add_metric(name=CONNECTIONS_GONE, unit=MetricUnit.Count, value=gone)
        if records and len(failed) == len(records):
            raise BatchFailed(f"all {len(records)} records failed")
        return {"batchItemFailures": [{"itemIdentifier": _sequence(r)} for r in records if _sequence(r) in failed]}

    return handler


_handler: Handler | None = None


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (DynamoDB stream of the jobs table, ReportBatchItemFailures)."""
    global _handler
    if _handler is None:
        _handler = create_handler()
    return _handler(event, context)
