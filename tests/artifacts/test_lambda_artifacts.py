"""The synthesized Lambda artifacts run as deployed: what AWS runs, in AWS's shape.

The stack is synthesized (the session's ``synth``); the API and dead-letter functions' code assets and
the core layer are found in the cloud assembly through the template (``Code.S3Key`` / ``Content.S3Key``
and the asset manifest). Each function runs in its own Lambda-shaped Python 3.12 process
(:class:`local_stack.lambda_runtime.LambdaArtifact`): ``sys.path`` = the code asset, the layer, the
runtime's boto3 (``functions/lambda-runtime.txt``), the stdlib — nothing of this repository or its
virtual environment. Its environment is the template's variables, resolved against moto
(:class:`local_stack.aws_emulator.EmbeddedAws` + ``provision``, plus the webhook master secret in
Secrets Manager, read through the ARN as on AWS).

Architecture: the layer in the assembly is arm64; the processes here run the host-architecture twin
(:func:`local_stack.lambda_runtime.build_host_layer`: same lock, same bundling code), and the first test
checks that the twin and the arm64 layer hold the same distributions at the same versions and the same
``stickers_core`` files (why a twin and not QEMU: local_stack/lambda_runtime.py).

Then: every API route over real HTTP through :class:`local_stack.gateway.ApiGatewayEmulator` in front
of the API artifact; the dead-letter artifact on an SQS event for a job with a ``callbackUrl`` on a
loopback receiver, whose signed POST must arrive through the layer's httpx; and, for both, every module
imported at any depth lies in the code asset, the layer, the runtime or the stdlib.

The one setting that is not AWS's: the API function gets ``STICKERS_ALLOW_LOOPBACK_CALLBACKS=1`` (the
local stack's switch) so that a job can carry a plain-http loopback ``callbackUrl``.
"""

from __future__ import annotations

import inspect
import json
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.utils import canonicalize_name

from local_stack.aws_emulator import EmbeddedAws, aws_environ, provision
from local_stack.gateway import ApiGatewayEmulator, LambdaContext
from local_stack.lambda_runtime import LambdaArtifact, build_host_layer, host_architecture
from local_stack.stack import api_key_id
from stickers_core import limits, webhooks
from stickers_core import settings as settings_module
from stickers_core.queue import parse_job_id
from tests.artifacts.test_lambda_runtime import LOCK, _pins

pytestmark = [pytest.mark.cdk, pytest.mark.artifacts]

ROOT = Path(__file__).resolve().parents[2]
KEY = "artifact-test-key"
KEY_ID = api_key_id(KEY)
#: The CDN base URL the functions put in status documents (CloudFront's on AWS; no request goes there).
CDN = "https://d111111abcdef8.cloudfront.net"
#: Lambda's init phase limit is 10 s; this shared 2-core machine gets more (the init time is reported).
INIT_TIMEOUT_S = 60.0
API_ROUTES = {
    ("post", "/v1/stickers/image"), ("post", "/v1/stickers/text"), ("get", "/v1/jobs/{jobId}"), ("get", "/v1/jobs"),
    ("delete", "/v1/jobs/{jobId}"), ("post", "/v1/uploads"), ("get", "/v1/stats"), ("get", "/v1/styles"),
    ("get", "/v1/webhooks/secret"), ("get", "/v1/openapi.json"),
}  # fmt: skip


# --- the assembly ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FunctionAsset:
    """One function of the template with its staged code asset."""

    name: str
    code_dir: Path
    handler: str
    memory_mb: int
    timeout_s: int
    variables: dict[str, Any]
    layer_dirs: list[Path]


@pytest.fixture(scope="module")
def assembly(request: pytest.FixtureRequest, interpreter: str):  # noqa: ARG001 - Python 3.12 first: its skip reason wins
    """The session's synthesis (skipped without Node.js, which the CDK needs)."""
    if shutil.which("node") is None:
        pytest.skip("Node.js not found: the CDK app cannot be synthesized")
    return request.getfixturevalue("synth")


