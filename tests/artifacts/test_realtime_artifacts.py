"""The live-progress functions run as deployed: the authorizer, connection and notifier code assets of
the synthesized stack, on the core layer's host twin, each in its own Lambda-shaped Python 3.12 process
(:class:`local_stack.lambda_runtime.LambdaArtifact`; see tests/artifacts/test_lambda_artifacts.py).

Wired as on AWS, against moto: the API front's WebSocket side (:class:`local_stack.websocket.WebSocketFront`)
asks the authorizer artifact about each handshake (it reads the usage plan's keys from moto's API
Gateway) and hands ``$connect`` / messages / ``$disconnect`` to the connection artifact; the jobs
table's stream is read by :class:`local_stack.stack.StreamPoller` into the notifier artifact; both post
through boto3's ``apigatewaymanagementapi`` client (the runtime's boto3) to the front's management API.
A key of this usage plan follows its job to ``completed``; another plan's key cannot connect; another
key of this plan gets ``JOB_NOT_FOUND``; every module each process imported lies in its asset, the
layer, the runtime or the stdlib.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from local_stack.aws_emulator import DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY, REGION, EmbeddedAws, aws_environ, jobs_stream_arn, provision
from local_stack.gateway import ApiGatewayEmulator
from local_stack.lambda_runtime import LambdaArtifact
from local_stack.stack import StreamPoller
from local_stack.websocket import WebSocketFront
from stickers_core import settings as settings_module
from stickers_core.models import Job, JobMetadata, JobType
from stickers_core.store import JobStore
from tests.artifacts.test_lambda_artifacts import (  # noqa: F401 - fixtures
    CDN,
    INIT_TIMEOUT_S,
    FunctionAsset,
    _function,
    assembly,
    assert_self_contained,
    assert_within_memory,
    twin,
)

pytestmark = [pytest.mark.cdk, pytest.mark.artifacts]


@dataclass
class World:
    aws: EmbeddedAws
    settings: Any
    plan_id: str
    keys: dict[str, str]  # key value → key id, all on the plan
    foreign_key: str  # a key of another usage plan (another API's)
    dynamodb: Any


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """moto on loopback with the stack's tables, a usage plan with two keys and another plan with one."""
    aws = EmbeddedAws()
    aws.start()
    try:
        settings = provision(aws, cdn_base_url=CDN)
        apigw = aws.client("apigateway")
        tag = uuid.uuid4().hex[:8]
        plan = apigw.create_usage_plan(name=f"stickers-artifacts-{tag}")["id"]
        other_plan = apigw.create_usage_plan(name=f"another-api-{tag}")["id"]
        keys = {}
        for name in ("alice", "bob"):
            key = apigw.create_api_key(name=f"{name}-{tag}", enabled=True, value=f"{name}-{tag}-0123456789abcdef")
            apigw.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")
            keys[key["value"]] = key["id"]
        foreign = apigw.create_api_key(name=f"mallory-{tag}", enabled=True, value=f"mallory-{tag}-0123456789abcdef")
        apigw.create_usage_plan_key(usagePlanId=other_plan, keyId=foreign["id"], keyType="API_KEY")
        session = boto3.session.Session(aws_access_key_id=DUMMY_ACCESS_KEY_ID, aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY, region_name=REGION)
        yield World(aws, settings, plan, keys, foreign["value"], session.resource("dynamodb", endpoint_url=aws.endpoint_url))
    finally:
        aws.stop()


@dataclass
class Wired:
    gateway: ApiGatewayEmulator
    authorizer: LambdaArtifact
    connections: LambdaArtifact
    notifier: LambdaArtifact
    poller: StreamPoller

    @property
    def ws_url(self) -> str:
        return "ws" + self.gateway.url[len("http") :] + "/ws"


