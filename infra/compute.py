"""The Lambda functions: the API handler and the dead-letter handler, with least-privilege grants."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.bundling import CoreLayer, function_handler, stage_function
from infra.config import StackConfig
from infra.generation import generation_environment
from infra.jobs import Jobs
from infra.secrets import WebhookSecret
from infra.storage import Storage
from stickers_core import limits, settings

#: The functions' runtime and architecture; the layer's wheels are built for exactly these.
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64


def service_environment(config: StackConfig, jobs: Jobs, storage: Storage, webhook_secret: WebhookSecret) -> dict[str, str]:
    """The ``STICKERS_*`` variables every host reads (names from :mod:`stickers_core.settings`),
    including the CDN base URL of the status documents and the webhook secret's ARN."""
    env = {
        settings.ENV_TABLE_NAME: jobs.table.table_name,
        settings.ENV_QUEUE_URL: jobs.queue.queue_url,
        settings.ENV_DLQ_URL: jobs.dlq.queue_url,
        settings.ENV_UPLOADS_BUCKET: storage.uploads_bucket.bucket_name,
        settings.ENV_STICKERS_BUCKET: storage.stickers_bucket.bucket_name,
        settings.ENV_CDN_BASE_URL: storage.cdn_base_url,
        settings.ENV_JOB_TIMEOUT_S: str(limits.JOB_TIMEOUT_S),
        settings.ENV_VISIBILITY_TIMEOUT_S: str(limits.VISIBILITY_TIMEOUT_S),
        settings.ENV_MAX_ATTEMPTS: str(limits.MAX_ATTEMPTS),
        settings.ENV_MODEL_NAME: config.model_name,
        # new job records expire (DynamoDB TTL) after as many days as the stickers (lifecycle rule)
        settings.ENV_RETENTION_DAYS: str(config.sticker_retention_days),
        **webhook_secret.environment,
        **generation_environment(config),  # stickers from a prompt: generator, model, region, daily quota
    }
    if config.model_path:
        env[settings.ENV_MODEL_PATH] = config.model_path
    return env


def _powertools_env() -> dict[str, str]:
    return {
        "POWERTOOLS_SERVICE_NAME": limits.SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": limits.METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        # X-Ray must not store what handlers return (webhook secrets, presigned-POST credentials, user text)
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    }