def _function(assembly, construct) -> FunctionAsset:  # noqa: ANN001
    logical_id = assembly.logical_id(construct)
    props = assembly.json["Resources"][logical_id]["Properties"]
    layers = []
    for ref in props.get("Layers", []):
        layer_props = assembly.json["Resources"][ref["Ref"]]["Properties"]
        layers.append(assembly.asset_dir(layer_props["Content"]["S3Key"].removesuffix(".zip")))
    return FunctionAsset(
        name=f"{assembly.stack.stack_name}-{logical_id}"[:64],
        code_dir=assembly.asset_dir(props["Code"]["S3Key"].removesuffix(".zip")),
        handler=props["Handler"],
        memory_mb=props["MemorySize"],
        timeout_s=props["Timeout"],
        variables=props["Environment"]["Variables"],
        layer_dirs=layers,
    )


@pytest.fixture(scope="module")
def api_asset(assembly) -> FunctionAsset:  # noqa: ANN001
    return _function(assembly, assembly.stack.functions.api_function)


@pytest.fixture(scope="module")
def dlq_asset(assembly) -> FunctionAsset:  # noqa: ANN001
    return _function(assembly, assembly.stack.functions.dead_letter_function)


@pytest.fixture(scope="module")
def twin(interpreter: str) -> Path:
    """The host-architecture twin of the core layer (cached under build/lambda-twin, keyed by the lock)."""
    return build_host_layer(interpreter)


# --- the emulated account ------------------------------------------------------------------------------------
@dataclass
class Local:
    aws: EmbeddedAws
    settings: Any
    master_secret: str
    secret_arn: str

    def resolve(self, variables: dict[str, Any]) -> dict[str, str]:
        """The template's variables with each CloudFormation reference replaced by the emulated resource."""
        local = self.settings.to_env() | {settings_module.ENV_CDN_BASE_URL: CDN}
        out = {}
        for name, value in variables.items():
            if isinstance(value, str):
                out[name] = value
            elif name in local:
                out[name] = local[name]
            else:
                pytest.fail(f"the template sets {name} to {value!r}, which this test cannot resolve locally")
        return out


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    """moto on loopback with the stack's tables, queues and buckets, and the webhook master secret."""
    aws = EmbeddedAws()
    aws.start()
    try:
        settings = provision(aws, cdn_base_url=CDN)
        master = secrets.token_urlsafe(32)
        name = f"stickers-artifact-test-{uuid.uuid4().hex[:8]}"
        arn = aws.client("secretsmanager").create_secret(Name=name, SecretString=master)["ARN"]
        yield Local(aws, settings.model_copy(update={"webhook_secret_arn": arn}), master, arn)
        aws.client("secretsmanager").delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
        sqs = aws.client("sqs")
        for queue_url in (settings.queue_url, settings.dlq_url):  # leave the shared moto state as found
            while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
                for m in messages:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    finally:
        aws.stop()


def _artifact(asset: FunctionAsset, twin: Path, runtime_site: Path, local: Local, interpreter: str, **extra_env: str) -> LambdaArtifact:
    assert len(asset.layer_dirs) == 1, "one layer: the core layer, replaced here by its host-architecture twin"
    return LambdaArtifact(
        asset.code_dir, [twin], runtime_site, handler=asset.handler, function_name=asset.name,
        memory_mb=asset.memory_mb, timeout_s=asset.timeout_s, environment=local.resolve(asset.variables) | extra_env,
        aws_environment=aws_environ(local.aws.endpoint_url), interpreter=interpreter, init_timeout_s=INIT_TIMEOUT_S,
    )  # fmt: skip


@pytest.fixture(scope="module")
def api_fn(api_asset, twin, runtime_site, local, interpreter) -> Iterator[LambdaArtifact]:  # noqa: ANN001
    artifact = _artifact(api_asset, twin, runtime_site, local, interpreter, STICKERS_ALLOW_LOOPBACK_CALLBACKS="1")
    artifact.start()
    yield artifact
    artifact.stop()


@pytest.fixture(scope="module")
def dlq_fn(dlq_asset, twin, runtime_site, local, interpreter) -> Iterator[LambdaArtifact]:  # noqa: ANN001
    artifact = _artifact(dlq_asset, twin, runtime_site, local, interpreter)
    artifact.start()
    yield artifact
    artifact.stop()


