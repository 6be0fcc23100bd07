"""The CPU inference Lambda: a container-image function consuming the jobs queue (``inference`` ``lambda``
and ``hybrid``), the same job semantics as the GPU worker (``functions/inference``, ``gpu_service.worker``)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.bundling import REPO_ROOT
from infra.compute import _powertools_env, retention_days, service_environment
from infra.config import StackConfig
from infra.generation import grant_generation
from infra.grants import grant_job_processing
from infra.jobs import Jobs
from infra.secrets import WebhookSecret
from infra.storage import Storage
from stickers_core import limits, settings

#: The image's build file (build context: the repository root, like the GPU worker's) and its handler (the CMD).
DOCKERFILE = "functions/inference/Dockerfile"
HANDLER = "functions.inference.app.handler"
#: Seconds the function keeps after a job attempt's budget, to store its results and settle its message.
TIMEOUT_MARGIN_S = 30
#: The function timeout, seconds. Two bounds hold it:
#:   JOB_TIMEOUT_S + TIMEOUT_MARGIN_S = 300 + 30 = 330 s  ≤ timeout: one whole attempt fits one invocation;
#:   timeout ≤ VISIBILITY_TIMEOUT_S = 360 s: Lambda refuses an SQS event source mapping whose function timeout
#:   exceeds the queue's visibility timeout (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html),
#:   and a message must not reappear while the invocation that holds it may still run.
#: 330 ≤ 360 leaves 30 s between a timed-out invocation and the message's next receive.
FUNCTION_TIMEOUT_S = limits.JOB_TIMEOUT_S + TIMEOUT_MARGIN_S
#: /tmp of the function, MB (Lambda's default and minimum): the model is in the image; /tmp holds caches only.
EPHEMERAL_STORAGE_MB = 512


def check_timeouts(function_timeout_s: int = FUNCTION_TIMEOUT_S) -> None:
    """Refuse a function timeout that does not fit between the job budget and the queue's visibility timeout.

    Raises:
        ValueError: ``function_timeout_s`` < ``limits.JOB_TIMEOUT_S`` (an attempt could not finish) or
            > ``limits.VISIBILITY_TIMEOUT_S`` (Lambda refuses the event source mapping).
    """
    if not limits.JOB_TIMEOUT_S <= function_timeout_s <= limits.VISIBILITY_TIMEOUT_S:
        raise ValueError(
            f"inference function timeout {function_timeout_s} s must lie between the job timeout "
            f"({limits.JOB_TIMEOUT_S} s) and the jobs queue's visibility timeout ({limits.VISIBILITY_TIMEOUT_S} s)"
        )


class CpuInference(Construct):
    """The CPU inference function and its event source mapping on the jobs queue.

    - ``function``: a ``DockerImageFunction`` (x86_64) from ``functions/inference/Dockerfile`` (the image
      holds numpy, OpenCV, ONNX Runtime and the model, more than a zip's 250 MB), handler
      ``functions.inference.app.handler``; memory ``lambdaMemoryMb`` (Lambda gives CPU in proportion to
      memory: one vCPU at 1,769 MB, up to six at 10,240 MB,
      https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html); timeout
      :data:`FUNCTION_TIMEOUT_S`; X-Ray active tracing; JSON logs into its own log group; reserved
      concurrency only with ``lambdaReservedConcurrency``.
    - Environment: the service settings every host reads (:func:`infra.compute.service_environment`), the
      Powertools variables, ``STICKERS_EXECUTION_PROVIDER=cpu``, and caches under ``/tmp`` (the only
      writable place of a Lambda function).
    - ``event_source``: the SQS event source mapping on the jobs queue: ``lambdaBatchSize`` records per
      invocation (default 1), no batching window (an idle queue's first job is not held back),
      ``ReportBatchItemFailures`` (the handler names the records to retry; the ESM deletes the others),
      ``ScalingConfig.MaximumConcurrency`` = ``lambdaMaxConcurrency`` (how many invocations the queue may
      drive at once; the ESM accepts 2-1,000), event-count metrics on.
    - ``role``: :func:`infra.grants.grant_job_processing` (what the GPU worker's task role holds: consume the
      queue, which is what the ESM needs, jobs table Get/Update, uploads Get + prefix-scoped ListBucket,
      stickers Put, the webhook secret), plus CloudWatch Logs and X-Ray, and :func:`infra.generation.grant_generation`
      (``bedrock:InvokeModel`` on the configured image model only, for prompt jobs; nothing with ``generator: none``).

    Why a batch size of 1 by default: a job is ~0.2-1 s of CPU, so the per-invocation overhead a batch would
    save is small, while a batch runs its jobs one after another (the last one waits for the others), and
    records of a batch the handler hands back unstarted (not enough time left) count a receive each,
    bringing them closer to the dead-letter queue. Parallelism comes from concurrency, not from batches.
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
        check_timeouts()
        self.timeout_s = FUNCTION_TIMEOUT_S
        self.max_concurrency = config.lambda_max_concurrency
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.log_group = logs.LogGroup(
            self, "Logs", retention=retention_days(config.log_retention_days), removal_policy=removal
        )
        build_args = {"MODEL_NAME": config.model_name}
        if config.model_url:
            build_args["MODEL_URL"] = config.model_url
        self.function = lambda_.DockerImageFunction(
            self,
            "CpuInference",
            description="CPU inference: consumes the jobs queue (same pipeline and job semantics as the GPU worker)",
            code=lambda_.DockerImageCode.from_image_asset(
                str(REPO_ROOT),
                file=DOCKERFILE,
                cmd=[HANDLER],
                platform=ecr_assets.Platform.LINUX_AMD64,
                build_args=build_args,
            ),
            architecture=lambda_.Architecture.X86_64,
            memory_size=config.lambda_memory_mb,
            timeout=Duration.seconds(FUNCTION_TIMEOUT_S),
            ephemeral_storage_size=Size.mebibytes(EPHEMERAL_STORAGE_MB),
            reserved_concurrent_executions=config.lambda_reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=self.log_group,
            environment={
                **service_environment(config, jobs, storage, webhook_secret),
                **_powertools_env(),
                # no GPU on Lambda: the worker's pipeline on ONNX Runtime's CPU provider
                settings.ENV_EXECUTION_PROVIDER: "cpu",
                "XDG_CACHE_HOME": "/tmp/cache",
            },
        )
        self.role: iam.IRole = self.function.role  # type: ignore[assignment]
        grant_job_processing(self.function, jobs, storage, webhook_secret)
        grant_generation(self.function, config)  # bedrock:InvokeModel on the one model (prompt jobs)
        # A plain event source mapping (not SqsEventSource, which would grant the queue's consume actions a
        # second time, GetQueueUrl included): the role's ConsumeJobs statement is what the ESM uses.
        self.event_source = self.function.add_event_source_mapping(
            "JobsQueue",
            event_source_arn=jobs.queue.queue_arn,
            batch_size=config.lambda_batch_size,
            report_batch_item_failures=True,
            max_concurrency=config.lambda_max_concurrency,
            metrics_config=lambda_.MetricsConfig(metrics=[lambda_.MetricType.EVENT_COUNT]),
        )
        # CloudFormation creates the mapping only once the role's policy allows polling the queue.
        self.event_source.node.add_dependency(self.role)
