"""The embedded local stack: the whole service on one machine, with no AWS account.

moto in server mode plays DynamoDB, SQS and S3; a loopback HTTP front plays API Gateway and hands
real proxy events to the real API Lambda handler; another loopback front on its own port plays
CloudFront (the web page, its ``config.json`` and the stickers), so the page calls the API across
origins exactly as it does on AWS; in-process workers run the real GPU-service code; a poller hands
dead-letter messages to the real dead-letter Lambda handler as SQS events.

What consumes the jobs queue is chosen by ``inference`` (``stickers local --inference``): ``worker`` (the
default) runs in-process GPU-service workers; ``lambda`` runs the real CPU inference Lambda handler
(``functions/inference``) behind an emulated SQS event source mapping
(:class:`local_stack.event_source.SqsEventSource`: batches, partial batch failures, maximum
concurrency), its module imported at the first batch, so the first job pays the cold init as on an idle
deployment; ``hybrid`` runs both on the same queue.

Live progress takes the deployed path too: the API front serves the WebSocket API at ``/ws`` (handing
``$connect``, messages and ``$disconnect`` to the real connection handler, ``functions/ws_connections``)
and its management API; a :class:`StreamPoller` reads the jobs table's DynamoDB stream and hands the
records to the real notifier handler (``functions/ws_notifier``) as stream events, which posts through
boto3's ``apigatewaymanagementapi`` client to the API front.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from local_stack.aws_emulator import EmbeddedAws, aws_environ, jobs_stream_arn, provision
from local_stack.cdn import CdnEmulator
from local_stack.event_source import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_CONCURRENCY,
    FUNCTION_TIMEOUT_MARGIN_S,
    DeadLetterPoller,
    SqsEventSource,
    StreamPoller,
)
from local_stack.gateway import ApiGatewayEmulator
from local_stack.websocket import WS_PATH, WebSocketFront
from stickers_core import aws as core_aws
from stickers_core import gateway_contract, limits
from stickers_core.settings import ENV_CORS_ORIGINS, ENV_GENERATOR, Settings

DEFAULT_API_KEY = "local-dev-key"


def api_key_id(key: str) -> str:
    """A stable API key id for a key value (API Gateway ids are opaque strings like this)."""
    return "key" + hashlib.sha256(key.encode()).hexdigest()[:12]


def parse_api_keys(value: str | None) -> dict[str, str]:
    """``STICKERS_API_KEYS`` ("k1,k2") → {key value: key id}; default ``local-dev-key``."""
    keys = [k.strip() for k in (value or DEFAULT_API_KEY).split(",") if k.strip()] or [DEFAULT_API_KEY]
    return {k: api_key_id(k) for k in keys}


#: Values of ``inference``: what consumes the jobs queue locally.
INFERENCE_MODES = ("worker", "lambda", "hybrid")


def inference_handler(generator: Any = None) -> Any:
    """The CPU inference Lambda's handler; the call imports its module (the cold init). With
    `generator` (the stack's Bedrock generator on the real credentials) its worker draws prompt jobs
    with it, as the in-process workers do; on AWS the function's role signs the calls.

    Each stack gets a new execution environment: where an earlier stack of this process imported the
    module, it is run again (its worker was built on that stack's emulator and queue)."""
    import importlib
    import sys

    name = "functions.inference.app"
    module = importlib.reload(sys.modules[name]) if name in sys.modules else importlib.import_module(name)
    if generator is not None:
        module.worker.generator = generator
    return module.handler


class LocalStack:
    """The whole service on loopback: emulated AWS, API Gateway front, workers, dead-letter handler.

    Args:
        host: interface of the API front (loopback by default).
        port: port of the API front (0 picks a free one).
        cdn_port: port of the CDN front: the web page and the stickers (0 picks a free one).
        cors_origins: origins allowed to call the API from a browser (default ``STICKERS_CORS_ORIGINS``
            or ``*``, as the deployed default).
        workers: in-process GPU-service workers (0: attach them with `stickers worker --attach URL`);
            with ``inference="lambda"`` none are started.
        inference: what consumes the jobs queue, one of :data:`INFERENCE_MODES` (module docstring).
        lambda_batch_size, lambda_max_concurrency: the emulated event source mapping's batch size (1–10)
            and maximum concurrency (``lambda`` and ``hybrid``).
        visibility_timeout_s: the jobs queue's visibility timeout, seconds.
        job_timeout_s: one attempt's time budget, seconds.
        api_keys: key value → key id (default from ``STICKERS_API_KEYS`` or ``local-dev-key``).
        rate_limit_rps, burst_limit, daily_quota: the usage plan of every key.
        access_log: log one line per HTTP request to stderr.

    Starting it points this process's boto3 at the emulator (``AWS_ENDPOINT_URL`` and dummy
    credentials in ``os.environ``), as the Lambda runtime's environment would; stopping it undoes what
    starting it changed in ``os.environ``.

    Stickers from a prompt: with ``STICKERS_GENERATOR=bedrock`` in the environment at start, the real
    AWS credentials of the environment or profile are resolved *before* the switch to the emulator and
    kept for the Bedrock client alone (:func:`gpu_service.generation.bedrock_client`, which never takes
    ``AWS_ENDPOINT_URL``): only the InvokeModel calls leave the machine. Without a generator, or without
    credentials, ``POST /v1/stickers/prompt`` answers 501 ``GENERATION_UNAVAILABLE``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cdn_port: int = 0,
        workers: int = 1,
        visibility_timeout_s: int = limits.VISIBILITY_TIMEOUT_S,
        job_timeout_s: float = limits.JOB_TIMEOUT_S,
        api_keys: Mapping[str, str] | None = None,
        rate_limit_rps: float = limits.RATE_LIMIT_RPS,
        burst_limit: int = limits.BURST_LIMIT,
        daily_quota: int = limits.DAILY_QUOTA,
        receive_wait_s: int = 1,
        access_log: bool = False,
        cors_origins: list[str] | None = None,
        inference: str = "worker",
        lambda_batch_size: int = DEFAULT_BATCH_SIZE,
        lambda_max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        if inference not in INFERENCE_MODES:
            raise ValueError(f"unknown inference {inference!r}; choose from {', '.join(INFERENCE_MODES)}")
        self.inference = inference
        self.lambda_batch_size, self.lambda_max_concurrency = lambda_batch_size, lambda_max_concurrency
        #: The emulated SQS event source mapping of the inference Lambda (``lambda`` / ``hybrid``), once started.
        self.event_source: SqsEventSource | None = None
        self.host, self.port, self.cdn_port, self.workers = host, port, cdn_port, workers
        self.cors_origins = cors_origins if cors_origins is not None else gateway_contract.origins_from_env()
        self.visibility_timeout_s, self.job_timeout_s = visibility_timeout_s, job_timeout_s
        self.api_keys = dict(api_keys) if api_keys is not None else parse_api_keys(Settings.from_env().api_keys)
        self.rate_limit_rps, self.burst_limit, self.daily_quota = rate_limit_rps, burst_limit, daily_quota
        self.receive_wait_s = receive_wait_s
        self.access_log = access_log
        self.aws = EmbeddedAws()
        self.gateway: ApiGatewayEmulator | None = None
        self.cdn: CdnEmulator | None = None
        self.settings: Settings | None = None
        self._stop_workers = threading.Event()
        self._worker_threads: list[threading.Thread] = []
        self._dlq: DeadLetterPoller | None = None
        self._environ_undo: dict[str, str | None] | None = None  # what start() changed in os.environ: name → value before (None: unset)
        self._stream: StreamPoller | None = None
        self._api_handler: Any = None
        self._ws_handler: Any = None
        self._generator: Any = None  # gpu_service.generation.BedrockGenerator of the in-process workers
        self.websocket = WebSocketFront(self._invoke_ws, access_log=access_log)
        # One Lambda execution environment handles one event at a time; the app keeps per-request state
        # (Powertools' resolver holds `current_event`), so concurrent requests from the threaded front
        # must not interleave inside it.
        self._api_lock = threading.Lock()

    @property
    def url(self) -> str:
        """Base URL of the API front, e.g. ``http://127.0.0.1:3000``."""
        assert self.gateway is not None, "LocalStack is not started"
        return self.gateway.url

    @property
    def cdn_url(self) -> str:
        """Base URL of the CDN front, e.g. ``http://127.0.0.1:3001``: the web page is at ``/``, the
        stickers at ``/stickers/<jobId>/…`` (the status documents' URLs)."""
        assert self.cdn is not None, "LocalStack is not started"
        return self.cdn.url

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint on the API's origin, e.g. ``ws://127.0.0.1:3000/ws`` (connect with ``?key=``)."""
        return "ws" + self.url[len("http") :] + WS_PATH

    def _invoke_ws(self, event: dict[str, Any], context: Any) -> Any:
        if self._ws_handler is None:  # the front is up a moment before the tables behind it
            return {"statusCode": 503}
        return self._ws_handler(event, context)

    def _invoke_api(self, event: dict[str, Any], context: Any) -> Any:
        if self._api_handler is None:  # the front is up a moment before the resources behind it
            return {"statusCode": 503, "headers": {"Content-Type": "application/json"}, "body": '{"message": "Service Unavailable"}'}
        with self._api_lock:
            return self._api_handler(event, context)

    def start(self) -> str:
        """Boot everything; returns the API's base URL.

        Raises:
            OSError: the port is taken.
        """
        environ_before = dict(os.environ)
        wanted = Settings.from_env()  # read before the emulator's variables replace the real ones
        bedrock_session = real_aws_session("POST /v1/stickers/prompt answers 501") if wanted.generator == "bedrock" else None
        endpoint = self.aws.start()
        os.environ.update(aws_environ(endpoint))
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        core_aws.reset()
        self.gateway = ApiGatewayEmulator(
            self._invoke_api,
            api_keys=self.api_keys,
            rate_limit_rps=self.rate_limit_rps,
            burst_limit=self.burst_limit,
            daily_quota=self.daily_quota,
            cors_origins=self.cors_origins,
            access_log=self.access_log,
            websocket=self.websocket,
        )
        self.gateway.start(self.host, self.port)
        self.cdn = CdnEmulator(
            self.aws.client("s3"), limits.STICKERS_BUCKET_NAME, api_url=self.gateway.url, ws_url=self.ws_url, connect_src=[endpoint]
        )
        self.cdn.start(self.host, self.cdn_port)
        settings = provision(
            self.aws,
            cdn_base_url=self.cdn.url,
            visibility_timeout_s=self.visibility_timeout_s,
        )
        # the connection handler and the notifier post to clients through the API front's management API
        self.settings = settings.model_copy(update={"job_timeout_s": self.job_timeout_s, "ws_management_url": self.gateway.url, **_generator_fields(wanted, bedrock_session)})
        if bedrock_session is not None:
            from gpu_service.generation import BedrockGenerator

            self._generator = BedrockGenerator.from_settings(self.settings, session=bedrock_session)
        self.settings = self.settings.model_copy(update={"inference": self.inference})  # GET /v1/health names it
        os.environ.update(self.settings.to_env())
        os.environ[ENV_GENERATOR] = self.settings.generator  # "none" too: a generator without credentials is none
        os.environ[ENV_CORS_ORIGINS] = ",".join(self.cors_origins)
        os.environ["STICKERS_ALLOW_LOOPBACK_CALLBACKS"] = "1"

        from functions.api.app import create_app

        # this stack's own app: its settings (with the browser origins and the loopback-callback exception), service, idempotency table
        api_settings = self.settings.model_copy(update={"cors_origins": tuple(self.cors_origins), "allow_loopback_callbacks": True})
        self._api_handler = create_app(api_settings).handler
        self._dlq = DeadLetterPoller(self.settings, self.aws.client("sqs"))
        self._dlq.start()
        from functions.ws_connections.app import create_handler as connections_handler
        from functions.ws_notifier.app import create_handler as notifier_handler

        self._ws_handler = connections_handler(self.settings)
        self._stream = StreamPoller(
            self.aws.client("dynamodbstreams"), jobs_stream_arn(self.aws.client("dynamodb")), notifier_handler(self.settings)
        )
        self._stream.start()
        if self.inference in ("worker", "hybrid"):
            self.start_workers(self.workers)
        if self.inference in ("lambda", "hybrid"):
            self.event_source = SqsEventSource(
                self.aws.client("sqs"), self.settings.queue_url, handler_factory=functools.partial(inference_handler, self._generator),
                batch_size=self.lambda_batch_size, max_concurrency=self.lambda_max_concurrency,
                function_timeout_s=self.job_timeout_s + FUNCTION_TIMEOUT_MARGIN_S, wait_s=self.receive_wait_s,
            )  # fmt: skip
            self.event_source.start()
        # published last: `stickers worker --attach` and readiness checks wait for it
        self.gateway.config = {"endpointUrl": endpoint, "env": {**aws_environ(endpoint), **self.settings.to_env()}}
        changed = {name for name in environ_before.keys() | os.environ.keys() if environ_before.get(name) != os.environ.get(name)}
        self._environ_undo = {name: environ_before.get(name) for name in changed}
        return self.gateway.url

    def start_workers(self, count: int) -> None:
        """Start `count` more in-process workers (threads sharing one model session)."""
        if count <= 0:
            return
        from gpu_service.worker import Worker

        assert self.settings is not None
        for _ in range(count):
            worker = Worker(self.settings, name=f"worker-{len(self._worker_threads) + 1}", receive_wait_s=self.receive_wait_s, generator=self._generator)
            thread = threading.Thread(target=worker.run, args=(self._stop_workers,), name=worker.name, daemon=True)
            thread.start()
            self._worker_threads.append(thread)

    def stop(self) -> None:
        """Stop workers (in-flight jobs finish), the dead-letter poller, the API front and the emulator."""
        self._stop_workers.set()
        for thread in self._worker_threads:
            thread.join(timeout=60)
        if self.event_source is not None:
            self.event_source.stop()
        if self._dlq:
            self._dlq.stop()
        if self._stream:
            self._stream.stop()
        if self.gateway:
            self.gateway.stop()
        if self.cdn:
            self.cdn.stop()
        self.aws.stop()
        if self._environ_undo is not None:  # undo what start() changed in os.environ: a stack started
            for name, value in self._environ_undo.items():  # before this one (a test session's) gets its emulator back
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._environ_undo = None
            core_aws.reset()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def real_aws_session(consequence: str) -> Any:
    """A boto3 session holding this environment's real AWS credentials (environment variables, profile,
    SSO…), resolved now, before the local stack points the process at the emulator; None (a warning on
    stderr ending with `consequence`) when there are none, or when they are the emulator's own dummy ones."""
    import boto3

    from local_stack.aws_emulator import DUMMY_ACCESS_KEY_ID

    session = boto3.session.Session()
    credentials = session.get_credentials()  # resolved once and kept by the session
    if credentials is None or credentials.get_frozen_credentials().access_key == DUMMY_ACCESS_KEY_ID:
        print(f"STICKERS_GENERATOR=bedrock but no AWS credentials found: {consequence}", file=sys.stderr)
        return None
    return session


def _generator_fields(wanted: Settings, session: Any) -> dict[str, Any]:
    """The generator settings of the stack: the environment's when a Bedrock session is at hand,
    else ``generator: none`` (the prompt route answers 501)."""
    fields = {"prompt_daily_quota": wanted.prompt_daily_quota}
    if session is None:
        return fields | {"generator": "none"}
    return fields | {name: getattr(wanted, name) for name in ("generator", "bedrock_model_id", "bedrock_region", "bedrock_endpoint_url")}