@pytest.fixture(scope="module")
def gateway(api_fn: LambdaArtifact, api_asset: FunctionAsset, local: Local) -> Iterator[ApiGatewayEmulator]:
    """API Gateway on loopback whose integration is the API artifact."""
    wanted: dict[str, Any] = {"function_name": api_asset.name, "timeout_s": api_asset.timeout_s, "access_log": False,
                              "static_dir": None, "s3_client": local.aws.client("s3"), "stickers_bucket": limits.STICKERS_BUCKET_NAME}
    accepted = inspect.signature(ApiGatewayEmulator).parameters  # its optional arguments are changing (the /cdn and /docs moved out)
    gw = ApiGatewayEmulator(
        api_fn, api_keys={KEY: KEY_ID}, rate_limit_rps=1000, burst_limit=1000, daily_quota=100_000,
        **{name: value for name, value in wanted.items() if name in accepted},
    )  # fmt: skip
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def client(gateway: ApiGatewayEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, headers={"x-api-key": KEY}, timeout=60) as c:
        yield c


class Receiver:
    """A loopback HTTP server that records every POST (path, headers, raw body) and answers 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/stickers"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


# --- helpers ---------------------------------------------------------------------------------------------
def _distributions(site: Path) -> dict[str, str]:
    """{canonical name: version} of the ``*.dist-info`` folders of a site folder (from their METADATA)."""
    found = {}
    for info in site.glob("*.dist-info"):
        meta = dict(line.split(": ", 1) for line in (info / "METADATA").read_text(encoding="utf-8").split("\n\n", 1)[0].splitlines() if ": " in line)
        found[canonicalize_name(meta["Name"])] = meta["Version"]
    return found


def _core_files(package: Path) -> dict[str, bytes]:
    return {str(p.relative_to(package)): p.read_bytes() for p in sorted(package.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def assert_self_contained(artifact: LambdaArtifact) -> dict[str, tuple[str, Path]]:
    """Every module the artifact's process imported lies in its code asset, its layer, the runtime or the stdlib."""
    origins = artifact.module_origins()
    foreign = {name: str(path) for name, (origin, path) in origins.items() if origin == "FOREIGN"}
    assert not foreign, f"{artifact.function_name} imported modules from outside its artifact: {foreign}"
    handler_module = artifact.handler_name.rpartition(".")[0]  # functions.<folder>.app: the asset is the `functions` package
    assert origins[handler_module][0] == "asset" and origins["functions"][0] == "asset"
    for name in ("stickers_core", "aws_lambda_powertools", "pydantic", "pydantic_core._pydantic_core", "jmespath"):
        assert origins[name][0] == "layer", (name, origins[name])
    for name in ("boto3", "botocore", "urllib3", "dateutil"):
        assert origins[name][0] == "runtime", (name, origins[name])
    if "s3transfer" in origins:  # boto3 imports it for S3 only
        assert origins["s3transfer"][0] == "runtime"
    return origins


def assert_within_memory(artifact: LambdaArtifact) -> None:
    assert artifact.reports, "every invocation ends with the runtime's REPORT line"
    peak = max(r.max_memory_used_mb for r in artifact.reports)
    assert peak < artifact.memory_mb, f"{artifact.function_name}: {peak} MB used of {artifact.memory_mb} MB"


def _json(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:500]}"
    assert response.headers.get("x-request-id"), "every response carries x-request-id"
    return response.json()


# --- the tests --------------------------------------------------------------------------------------------
def test_the_twin_holds_what_the_synthesized_arm64_layer_holds(api_asset: FunctionAsset, dlq_asset: FunctionAsset, twin: Path) -> None:
    assert api_asset.layer_dirs == dlq_asset.layer_dirs, "both functions use the one core layer"
    arm = api_asset.layer_dirs[0] / "python"
    host = twin / "python"
    pins = _pins(LOCK)
    assert _distributions(arm) == pins, "the synthesized layer holds exactly the lock"
    assert _distributions(host) == pins, "the twin holds exactly the lock"
    core = _core_files(ROOT / "layers" / "core" / "stickers_core")
    assert _core_files(arm / "stickers_core") == core
    assert _core_files(host / "stickers_core") == core
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[host_architecture()]
    for site, arch in ((arm, "aarch64"), (host, machine)):
        so = list((site / "pydantic_core").glob("_pydantic_core.cpython-312-*-linux-gnu.so"))
        assert len(so) == 1 and f"-{arch}-" in so[0].name, (site, so)


