"""Deployment parameters, read from CDK context (``cdk.json`` defaults, ``-c key=value`` overrides).

Every default that is also a service limit comes from :mod:`stickers_core.limits`, so the stack and
the code (and the embedded local stack) cannot drift apart. What a first deploy needs from the account
(quotas, Docker, the API Gateway CloudWatch role) is checked at synth by :mod:`infra.preflight`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from constructs import Node

from stickers_core import limits
from stickers_core.settings import image_model_family

_TRUE = {"1", "true", "yes", "on"}
#: The stage in which alarms may go nowhere (``alarmEmail`` optional, with a synth warning).
DEV_STAGE = "dev"
#: ``apiGatewayCloudWatchRole`` values (see :attr:`StackConfig.api_gateway_cloud_watch_role`).
CLOUD_WATCH_ROLE_CREATE = "create"
CLOUD_WATCH_ROLE_EXISTING = "existing"
CLOUD_WATCH_ROLE_MODES = (CLOUD_WATCH_ROLE_CREATE, CLOUD_WATCH_ROLE_EXISTING)
#: ``inference`` values (see :attr:`StackConfig.inference`): what consumes the jobs queue.
INFERENCE_GPU = "gpu"
INFERENCE_LAMBDA = "lambda"
INFERENCE_HYBRID = "hybrid"
INFERENCE_MODES = (INFERENCE_GPU, INFERENCE_LAMBDA, INFERENCE_HYBRID)
#: Lambda's memory range for a function, MB (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
LAMBDA_MEMORY_MB_RANGE = (128, 10_240)
#: The range of an SQS event source mapping's ``ScalingConfig.MaximumConcurrency``
#: (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html: 2 to 1,000).
SQS_MAX_CONCURRENCY_RANGE = (2, 1_000)
#: Records of one SQS batch without a batching window: 1 to 10 (a larger batch needs a window, which
#: would delay the first job of an idle queue).
SQS_BATCH_SIZE_RANGE = (1, 10)
_OFF = ("none", "off", "-1")
#: ``generator`` values (see :attr:`StackConfig.generator`): the image generator of prompt jobs.
GENERATORS = ("bedrock", "none")
#: Regions that offer Amazon Nova Canvas (Amazon Nova user guide, model availability by region).
NOVA_CANVAS_REGIONS = ("us-east-1", "eu-west-1", "ap-northeast-1")


def _reserved(value: Any) -> int | None:
    """A reserved-concurrency context value: None (absent, ``none``, ``off``, ``-1``) or an int ≥ 0."""
    if value is None or str(value).strip().lower() in _OFF:
        return None
    return int(value)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


@dataclass(frozen=True)
class StackConfig:
    """Typed view of the context keys the stack understands (documented in ``docs/deploy.md``).

    Defaults that matter for a first deploy in a fresh account:

    - ``api_reserved_concurrency`` / ``dlq_reserved_concurrency`` are None (no reserved concurrency):
      Lambda keeps 100 concurrent executions unreserved, so reserving 50 + 5 needs an account quota of
      at least 155, and new accounts often have 10 (the deploy would fail). When set, synth warns with
      the quota needed (:mod:`infra.preflight`).
    - ``api_gateway_cloud_watch_role`` is ``"create"``. The API Gateway CloudWatch role is an
      account-and-region-wide setting (``AWS::ApiGateway::Account``), not a property of one API. A stage
      with execution or access logging cannot be created while the account has no role set, so in a
      fresh account ``"existing"`` (create nothing) would make the first deploy fail; ``"create"`` makes
      it work. The stack must not *own* that setting, though: a stack that deletes it on destroy breaks
      execution logging of every API in the region, and a second stage would take it over. So
      ``"create"`` creates the role and the ``AWS::ApiGateway::Account`` with DeletionPolicy and
      UpdateReplacePolicy ``Retain``: CloudFormation sets it once, and never deletes or replaces it when
      a stage is destroyed or updated (a later stage may point it at its own, equivalent, role; the
      earlier role stays, so nothing breaks). ``"existing"`` (``aws apigateway get-account`` shows a
      ``cloudwatchRoleArn``) creates neither.
    - ``alarm_email`` is required outside stage ``dev`` (alarms must reach someone); in ``dev`` without
      one synth warns.
    """

    stage: str = "dev"
    # --- API ---
    rate_limit: float = limits.RATE_LIMIT_RPS
    burst_limit: int = limits.BURST_LIMIT
    daily_quota: int = limits.DAILY_QUOTA
    stage_rate_limit: float = 100.0
    stage_burst_limit: int = 200
    cors_origins: list[str] = field(default_factory=lambda: ["*"])
    api_gateway_cloud_watch_role: str = CLOUD_WATCH_ROLE_CREATE
    # --- functions ---
    api_memory_mb: int = 1024
    api_timeout_s: int = 29
    api_reserved_concurrency: int | None = None
    dlq_memory_mb: int = 256
    dlq_timeout_s: int = 30
    dlq_reserved_concurrency: int | None = None
    log_retention_days: int = 30
    # --- storage ---
    sticker_retention_days: int = limits.RETENTION_DAYS  # job records' TTL too (STICKERS_RETENTION_DAYS)
    retain_data: bool = False
    # --- inference ---
    vpc_id: str | None = None
    nat_gateways: int = 1
    instance_types: list[str] = field(default_factory=lambda: ["g5.xlarge"])
    spot: bool = False
    min_tasks: int = 0
    max_tasks: int = 4
    task_cpu: int = 3072
    task_memory_mb: int = 12288
    task_memory_limit_mb: int = 14336
    model_name: str = "u2netp"
    model_url: str = ""
    scale_out_cooldown_s: int = 300
    idle_minutes_before_scale_in: int = 10
    # --- inference mode, CPU inference Lambda, GPU scaling (issue 13) ---
    inference: str = INFERENCE_HYBRID
    lambda_memory_mb: int = 3008
    lambda_max_concurrency: int = 10
    lambda_batch_size: int = 1
    lambda_reserved_concurrency: int | None = None
    gpu_backlog_threshold: int = 50
    gpu_backlog_minutes: int = 3
    gpu_warm_pool_size: int = 1
    # --- stickers from a prompt (issue 17; infra/generation.py) ---
    generator: str = "bedrock"
    bedrock_model_id: str = "amazon.nova-canvas-v1:0"
    bedrock_region: str = "us-east-1"
    prompt_daily_quota: int = limits.PROMPT_DAILY_QUOTA
    # --- observability ---
    alarm_email: str | None = None
    oldest_message_alarm_s: int = 900

    @property
    def prefix(self) -> str:
        """Stage prefix for physical names (``dev-stickers-jobs``)."""
        return self.stage

    def name(self, logical: str) -> str:
        """Physical name of a shared resource for this stage (``limits.TABLE_NAME`` → ``dev-stickers-jobs``)."""
        return f"{self.prefix}-{logical}"

    @property
    def model_path(self) -> str | None:
        """Where a model baked from ``modelUrl`` lives in the image (None: the packaged u2netp)."""
        return f"/opt/models/{self.model_name}.onnx" if self.model_url else None

    @classmethod
    def from_node(cls, node: Node) -> StackConfig:
        """Read the context of `node` (an App or Stack); absent keys keep their defaults."""

        def ctx(key: str, default: Any = None) -> Any:
            value = node.try_get_context(key)
            return default if value is None or value == "" else value

        d = cls()
        instance_types = _as_list(ctx("instanceType", d.instance_types))
        cfg = cls(
            stage=str(ctx("stage", d.stage)),
            rate_limit=float(ctx("rateLimit", d.rate_limit)),
            burst_limit=int(ctx("burstLimit", d.burst_limit)),
            daily_quota=int(ctx("dailyQuota", d.daily_quota)),
            stage_rate_limit=float(ctx("stageRateLimit", d.stage_rate_limit)),
            stage_burst_limit=int(ctx("stageBurstLimit", d.stage_burst_limit)),
            cors_origins=_as_list(ctx("corsOrigins", d.cors_origins)) or ["*"],
            api_gateway_cloud_watch_role=str(ctx("apiGatewayCloudWatchRole", d.api_gateway_cloud_watch_role)).strip().lower(),
            api_memory_mb=int(ctx("apiMemoryMb", d.api_memory_mb)),
            api_timeout_s=int(ctx("apiTimeoutS", d.api_timeout_s)),
            api_reserved_concurrency=_reserved(ctx("apiReservedConcurrency", d.api_reserved_concurrency)),
            dlq_memory_mb=int(ctx("dlqMemoryMb", d.dlq_memory_mb)),
            dlq_timeout_s=int(ctx("dlqTimeoutS", d.dlq_timeout_s)),
            dlq_reserved_concurrency=_reserved(ctx("dlqReservedConcurrency", d.dlq_reserved_concurrency)),
            log_retention_days=int(ctx("logRetentionDays", d.log_retention_days)),
            sticker_retention_days=int(ctx("stickerRetentionDays", d.sticker_retention_days)),
            retain_data=_as_bool(ctx("retainData", d.retain_data)),
            vpc_id=ctx("vpcId"),
            nat_gateways=int(ctx("natGateways", d.nat_gateways)),
            instance_types=instance_types or d.instance_types,
            spot=_as_bool(ctx("spot", d.spot)),
            min_tasks=int(ctx("minTasks", d.min_tasks)),
            max_tasks=int(ctx("maxTasks", d.max_tasks)),
            task_cpu=int(ctx("taskCpu", d.task_cpu)),
            task_memory_mb=int(ctx("taskMemoryMb", d.task_memory_mb)),
            task_memory_limit_mb=int(ctx("taskMemoryLimitMb", d.task_memory_limit_mb)),
            model_name=str(ctx("modelName", d.model_name)),
            model_url=str(ctx("modelUrl", d.model_url)),
            scale_out_cooldown_s=int(ctx("scaleOutCooldownS", d.scale_out_cooldown_s)),
            idle_minutes_before_scale_in=int(ctx("idleMinutesBeforeScaleIn", d.idle_minutes_before_scale_in)),
            inference=str(ctx("inference", d.inference)).strip().lower(),
            lambda_memory_mb=int(ctx("lambdaMemoryMb", d.lambda_memory_mb)),
            lambda_max_concurrency=int(ctx("lambdaMaxConcurrency", d.lambda_max_concurrency)),
            lambda_batch_size=int(ctx("lambdaBatchSize", d.lambda_batch_size)),
            lambda_reserved_concurrency=_reserved(ctx("lambdaReservedConcurrency", d.lambda_reserved_concurrency)),
            gpu_backlog_threshold=int(ctx("gpuBacklogThreshold", d.gpu_backlog_threshold)),
            gpu_backlog_minutes=int(ctx("gpuBacklogMinutes", d.gpu_backlog_minutes)),
            gpu_warm_pool_size=int(ctx("gpuWarmPoolSize", d.gpu_warm_pool_size)),
            generator=str(ctx("generator", d.generator)).strip().lower(),
            bedrock_model_id=str(ctx("bedrockModelId", d.bedrock_model_id)).strip(),
            bedrock_region=str(ctx("bedrockRegion", d.bedrock_region)).strip(),
            prompt_daily_quota=int(ctx("promptDailyQuota", d.prompt_daily_quota)),
            alarm_email=str(ctx("alarmEmail")).strip() if ctx("alarmEmail") is not None else None,
            oldest_message_alarm_s=int(ctx("oldestMessageAlarmS", d.oldest_message_alarm_s)),
        )
        cfg.validate()
        return cfg

    @property
    def creates_api_gateway_account(self) -> bool:
        """Whether the stack creates the API Gateway CloudWatch role and account setting (retained)."""
        return self.api_gateway_cloud_watch_role == CLOUD_WATCH_ROLE_CREATE

    @property
    def deploys_gpu(self) -> bool:
        """Whether the stack has the GPU fleet (VPC, ECS cluster, Auto Scaling group): ``gpu`` and ``hybrid``."""
        return self.inference in (INFERENCE_GPU, INFERENCE_HYBRID)

    @property
    def deploys_lambda(self) -> bool:
        """Whether the stack has the CPU inference Lambda on the jobs queue: ``lambda`` and ``hybrid``."""
        return self.inference in (INFERENCE_LAMBDA, INFERENCE_HYBRID)

    @property
    def gpu_warm_pool(self) -> bool:
        """Whether the GPU Auto Scaling group gets a warm pool: a size above 0, On-Demand and one instance type.

        EC2 Auto Scaling refuses a warm pool on a group with a mixed instances policy or one that requests
        Spot Instances (PutWarmPool, https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutWarmPool.html),
        so ``spot=true`` or several ``instanceType`` values keep the mixed group without one (synth warns).
        """
        return self.deploys_gpu and self.gpu_warm_pool_size > 0 and not self.spot and len(self.instance_types) == 1

    @property
    def reserved_concurrency_total(self) -> int:
        """Concurrent executions reserved by the stack's functions (0 when none is reserved)."""
        lambda_reserved = (self.lambda_reserved_concurrency or 0) if self.deploys_lambda else 0
        return (self.api_reserved_concurrency or 0) + (self.dlq_reserved_concurrency or 0) + lambda_reserved

    def validate(self) -> None:
        """Reject values that would synthesize a broken stack, or one whose alarms reach no one.

        Raises:
            ValueError: a context value is out of range; ``inference`` is not ``gpu``, ``lambda`` or
                ``hybrid``; an ``instanceType`` is not a GPU type the worker image can use
                (:func:`infra.preflight.check_instance_types`, with the GPU fleet only); ``apiGatewayCloudWatchRole``
                is not ``create`` or ``existing``; ``generator``, ``bedrockModelId``, ``bedrockRegion`` or
                ``promptDailyQuota`` is not one the worker can use; ``alarmEmail`` is missing (or not an address) outside
                stage ``dev``.
        """
        from infra.preflight import check_instance_types  # preflight imports this module

        if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", self.stage):
            raise ValueError(f"stage {self.stage!r}: lowercase letters, digits and '-', at most 16 characters")
        if not 0 <= self.min_tasks <= self.max_tasks or self.max_tasks < 1:
            raise ValueError(f"need 0 <= minTasks ({self.min_tasks}) <= maxTasks ({self.max_tasks}), maxTasks >= 1")
        if self.task_memory_limit_mb < self.task_memory_mb:
            raise ValueError(f"taskMemoryLimitMb ({self.task_memory_limit_mb}) must be at least taskMemoryMb ({self.task_memory_mb})")
        if self.api_timeout_s > 29:
            raise ValueError("apiTimeoutS above 29 s: API Gateway's integration timeout would cut the request first")
        if self.sticker_retention_days < 1:
            raise ValueError("stickerRetentionDays must be at least 1")
        if self.rate_limit <= 0 or self.burst_limit < 1 or self.daily_quota < 1:
            raise ValueError("rateLimit, burstLimit and dailyQuota must be positive")
        if self.generator not in GENERATORS:
            raise ValueError(f"generator {self.generator!r}: 'bedrock' (Amazon Bedrock InvokeModel) or 'none' (POST /v1/stickers/prompt answers 501)")
        if self.prompt_daily_quota < 1:
            raise ValueError("promptDailyQuota must be at least 1")
        family = image_model_family(self.bedrock_model_id)
        if self.generator == "bedrock" and family is None:
            raise ValueError(
                f"bedrockModelId {self.bedrock_model_id!r}: the worker speaks Amazon Nova Canvas (amazon.nova-canvas-*) and "
                "Stability AI Stable Image Core / Ultra (stability.stable-image-core-*, stability.stable-image-ultra-*)"
            )
        if self.generator == "bedrock" and family == "nova-canvas" and self.bedrock_region not in NOVA_CANVAS_REGIONS:
            raise ValueError(f"bedrockRegion {self.bedrock_region!r}: Amazon Nova Canvas is offered in {', '.join(NOVA_CANVAS_REGIONS)}")
        if self.inference not in INFERENCE_MODES:
            raise ValueError(
                f"inference {self.inference!r}: 'gpu' (the ECS GPU fleet only), 'lambda' (the CPU inference Lambda "
                "only: no VPC, ECS or GPU, the cheapest deployment) or 'hybrid' (both on the same queue; the default)"
            )
        bounds = (
            ("lambdaMemoryMb", self.lambda_memory_mb, LAMBDA_MEMORY_MB_RANGE),
            ("lambdaMaxConcurrency", self.lambda_max_concurrency, SQS_MAX_CONCURRENCY_RANGE),
            ("lambdaBatchSize", self.lambda_batch_size, SQS_BATCH_SIZE_RANGE),
            ("gpuBacklogThreshold", self.gpu_backlog_threshold, (1, 100_000)),
            ("gpuBacklogMinutes", self.gpu_backlog_minutes, (1, 60)),
            ("gpuWarmPoolSize", self.gpu_warm_pool_size, (0, self.max_tasks)),
        )
        for name, value, (low, high) in bounds:
            if not low <= value <= high:
                raise ValueError(f"{name} {value}: must be between {low} and {high}")
        if self.lambda_reserved_concurrency is not None and self.lambda_reserved_concurrency < self.lambda_max_concurrency:
            raise ValueError(
                f"lambdaReservedConcurrency {self.lambda_reserved_concurrency} is below lambdaMaxConcurrency "
                f"{self.lambda_max_concurrency}: the queue would drive more invocations than the function may run, "
                "and the throttled ones count as receives toward the dead-letter queue"
            )
        for name, reserved in (("apiReservedConcurrency", self.api_reserved_concurrency),
                               ("dlqReservedConcurrency", self.dlq_reserved_concurrency),
                               ("lambdaReservedConcurrency", self.lambda_reserved_concurrency)):
            if reserved is not None and reserved < 0:
                raise ValueError(f"{name} {reserved}: a number of concurrent executions >= 0, or 'none'")
        if self.api_gateway_cloud_watch_role not in CLOUD_WATCH_ROLE_MODES:
            raise ValueError(
                f"apiGatewayCloudWatchRole {self.api_gateway_cloud_watch_role!r}: 'create' (the stack creates the "
                "account's API Gateway CloudWatch role, retained on destroy) or 'existing' (the account already "
                "has one: aws apigateway get-account shows cloudwatchRoleArn)"
            )
        if self.alarm_email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", self.alarm_email):
            raise ValueError(f"alarmEmail {self.alarm_email!r} is not an e-mail address")
        if self.stage != DEV_STAGE and not self.alarm_email:
            raise ValueError(
                f"stage {self.stage!r} needs an alarmEmail: outside stage '{DEV_STAGE}' the alarms (dead letters, "
                "no GPU capacity, API errors) must reach someone. Deploy with -c alarmEmail=ops@example.com "
                "and confirm the subscription e-mail SNS sends."
            )
        if self.deploys_gpu:
            check_instance_types(self.instance_types)