def _resolve(variables: dict[str, Any], local: dict[str, str]) -> dict[str, str]:
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
def wired(assembly, twin, runtime_site, interpreter, world: World) -> Iterator[Wired]:  # noqa: ANN001, F811
    """The three artifacts behind the API front's WebSocket side and the stream poller."""
    bound: dict[str, LambdaArtifact] = {}
    front = WebSocketFront(lambda e, c: bound["connections"](e, c), authorizer=lambda e, c: bound["authorizer"](e, c))
    gateway = ApiGatewayEmulator(lambda e, c: {"statusCode": 404}, api_keys={}, rate_limit_rps=1000, burst_limit=1000,
                                 daily_quota=100_000, access_log=False, websocket=front)  # fmt: skip
    gateway.start()
    local = world.settings.to_env() | {
        settings_module.ENV_CDN_BASE_URL: CDN,
        settings_module.ENV_WS_MANAGEMENT_URL: gateway.url,  # the stage's callback URL on AWS: here the front
        settings_module.ENV_USAGE_PLAN_ID: world.plan_id,
    }
    rt = assembly.stack.realtime
    for name, fn in (("authorizer", rt.authorizer_function), ("connections", rt.connections_function), ("notifier", rt.notifier_function)):
        asset: FunctionAsset = _function(assembly, fn)
        assert len(asset.layer_dirs) == 1, "one layer: the core layer, replaced here by its host-architecture twin"
        bound[name] = LambdaArtifact(
            asset.code_dir, [twin], runtime_site, handler=asset.handler, function_name=asset.name, memory_mb=asset.memory_mb,
            timeout_s=asset.timeout_s, environment=_resolve(asset.variables, local), aws_environment=aws_environ(world.aws.endpoint_url),
            interpreter=interpreter, init_timeout_s=INIT_TIMEOUT_S,
        )  # fmt: skip
        bound[name].start()
    poller = StreamPoller(world.aws.client("dynamodbstreams"), jobs_stream_arn(world.aws.client("dynamodb")), bound["notifier"])
    poller.start()
    yield Wired(gateway, bound["authorizer"], bound["connections"], bound["notifier"], poller)
    poller.stop()
    gateway.stop()
    for artifact in bound.values():
        artifact.stop()


def _collect(ws: Any, into: list[dict[str, Any]], done: threading.Event) -> None:
    try:
        for raw in ws:
            into.append(json.loads(raw))
            if into[-1].get("type") == "job" and into[-1]["data"]["status"] in ("completed", "failed"):
                done.set()
    except Exception:  # noqa: BLE001 - closed
        pass


def test_a_key_of_the_usage_plan_follows_its_job_through_the_deployed_functions(wired: Wired, world: World) -> None:
    (alice, alice_id), (bob, _) = world.keys.items()
    for refused in (f"?key={world.foreign_key}", "?key=not-a-key", ""):
        with pytest.raises(InvalidStatus) as answer:
            connect(f"{wired.ws_url}{refused}", proxy=None, open_timeout=30)
        assert answer.value.response.status_code == 403, refused

    jobs = JobStore(world.settings.table_name, dynamodb=world.dynamodb)
    job = Job.new(owner_id=alice_id, type=JobType.TEXT, styles=["bubble"], metadata=JobMetadata(type=JobType.TEXT), text="deployed")
    jobs.create(job)
    received: list[dict[str, Any]] = []
    done = threading.Event()
    with connect(f"{wired.ws_url}?key={alice}", proxy=None, open_timeout=30) as ws, \
         connect(f"{wired.ws_url}?key={bob}", proxy=None, open_timeout=30) as other:  # fmt: skip
        other.send(json.dumps({"action": "subscribe", "jobId": job.job_id}))
        assert json.loads(other.recv(timeout=30)) == {"type": "error", "code": "JOB_NOT_FOUND", "message": "Job not found", "jobId": job.job_id}
        reader = threading.Thread(target=_collect, args=(ws, received, done), daemon=True)
        reader.start()
        ws.send(json.dumps({"action": "subscribe", "jobId": job.job_id}))
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert received, "the current state at subscribe"
        jobs.claim(job.job_id, 1)
        for progress in (10, 50, 90):
            jobs.set_progress(job.job_id, 1, progress)
        jobs.complete(job.job_id, 1, [f"stickers/{job.job_id}/1-bubble.png"], 42)
        assert done.wait(60), f"not completed: {received}; notifier log tail: {list(wired.notifier.logs)[-20:]}"
    steps = [(m["data"]["status"], m["data"]["progress"], m["data"]["attempts"]) for m in received]
    assert steps == [("queued", 0, 0), ("active", 0, 1), ("active", 10, 1), ("active", 50, 1), ("active", 90, 1), ("completed", 100, 1)]
    final = received[-1]["data"]
    assert final == jobs.get(job.job_id).status_document(CDN), "the same document as GET /v1/jobs/{jobId}"
    assert final["stickers"] == [f"{CDN}/stickers/{job.job_id}/1-bubble.png"]

    for artifact in (wired.authorizer, wired.connections, wired.notifier):
        assert artifact.cold_starts == 1, artifact.function_name
        assert_within_memory(artifact)
        assert_self_contained(artifact)
    for artifact in (wired.authorizer, wired.connections, wired.notifier):  # Lambda active tracing only: no SDK sends segments
        assert artifact.xray_segments == [], (artifact.function_name, [s.get("name") for s in artifact.xray_segments])
