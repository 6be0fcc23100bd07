"""Runtime settings, read from environment variables: the one place the service reads ``STICKERS_*``.

Every host (API Lambda, dead-letter Lambda, GPU service, local stack, CLI) builds its AWS adapters from
one :class:`Settings`. On AWS the CDK stack sets the variables; locally `stickers local` does. boto3 reads
``AWS_ENDPOINT_URL`` by itself, which is how the same code talks to the embedded emulator.

The segmentation pipeline's own knobs (quantisation, onnxruntime sessions, despeckling…) are
:class:`gpu_service.pipeline.settings.PipelineSettings`; the command-line client's are
:class:`ClientSettings`. Each class maps its fields to variable names in ``ENV`` (field → variable), and
``tests/unit/test_settings_surface.py`` checks that no other module reads a ``STICKERS_*`` variable and
that README's configuration table lists every one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from stickers_core import limits

#: Environment variable names, shared with the CDK stack (infra/) so the two cannot drift.
ENV_TABLE_NAME = "STICKERS_TABLE_NAME"
ENV_QUEUE_URL = "STICKERS_QUEUE_URL"
ENV_DLQ_URL = "STICKERS_DLQ_URL"
ENV_UPLOADS_BUCKET = "STICKERS_UPLOADS_BUCKET"
ENV_STICKERS_BUCKET = "STICKERS_BUCKET"
ENV_CDN_BASE_URL = "STICKERS_CDN_BASE_URL"
ENV_JOB_TIMEOUT_S = "STICKERS_JOB_TIMEOUT_S"
ENV_VISIBILITY_TIMEOUT_S = "STICKERS_VISIBILITY_TIMEOUT_S"
ENV_STOP_TIMEOUT_S = "STICKERS_STOP_TIMEOUT_S"
ENV_MAX_ATTEMPTS = "STICKERS_MAX_ATTEMPTS"
ENV_MODEL_NAME = "STICKERS_MODEL_NAME"
ENV_MODEL_PATH = "STICKERS_MODEL_PATH"
#: DynamoDB table of the API's Powertools idempotency records (Idempotency-Key header).
ENV_IDEMPOTENCY_TABLE = "STICKERS_IDEMPOTENCY_TABLE"
#: Master secret of the webhook signatures, given directly (local stack, tests) …
ENV_WEBHOOK_SECRET = "STICKERS_WEBHOOK_SECRET"
#: … or as the ARN of a Secrets Manager secret holding it (AWS).
ENV_WEBHOOK_SECRET_ARN = "STICKERS_WEBHOOK_SECRET_ARN"
#: Where the worker runs the segmentation model: ``auto`` | ``cuda`` | ``tensorrt`` | ``cpu``
#: (gpu_service.pipeline.ort_runtime.EXECUTION_MODES). A property of the worker's host, like the stop timeout.
ENV_EXECUTION_PROVIDER = "STICKERS_EXECUTION_PROVIDER"

#: Values of :attr:`Settings.execution_provider`.
ExecutionProviderMode = Literal["auto", "cuda", "tensorrt", "cpu"]
#: Origins whose pages may call the API from a browser, comma-separated (``*``: any; the API
#: function reads it, the CDK stack sets it from the ``corsOrigins`` context key).
ENV_CORS_ORIGINS = "STICKERS_CORS_ORIGINS"
#: Days a job record and its stickers live (the CDK stack sets it from ``stickerRetentionDays``, the
#: same number as the stickers bucket's lifecycle rule).
ENV_RETENTION_DAYS = "STICKERS_RETENTION_DAYS"
#: ``1`` allows plain-http loopback callback URLs (set by the local stack; never on AWS).
ENV_ALLOW_LOOPBACK_CALLBACKS = "STICKERS_ALLOW_LOOPBACK_CALLBACKS"
#: API keys of the local stack's API front, comma-separated (on AWS: API Gateway's usage plan keys).
ENV_API_KEYS = "STICKERS_API_KEYS"
#: The worker process (``python -m gpu_service``): consumer threads, SQS long-poll wait, log level.
ENV_WORKER_THREADS = "STICKERS_WORKER_THREADS"
ENV_RECEIVE_WAIT_S = "STICKERS_RECEIVE_WAIT_S"
ENV_LOG_LEVEL = "STICKERS_LOG_LEVEL"
#: Read only to tell the embedded local stack (a loopback endpoint) from AWS; boto3 reads it itself.
ENV_AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
#: What consumes the jobs queue in this deployment, as ``GET /v1/health`` reports it (``worker``: the
#: GPU service's workers, on ECS or in the local stack's process).
ENV_INFERENCE = "STICKERS_INFERENCE"
DEFAULT_INFERENCE = "worker"
#: Where the command-line client (``stickers generate``, ``stickers jobs``) sends its requests.
ENV_API_URL = "STICKERS_API_URL"
ENV_API_KEY = "STICKERS_API_KEY"
#: Live progress (stickers_core.realtime): the connections table, where PostToConnection goes (the
#: WebSocket stage's management endpoint), the per-key and per-connection bounds, the usage plan the
#: WebSocket authorizer checks keys against, and the socket the command-line client follows jobs on.
ENV_CONNECTIONS_TABLE = "STICKERS_CONNECTIONS_TABLE"
ENV_WS_MANAGEMENT_URL = "STICKERS_WS_MANAGEMENT_URL"
ENV_WS_MAX_CONNECTIONS_PER_KEY = "STICKERS_WS_MAX_CONNECTIONS_PER_KEY"
ENV_WS_MAX_SUBSCRIPTIONS = "STICKERS_WS_MAX_SUBSCRIPTIONS"
ENV_USAGE_PLAN_ID = "STICKERS_USAGE_PLAN_ID"
ENV_WS_URL = "STICKERS_WS_URL"
#: Stickers from a prompt (POST /v1/stickers/prompt): the image generator (``none``: the route answers 501
#: GENERATION_UNAVAILABLE; ``bedrock``: Amazon Bedrock InvokeModel), its model id and region, an endpoint
#: override for the Bedrock runtime only (tests' loopback stand-in; empty: AWS's regional endpoint), and
#: the prompt jobs each API key may submit per UTC day. The CDK stack sets them from its context.
ENV_GENERATOR = "STICKERS_GENERATOR"
ENV_BEDROCK_MODEL_ID = "STICKERS_BEDROCK_MODEL_ID"
ENV_BEDROCK_REGION = "STICKERS_BEDROCK_REGION"
ENV_BEDROCK_ENDPOINT_URL = "STICKERS_BEDROCK_ENDPOINT_URL"
ENV_PROMPT_DAILY_QUOTA = "STICKERS_PROMPT_DAILY_QUOTA"
#: Values of :attr:`Settings.generator`.
GeneratorKind = Literal["none", "bedrock"]
DEFAULT_BEDROCK_MODEL_ID = "amazon.nova-canvas-v1:0"
DEFAULT_BEDROCK_REGION = "us-east-1"
#: The Bedrock image models the worker speaks (gpu_service.generation), by model-id prefix: Amazon Nova
#: Canvas (text to image, and image variation from reference images) and Stability AI Stable Image
#: Core / Ultra (text to image only).
NOVA_CANVAS_PREFIX = "amazon.nova-canvas"
STABLE_IMAGE_PREFIXES = ("stability.stable-image-core", "stability.stable-image-ultra")


def image_model_family(model_id: str) -> Literal["nova-canvas", "stable-image"] | None:
    """The request schema family of a Bedrock image model id, or None for a model the worker cannot call."""
    if model_id.startswith(NOVA_CANVAS_PREFIX):
        return "nova-canvas"
    if model_id.startswith(STABLE_IMAGE_PREFIXES):
        return "stable-image"
    return None

#: Variables that belong to a worker's host, not to the stack it serves (ECS gives each task its own):
#: ``stickers worker --attach`` keeps the values of its own environment over the stack's.
WORKER_HOST_ENV: frozenset[str] = frozenset({ENV_STOP_TIMEOUT_S, ENV_EXECUTION_PROVIDER})

#: The local stack's address and key, the command-line client's defaults.
DEFAULT_API_URL = "http://127.0.0.1:3000"
DEFAULT_API_KEY = "local-dev-key"
#: Bounds of the worker process's knobs (inclusive).
WORKER_THREADS_RANGE = (1, 64)
RECEIVE_WAIT_S_RANGE = (0, 20)


def _bounded_int(name: str, value: Any, low: int, high: int) -> Any:
    """``value`` as an integer within [low, high], with the worker's historical messages.

    Raises:
        ValueError: not an integer (``NAME='x' is not an integer``) or out of range.
    """
    if isinstance(value, str):
        raw = value.strip()
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not an integer") from None
    if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
        raise ValueError(f"{name}={value} is out of range {low}–{high}")
    return value


def read_env(cls: type[BaseModel], env: Mapping[str, str], flags: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The raw values of ``cls.ENV``'s variables that are set and not empty, by field name.

    Fields in `flags` are on when their variable is exactly ``1`` (anything else is off).
    """
    mapping: dict[str, str] = cls.ENV  # type: ignore[attr-defined]
    values: dict[str, Any] = {}
    for field, var in mapping.items():
        raw = env.get(var)
        if raw:
            values[field] = raw == "1" if field in flags else raw
    return values