def test_the_api_artifact_imports_no_tracing_sdk(api_fn: LambdaArtifact, api_asset: FunctionAsset) -> None:
    """Issue 13: the X-Ray SDK (Powertools' Tracer) cost about a quarter of the cold import; the functions keep
    Lambda active tracing only. The init phase (the handler's import) loads no tracing SDK, and the
    synthesized layer ships none."""
    imported = api_fn.modules()  # the running environment, after its init phase
    assert "functions.api.app" in imported and "aws_lambda_powertools" in imported
    assert not sorted(m for m in imported if m.split(".")[0] in ("aws_xray_sdk", "wrapt", "opentelemetry"))
    assert not list((api_asset.layer_dirs[0] / "python").glob("aws_xray_sdk*"))


def test_every_api_route_through_the_api_artifact(client: httpx.Client, api_fn: LambdaArtifact, local: Local, cat_photo: bytes) -> None:
    styles = _json(client.get("/v1/styles"), 200)
    assert {"classic", "outline"} <= {s["name"] for s in styles["image"]} and styles["text"]

    direct = _json(client.post("/v1/stickers/image", files={"image": ("cat.jpg", cat_photo, "image/jpeg")}, data={"styles": "classic,outline"}), 202)
    direct_id = direct["data"]["jobId"]
    assert direct["data"]["status"] == "queued" and direct["data"]["styles"] == ["classic", "outline"]

    slot = _json(client.post("/v1/uploads", json={"contentType": "image/jpeg", "contentLength": len(cat_photo)}), 200)
    assert slot["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256" and slot["maxSize"] == limits.UPLOAD_MAX_BYTES
    posted = httpx.post(slot["url"], data=slot["fields"], files={"file": ("cat.jpg", cat_photo, "image/jpeg")}, timeout=60)
    assert posted.status_code in (200, 201, 204), posted.text[:300]
    uploaded = _json(client.post("/v1/stickers/image", json={"uploadId": slot["uploadId"], "styles": ["pop"], "preset": "telegram"}), 202)
    assert uploaded["data"]["styles"] == ["pop"] and uploaded["data"]["preset"] == "telegram"

    text_body = {"text": "Happy Birthday!", "keywords": ["party", "cake"], "styles": ["bubble"]}
    first = client.post("/v1/stickers/text", json=text_body, headers={"Idempotency-Key": "order-42"})
    again = client.post("/v1/stickers/text", json=text_body, headers={"Idempotency-Key": "order-42"})
    text_id = _json(first, 202)["data"]["jobId"]
    assert _json(again, 202)["data"]["jobId"] == text_id, "Powertools idempotency on DynamoDB replays the first answer"
    assert (first.headers["x-idempotent-replayed"], again.headers["x-idempotent-replayed"]) == ("false", "true")
    conflict = _json(client.post("/v1/stickers/text", json={**text_body, "text": "Other"}, headers={"Idempotency-Key": "order-42"}), 409)
    assert conflict["code"] == "IDEMPOTENCY_CONFLICT"
    assert _json(client.post("/v1/stickers/text", json={"text": "x", "styles": ["nope"]}), 400)["code"] == "UNKNOWN_STYLE"

    status = _json(client.get(f"/v1/jobs/{text_id}"), 200)
    assert (status["jobId"], status["status"], status["type"]) == (text_id, "queued", "text")
    assert status["input"] == {"text": "Happy Birthday!", "keywords": ["party", "cake"]}
    listed = _json(client.get("/v1/jobs", params={"limit": 10}), 200)
    assert {direct_id, uploaded["data"]["jobId"], text_id} <= {j["jobId"] for j in listed["jobs"]}
    assert _json(client.get("/v1/jobs", params={"limit": 0}), 400)["code"] == "INVALID_REQUEST"

    stats = _json(client.get("/v1/stats"), 200)
    assert stats["jobs"]["queued"] >= 3 and stats["queue"]["waiting"] >= 3, stats

    secret = _json(client.get("/v1/webhooks/secret"), 200)
    assert secret["secret"] == webhooks.key_secret(KEY_ID, local.master_secret), "the master secret is read from Secrets Manager"

    document = _json(client.get("/v1/openapi.json"), 200)
    assert document["openapi"].startswith("3.")
    assert API_ROUTES <= {(m, p) for p, ops in document["paths"].items() for m in ops}

    deleted = client.delete(f"/v1/jobs/{direct_id}")
    assert deleted.status_code == 204, deleted.text
    assert _json(client.get(f"/v1/jobs/{direct_id}"), 404)["code"] == "JOB_NOT_FOUND"
    assert client.get("/v1/styles", headers={"x-api-key": "not-a-key"}).status_code == 403

    # Lambda active tracing only: Lambda records the invocation; the function itself sends no trace data
    # (no X-Ray SDK: nothing it returns can reach a trace, docs/reliability.md; it was "## handler" + AWS calls)
    assert api_fn.xray_segments == [], [segment.get("name") for segment in api_fn.xray_segments]
    assert api_fn.cold_starts == 1, "one execution environment served every request"
    assert_within_memory(api_fn)
    assert_self_contained(api_fn)


def test_the_dead_letter_artifact_sends_a_signed_webhook_through_the_layers_httpx(
    client: httpx.Client, dlq_fn: LambdaArtifact, local: Local, receiver: Receiver
) -> None:
    accepted = _json(client.post("/v1/stickers/text", json={"text": "Dead letter", "callbackUrl": receiver.url}), 202)
    job_id = accepted["data"]["jobId"]
    sqs = local.aws.client("sqs")
    message, deadline = None, time.monotonic() + 20
    while message is None and time.monotonic() < deadline:  # the job's real message, as the DLQ would hold it
        for m in sqs.receive_message(QueueUrl=local.settings.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     MessageSystemAttributeNames=["All"]).get("Messages", []):  # fmt: skip
            if parse_job_id(m["Body"]) == job_id:
                message = m
    assert message is not None, "the API queued the job's message"
    record = {
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": message.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{limits.DLQ_NAME}", "awsRegion": "us-east-1",
    }  # fmt: skip

    def context() -> LambdaContext:
        return LambdaContext(aws_request_id=str(uuid.uuid4()), function_name=dlq_fn.function_name, memory_limit_in_mb=dlq_fn.memory_mb,
                             invoked_function_arn=dlq_fn.function_arn, deadline_epoch_s=time.time() + dlq_fn.timeout_s)  # fmt: skip

    assert dlq_fn({"Records": [record]}, context()) == {"batchItemFailures": []}
    assert receiver.arrived.wait(10), f"no webhook arrived; dead-letter log tail: {list(dlq_fn.logs)[-30:]}"
    path, headers, body = receiver.posts[0]
    secret = _json(client.get("/v1/webhooks/secret"), 200)["secret"]
    assert webhooks.verify(body, headers[webhooks.SIGNATURE_HEADER], secret, timestamp=headers[webhooks.TIMESTAMP_HEADER]), (
        "signed with the key's secret"
    )
    document = json.loads(body)
    assert (document["jobId"], document["status"]) == (job_id, "failed") and document["error"]
    assert headers["x-sticker-event"] == "job.failed" and headers["x-sticker-job-id"] == job_id
    assert headers["user-agent"] == "stickers-webhook/1" and path == "/hooks/stickers"
    assert _json(client.get(f"/v1/jobs/{job_id}"), 200)["status"] == "failed"
    logged = [json.loads(line) for line in dlq_fn.logs if line.startswith("{")]
    assert any(r.get("message") == "webhook delivered" and r.get("jobId") == job_id and r.get("service") == "stickers"
               and r.get("name", "").startswith("stickers_core.") for r in logged), (
        "stickers_core's log records reach the function's log stream (Powertools' root filter once dropped them)"
    )  # fmt: skip

    assert dlq_fn({"Records": [record]}, context()) == {"batchItemFailures": []}  # a redelivered dead letter…
    time.sleep(0.5)
    assert len(receiver.posts) == 1, "…does not notify twice"
    sqs.delete_message(QueueUrl=local.settings.queue_url, ReceiptHandle=message["ReceiptHandle"])

    assert dlq_fn.cold_starts == 1
    assert_within_memory(dlq_fn)
    origins = assert_self_contained(dlq_fn)
    for name in ("httpx", "httpcore", "h11", "anyio", "certifi"):
        assert origins[name][0] == "layer", (name, origins[name])
