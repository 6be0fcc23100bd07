"""Job state and work: the DynamoDB tables and the SQS queues."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StackConfig
from stickers_core import limits
from stickers_core.settings import Settings

#: Attribute names of the jobs table (the core package's job store uses them).
JOB_ID_ATTR = "jobId"
OWNER_ATTR = "ownerId"
CREATED_AT_ATTR = "createdAt"
TTL_ATTR = "expiresAt"
#: Powertools idempotency table layout (its defaults).
IDEMPOTENCY_KEY_ATTR = "id"
IDEMPOTENCY_TTL_ATTR = "expiration"


class Jobs(Construct):
    """The jobs table (+ owner index), the idempotency table, the jobs queue and its dead-letter queue.

    - ``table``: on demand, point-in-time recovery, TTL on ``expiresAt``, AWS-managed KMS encryption,
      GSI ``byOwner`` (``ownerId`` + ``createdAt``: one key's jobs newest first), a stream of new and old
      images (the live-progress notifier's event source, :class:`infra.realtime.Realtime`).
    - ``queue``: visibility timeout above the job timeout, long polling, KMS encryption, TLS enforced,
      redrive to ``dlq`` after ``limits.MAX_ATTEMPTS`` receives.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY

        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=config.name(limits.TABLE_NAME),
            partition_key=dynamodb.Attribute(name=JOB_ID_ATTR, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=TTL_ATTR,
            # every change of a job, old and new image, in order per job: live progress (infra/realtime.py)
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            removal_policy=removal,
        )
        self.table.add_global_secondary_index(
            index_name=limits.OWNER_INDEX_NAME,
            partition_key=dynamodb.Attribute(name=OWNER_ATTR, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=CREATED_AT_ATTR, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )

        self.idempotency_table = dynamodb.Table(
            self,
            "IdempotencyTable",
            table_name=config.name(Settings().idempotency_table),
            partition_key=dynamodb.Attribute(name=IDEMPOTENCY_KEY_ATTR, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=IDEMPOTENCY_TTL_ATTR,
            removal_policy=RemovalPolicy.DESTROY,  # 24 h records: nothing worth keeping
        )

        self.dlq = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=config.name(limits.DLQ_NAME),
            retention_period=Duration.days(limits.DLQ_RETENTION_DAYS),
            # The dead-letter function's timeout times six (AWS guidance for SQS event sources).
            visibility_timeout=Duration.seconds(6 * config.dlq_timeout_s),
            encryption=sqs.QueueEncryption.KMS_MANAGED,
            enforce_ssl=True,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=config.name(limits.QUEUE_NAME),
            visibility_timeout=Duration.seconds(limits.VISIBILITY_TIMEOUT_S),
            receive_message_wait_time=Duration.seconds(limits.RECEIVE_WAIT_S),
            retention_period=Duration.days(4),
            encryption=sqs.QueueEncryption.KMS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=limits.MAX_ATTEMPTS),
        )