class Settings(BaseModel):
    """Where the service's state lives and how it behaves.

    Attributes:
        table_name: DynamoDB jobs table.
        queue_url: SQS jobs queue URL.
        dlq_url: SQS dead-letter queue URL (read for `/v1/stats`; optional).
        uploads_bucket: S3 bucket for original photos.
        stickers_bucket: S3 bucket for rendered stickers (behind the CDN).
        cdn_base_url: public base URL of the stickers bucket, no trailing slash
            (CloudFront on AWS, the local stack's CDN front locally).
        job_timeout_s: seconds one attempt may run before it is aborted.
        visibility_timeout_s: the queue's visibility timeout in seconds.
        stop_timeout_s: seconds between SIGTERM and SIGKILL (the ECS stop timeout); on SIGTERM the
            worker lets an in-flight job run until :attr:`drain_s`, then hands it back.
        max_attempts: receives before a message goes to the dead-letter queue.
        model_name: segmentation model family (`u2netp` default).
        model_path: optional path of an ONNX file baked into the container.
        idempotency_table: DynamoDB table of the API's idempotency records (pk ``id``, TTL ``expiration``).
        webhook_secret_arn: Secrets Manager secret with the webhook master secret (AWS; optional).
        execution_provider: where the worker runs the segmentation model: ``auto`` (CUDA when it
            loads, else CPU; the default, the local stack's), ``cuda`` / ``tensorrt`` (a GPU is
            required: the worker refuses to start when that provider is not active), ``cpu``.
        retention_days: days a new job's record lives before DynamoDB's TTL removes it; equal to the
            stickers bucket's lifecycle expiration (:data:`stickers_core.limits.RETENTION_DAYS` by default).
        webhook_secret: the webhook master secret itself (local stack, tests); wins over
            :attr:`webhook_secret_arn` (:func:`stickers_core.webhooks.master_secrets`).
        cors_origins: origins whose pages may call the API from a browser (``*``: any).
        allow_loopback_callbacks: plain-http loopback callback URLs are allowed (the local stack only).
        api_keys: the local stack's API keys, comma-separated (None: ``local-dev-key``).
        worker_threads: consumer threads of ``python -m gpu_service`` sharing one model session.
        receive_wait_s: SQS long-poll wait of ``python -m gpu_service``, seconds (an idle worker
            notices SIGTERM within it).
        log_level: level of the worker's JSON logs (upper case).
        aws_endpoint_url: ``AWS_ENDPOINT_URL`` (a loopback host means the embedded local stack).
        inference: what consumes the jobs queue, named in ``GET /v1/health`` (default ``worker``).
        connections_table: DynamoDB table of the WebSocket connections and subscriptions.
        ws_management_url: the WebSocket stage's management endpoint (``https://{api}.execute-api.{region}.amazonaws.com/{stage}``
            on AWS, the API front locally), where ``PostToConnection`` goes; empty: no live progress.
        ws_max_connections_per_key: open WebSocket connections per API key at most.
        ws_max_subscriptions: jobs one connection may follow at once.
        usage_plan_id: the usage plan whose keys may open a WebSocket (the authorizer's check on AWS).
        generator: the image generator of prompt jobs: ``none`` (POST /v1/stickers/prompt answers 501
            GENERATION_UNAVAILABLE) or ``bedrock`` (Amazon Bedrock ``InvokeModel``, gpu_service.generation).
        bedrock_model_id: the Bedrock model (``amazon.nova-canvas-v1:0``: Amazon Nova Canvas).
        bedrock_region: the region the model is called in (Nova Canvas: us-east-1, eu-west-1, ap-northeast-1).
        bedrock_endpoint_url: the Bedrock runtime endpoint, only when it is not AWS's regional one
            (tests' loopback stand-in). Never ``AWS_ENDPOINT_URL``: the local stack's emulator has no Bedrock.
        prompt_daily_quota: prompt jobs per API key per UTC day (429 PROMPT_QUOTA_EXCEEDED past it).

    ``to_env`` reproduces the stack-wide fields only: the secret, CORS, loopback, key and worker-process
    fields are set per host (the CDK stack, ``stickers local``), never copied from one host to another.
    """

    model_config = ConfigDict(frozen=True)

    #: Field → environment variable.
    ENV: ClassVar[dict[str, str]] = {
        "table_name": ENV_TABLE_NAME,
        "queue_url": ENV_QUEUE_URL,
        "dlq_url": ENV_DLQ_URL,
        "uploads_bucket": ENV_UPLOADS_BUCKET,
        "stickers_bucket": ENV_STICKERS_BUCKET,
        "cdn_base_url": ENV_CDN_BASE_URL,
        "job_timeout_s": ENV_JOB_TIMEOUT_S,
        "visibility_timeout_s": ENV_VISIBILITY_TIMEOUT_S,
        "stop_timeout_s": ENV_STOP_TIMEOUT_S,
        "max_attempts": ENV_MAX_ATTEMPTS,
        "model_name": ENV_MODEL_NAME,
        "model_path": ENV_MODEL_PATH,
        "idempotency_table": ENV_IDEMPOTENCY_TABLE,
        "webhook_secret": ENV_WEBHOOK_SECRET,
        "webhook_secret_arn": ENV_WEBHOOK_SECRET_ARN,
        "execution_provider": ENV_EXECUTION_PROVIDER,
        "retention_days": ENV_RETENTION_DAYS,
        "cors_origins": ENV_CORS_ORIGINS,
        "allow_loopback_callbacks": ENV_ALLOW_LOOPBACK_CALLBACKS,
        "api_keys": ENV_API_KEYS,
        "worker_threads": ENV_WORKER_THREADS,
        "receive_wait_s": ENV_RECEIVE_WAIT_S,
        "log_level": ENV_LOG_LEVEL,
        "aws_endpoint_url": ENV_AWS_ENDPOINT_URL,
        "inference": ENV_INFERENCE,
        "connections_table": ENV_CONNECTIONS_TABLE,
        "ws_management_url": ENV_WS_MANAGEMENT_URL,
        "ws_max_connections_per_key": ENV_WS_MAX_CONNECTIONS_PER_KEY,
        "ws_max_subscriptions": ENV_WS_MAX_SUBSCRIPTIONS,
        "usage_plan_id": ENV_USAGE_PLAN_ID,
        "generator": ENV_GENERATOR,
        "bedrock_model_id": ENV_BEDROCK_MODEL_ID,
        "bedrock_region": ENV_BEDROCK_REGION,
        "bedrock_endpoint_url": ENV_BEDROCK_ENDPOINT_URL,
        "prompt_daily_quota": ENV_PROMPT_DAILY_QUOTA,
    }
    #: Fields that are on when their variable is exactly ``1``.
    FLAGS: ClassVar[frozenset[str]] = frozenset({"allow_loopback_callbacks"})

    table_name: str = limits.TABLE_NAME
    queue_url: str = ""
    dlq_url: str = ""
    uploads_bucket: str = limits.UPLOADS_BUCKET_NAME
    stickers_bucket: str = limits.STICKERS_BUCKET_NAME
    cdn_base_url: str = ""
    job_timeout_s: float = Field(default=limits.JOB_TIMEOUT_S, gt=0)
    visibility_timeout_s: int = Field(default=limits.VISIBILITY_TIMEOUT_S, ge=0, le=43_200)
    stop_timeout_s: float = Field(default=limits.STOP_TIMEOUT_S, ge=0)
    max_attempts: int = Field(default=limits.MAX_ATTEMPTS, ge=1)
    model_name: str = "u2netp"
    model_path: str | None = None
    idempotency_table: str = f"{limits.SERVICE_NAME}-idempotency"
    webhook_secret: SecretStr | None = None
    webhook_secret_arn: str | None = None
    execution_provider: ExecutionProviderMode = "auto"
    retention_days: int = Field(default=limits.RETENTION_DAYS, ge=1)
    cors_origins: tuple[str, ...] = ("*",)
    allow_loopback_callbacks: bool = False
    api_keys: str | None = None
    worker_threads: int = 1
    receive_wait_s: int = limits.RECEIVE_WAIT_S
    log_level: str = "INFO"
    aws_endpoint_url: str = ""
    inference: str = DEFAULT_INFERENCE
    connections_table: str = limits.CONNECTIONS_TABLE_NAME
    ws_management_url: str = ""
    ws_max_connections_per_key: int = Field(default=limits.WS_MAX_CONNECTIONS_PER_KEY, ge=1)
    ws_max_subscriptions: int = Field(default=limits.WS_MAX_SUBSCRIPTIONS, ge=1)
    usage_plan_id: str = ""
    generator: GeneratorKind = "none"
    bedrock_model_id: str = DEFAULT_BEDROCK_MODEL_ID
    bedrock_region: str = DEFAULT_BEDROCK_REGION
    bedrock_endpoint_url: str = ""
    prompt_daily_quota: int = Field(default=limits.PROMPT_DAILY_QUOTA, ge=1)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        from stickers_core.gateway_contract import parse_origins  # imports this module: not at the top

        return tuple(parse_origins(value))

    @field_validator("worker_threads", mode="before")
    @classmethod
    def _worker_threads(cls, value: Any) -> Any:
        return _bounded_int(ENV_WORKER_THREADS, value, *WORKER_THREADS_RANGE)

    @field_validator("receive_wait_s", mode="before")
    @classmethod
    def _receive_wait_s(cls, value: Any) -> Any:
        return _bounded_int(ENV_RECEIVE_WAIT_S, value, *RECEIVE_WAIT_S_RANGE)

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        return value.strip().upper() or "INFO" if isinstance(value, str) else value

    @property
    def drain_s(self) -> float:
        """Seconds an in-flight job may still run after SIGTERM: the stop timeout less a margin
        (``limits.STOP_MARGIN_S``, at most half of it) for handing the job back and exiting.

        >>> Settings(stop_timeout_s=330).drain_s, Settings(stop_timeout_s=4).drain_s
        (320.0, 2.0)
        """
        return self.stop_timeout_s - min(float(limits.STOP_MARGIN_S), self.stop_timeout_s / 2)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from environment variables (``STICKERS_*``), defaults for the absent ones.

        Raises:
            pydantic.ValidationError: a variable holds a value of the wrong type or range.
        """
        env = os.environ if environ is None else environ
        return cls.model_validate(read_env(cls, env, cls.FLAGS))

    def to_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings (for child processes and the CDK)."""
        out = {
            ENV_TABLE_NAME: self.table_name,
            ENV_QUEUE_URL: self.queue_url,
            ENV_DLQ_URL: self.dlq_url,
            ENV_UPLOADS_BUCKET: self.uploads_bucket,
            ENV_STICKERS_BUCKET: self.stickers_bucket,
            ENV_CDN_BASE_URL: self.cdn_base_url,
            ENV_JOB_TIMEOUT_S: str(self.job_timeout_s),
            ENV_VISIBILITY_TIMEOUT_S: str(self.visibility_timeout_s),
            ENV_STOP_TIMEOUT_S: str(self.stop_timeout_s),
            ENV_MAX_ATTEMPTS: str(self.max_attempts),
            ENV_MODEL_NAME: self.model_name,
            ENV_IDEMPOTENCY_TABLE: self.idempotency_table,
            ENV_RETENTION_DAYS: str(self.retention_days),
            ENV_CONNECTIONS_TABLE: self.connections_table,
        }
        if self.ws_management_url:
            out[ENV_WS_MANAGEMENT_URL] = self.ws_management_url
        if self.generator != "none":
            out |= {ENV_GENERATOR: self.generator, ENV_BEDROCK_MODEL_ID: self.bedrock_model_id, ENV_BEDROCK_REGION: self.bedrock_region}
            if self.bedrock_endpoint_url:
                out[ENV_BEDROCK_ENDPOINT_URL] = self.bedrock_endpoint_url
        if self.prompt_daily_quota != limits.PROMPT_DAILY_QUOTA:
            out[ENV_PROMPT_DAILY_QUOTA] = str(self.prompt_daily_quota)
        if self.inference != DEFAULT_INFERENCE:
            out[ENV_INFERENCE] = self.inference
        if self.webhook_secret_arn:
            out[ENV_WEBHOOK_SECRET_ARN] = self.webhook_secret_arn
        if self.model_path:
            out[ENV_MODEL_PATH] = self.model_path
        if self.execution_provider != "auto":  # absent means auto; never override a worker host's own choice
            out[ENV_EXECUTION_PROVIDER] = self.execution_provider
        return out


class ClientSettings(BaseModel):
    """Where the command-line client (``stickers generate``, ``stickers jobs …``) sends requests.

    The CLI declares these variables as its options' ``envvar`` (an option given on the command line
    wins); :meth:`from_env` serves other programmatic clients.

    Attributes:
        api_url: the API's base URL (default: the local stack's).
        api_key: the API key sent as ``x-api-key`` (default: the local stack's development key).
        ws_url: the WebSocket URL that ``stickers generate`` follows its job on (the stack output
            ``WebSocketUrl`` on AWS); empty: ``ws://<host>:<port>/ws`` for an API on loopback (the local
            stack), else polling only.
    """

    model_config = ConfigDict(frozen=True)

    #: Field → environment variable.
    ENV: ClassVar[dict[str, str]] = {"api_url": ENV_API_URL, "api_key": ENV_API_KEY, "ws_url": ENV_WS_URL}

    api_url: str = DEFAULT_API_URL
    api_key: str = DEFAULT_API_KEY
    ws_url: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientSettings:
        """Read ``STICKERS_API_URL`` / ``STICKERS_API_KEY``, defaults for the absent ones."""
        return cls.model_validate(read_env(cls, os.environ if environ is None else environ))