class Functions(Construct):
    """The core layer, the API function and the dead-letter function.

    Grants (least privilege):
      - API: read/write the jobs table and its index; get/put/update/delete records of the idempotency
        table; send to the jobs queue; read both queues' attributes (``/v1/stats``); put/get/delete
        photos under ``uploads/`` (and list only under that prefix, to tell a missing upload from a
        refused one); list only under ``stickers/`` and delete stickers (``DELETE /v1/jobs``); read the
        webhook master secret (``GET /v1/webhooks/secret``). It cannot write stickers.
      - Dead-letter: consume the DLQ; GetItem/UpdateItem on the jobs table; read the webhook master
        secret (a dead-lettered job with a ``callbackUrl`` gets its signed webhook from this function).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        jobs: Jobs,
        storage: Storage,
        webhook_secret: WebhookSecret,
    ) -> None:
        super().__init__(scope, construct_id)
        self.layer = CoreLayer(self, "CoreLayer", runtime=RUNTIME, architecture=ARCHITECTURE).layer
        env = service_environment(config, jobs, storage, webhook_secret)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        retention = retention_days(config.log_retention_days)

        self.api_function = self._function(
            "Api",
            "ApiLogs",
            "api",
            description="Sticker API (API Gateway proxy integration, Powertools resolver)",
            memory_mb=config.api_memory_mb,
            timeout_s=config.api_timeout_s,
            reserved_concurrency=config.api_reserved_concurrency,
            environment={
                **env,
                **_powertools_env(),
                settings.ENV_IDEMPOTENCY_TABLE: jobs.idempotency_table.table_name,
                # GET /v1/health names what consumes the queue: unset = "worker" (the GPU fleet alone)
                **({settings.ENV_INFERENCE: config.inference} if config.deploys_lambda else {}),
                # every API response carries CORS for these origins, like the preflight (infra/api.py)
                settings.ENV_CORS_ORIGINS: ",".join(config.cors_origins),
            },
            retention=retention,
            removal=removal,
        )
        api = self.api_function
        # Exactly what StickerService does: put new jobs, read and query them, fail a job whose message
        # could not be sent (update), delete a finished job. No Scan, no BatchWrite.
        # Each status change is a TransactWriteItems (the job + its owner's counters item), which IAM
        # authorises per element as PutItem / UpdateItem / DeleteItem: no other action needed.
        jobs.table.grant(api, "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        # Powertools' DynamoDB idempotency layer: get, conditional put, update, delete of one record; no Scan, no batch.
        jobs.idempotency_table.grant(api, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        jobs.queue.grant_send_messages(api)
        api.add_to_role_policy(
            iam.PolicyStatement(
                sid="QueueStats",
                actions=["sqs:GetQueueAttributes"],
                resources=[jobs.queue.queue_arn, jobs.dlq.queue_arn],
            )
        )
        uploads_objects = storage.uploads_bucket.arn_for_objects(f"{limits.UPLOADS_PREFIX}/*")
        api.add_to_role_policy(
            iam.PolicyStatement(
                sid="Uploads",
                actions=["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                resources=[uploads_objects],
            )
        )
        # Listing only under the service's own prefixes (an upload's existence, a job's stickers to delete).
        api.add_to_role_policy(
            iam.PolicyStatement(
                sid="ListUploads",
                actions=["s3:ListBucket"],
                resources=[storage.uploads_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{limits.UPLOADS_PREFIX}/*"]}},
            )
        )
        api.add_to_role_policy(
            iam.PolicyStatement(
                sid="ListStickers",
                actions=["s3:ListBucket"],
                resources=[storage.stickers_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{limits.STICKERS_PREFIX}/*"]}},
            )
        )
        api.add_to_role_policy(
            iam.PolicyStatement(
                sid="DeleteStickers",
                actions=["s3:DeleteObject"],
                resources=[storage.stickers_bucket.arn_for_objects(f"{limits.STICKERS_PREFIX}/*")],
            )
        )

        self.dead_letter_function = self._function(
            "DeadLetters",
            "DeadLetterLogs",
            "dead_letters",
            description="Marks jobs whose messages reached the dead-letter queue as failed",
            memory_mb=config.dlq_memory_mb,
            timeout_s=config.dlq_timeout_s,
            reserved_concurrency=config.dlq_reserved_concurrency,
            environment={**env, **_powertools_env()},
            retention=retention,
            removal=removal,
        )
        self.dead_letter_function.add_event_source(
            sources.SqsEventSource(
                jobs.dlq,
                batch_size=10,
                max_batching_window=Duration.seconds(5),
                report_batch_item_failures=True,
            )
        )
        self.dead_letter_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="MarkJobsFailed",
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[jobs.table.table_arn],
            )
        )
        webhook_secret.grant_read(self.api_function)
        webhook_secret.grant_read(self.dead_letter_function)
        self.functions = [self.api_function, self.dead_letter_function]

    def _function(self, construct_id: str, log_group_id: str, folder: str, **options: Any) -> lambda_.Function:
        """:func:`service_function` in this construct, on its core layer."""
        return service_function(self, construct_id, log_group_id, folder, layer=self.layer, **options)


def service_function(
    scope: Construct,
    construct_id: str,
    log_group_id: str,
    folder: str,
    *,
    layer: lambda_.ILayerVersion,
    description: str,
    memory_mb: int,
    timeout_s: int,
    environment: dict[str, str],
    retention: logs.RetentionDays,
    removal: RemovalPolicy,
    reserved_concurrency: int | None = None,
) -> lambda_.Function:
    """One function of ``functions/<folder>`` on the core layer, as every function of the stack is declared:
    the shared runtime and architecture, X-Ray active tracing, JSON logs into its own log group. Its code
    asset is the ``functions`` package holding that function (:func:`infra.bundling.stage_function`), with
    the handler ``functions.<folder>.app.handler``: the modules import each other as in this repository."""
    log_group = logs.LogGroup(scope, log_group_id, retention=retention, removal_policy=removal)
    return lambda_.Function(
        scope,
        construct_id,
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=function_handler(folder),
        code=lambda_.Code.from_asset(str(stage_function(folder))),
        layers=[layer],
        memory_size=memory_mb,
        timeout=Duration.seconds(timeout_s),
        reserved_concurrent_executions=reserved_concurrency,
        tracing=lambda_.Tracing.ACTIVE,
        logging_format=lambda_.LoggingFormat.JSON,
        log_group=log_group,
        environment=environment,
    )


_RETENTIONS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def retention_days(days: int) -> logs.RetentionDays:
    """The shortest CloudWatch Logs retention that keeps at least `days` days (capped at a year)."""
    for value in sorted(_RETENTIONS):
        if value >= days:
            return _RETENTIONS[value]
    return logs.RetentionDays.ONE_YEAR
