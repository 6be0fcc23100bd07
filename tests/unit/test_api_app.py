"""functions.api.app.create_app: apps built from settings by a factory, each with its own service and
idempotency table, run here on the in-memory adapters of tests/unit/fakes.py (no moto, no HTTP)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from functions.api import app as api_app
from functions.api.context import AppContext
from functions.api.idempotency import IdempotentResponder
from stickers_core.errors import ApiError
from stickers_core.service import StickerService
from stickers_core.settings import Settings
from tests.unit.fakes import FakeJobStore, FakeQueue, FakeStorage

KEY_ID = "key-unit"


@dataclass
class Context:
    """The parts of a Lambda context Powertools reads."""

    aws_request_id: str = "req-unit"
    function_name: str = "stickers-api"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:stickers-api"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def event(method: str, path: str, body: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None, key_id: str | None = KEY_ID) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload 1.0)."""
    request_id = str(uuid.uuid4())
    return {
        "resource": path, "path": path, "httpMethod": method,
        "headers": {"content-type": "application/json", **(headers or {})}, "multiValueHeaders": {},
        "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
        "stageVariables": None, "isBase64Encoded": False, "body": json.dumps(body) if body is not None else None,
        "requestContext": {"requestId": request_id, "stage": "v1", "httpMethod": method, "path": f"/v1{path}",
                           "requestTimeEpoch": int(time.time() * 1000), "identity": {"apiKeyId": key_id, "sourceIp": "127.0.0.1"}},
    }  # fmt: skip


def fake_app(**settings: Any) -> tuple[api_app.Api, FakeJobStore, FakeQueue]:
    store, queue = FakeJobStore(), FakeQueue()

    def service(settings: Settings) -> StickerService:
        return StickerService(settings, store=store, queue=queue, storage=FakeStorage())  # type: ignore[arg-type]

    return api_app.create_app(context=AppContext(Settings(cdn_base_url="https://cdn.example", **settings), service_factory=service)), store, queue


def call(api: api_app.Api, evt: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    response = api.handler(evt, Context())
    body = response.get("body")
    headers = {**(response.get("headers") or {}), **{k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}}
    return response["statusCode"], headers, json.loads(body) if body else None


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")


def test_two_apps_in_one_process_keep_their_own_services() -> None:
    first, first_store, first_queue = fake_app()
    second, second_store, second_queue = fake_app()
    status, headers, body = call(first, event("POST", "/v1/stickers/text", {"text": "one", "styles": ["badge"], "count": 2}))
    assert status == 202 and headers["x-request-id"] and body["data"]["styles"] == ["badge", "badge"]
    job_id = body["data"]["jobId"]
    assert list(first_store.jobs) == [job_id] and first_queue.sent == [{"jobId": job_id, "type": "text"}]
    assert not second_store.jobs and not second_queue.sent
    assert call(second, event("GET", f"/v1/jobs/{job_id}"))[0] == 404, "the other app has no such job"
    status, _, doc = call(first, event("GET", f"/v1/jobs/{job_id}"))
    assert status == 200 and doc["input"] == {"text": "one", "keywords": []}


def test_building_an_app_touches_no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_aws(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an AWS client was built")

    monkeypatch.setattr("stickers_core.aws.client", no_aws)
    monkeypatch.setattr("stickers_core.aws.resource", no_aws)
    api = api_app.create_app(Settings())
    assert "service" not in vars(api.context) and "idempotency" not in vars(api.context), "built on first use"
    assert json.loads(api_app.openapi_json())["info"]["title"] == "Sticker API"
    status, _, _ = call(api, event("GET", "/v1/styles"))
    assert status == 200 and "service" not in vars(api.context), "a route that needs no service builds none"


def test_the_options_are_validated_and_errors_keep_their_shape() -> None:
    api, store, _ = fake_app()
    status, _, body = call(api, event("POST", "/v1/stickers/text", {"text": "x", "styles": ["classic"]}))
    assert (status, body["code"], body["allowed"]) == (400, "UNKNOWN_STYLE", ["bubble", "badge", "retro"])
    status, _, body = call(api, event("POST", "/v1/stickers/text", {"text": "x", "callbackUrl": "http://127.0.0.1:9/h"}))
    assert (status, body["code"], body["field"]) == (400, "INVALID_REQUEST", "callbackUrl")
    assert not store.jobs
    local, local_store, _ = fake_app(allow_loopback_callbacks=True)
    status, _, body = call(local, event("POST", "/v1/stickers/text", {"text": "x", "callbackUrl": "http://127.0.0.1:9/h", "preset": "WhatsApp"}))
    assert status == 202 and body["data"]["preset"] == "whatsapp"
    assert local_store.jobs[body["data"]["jobId"]].callback_url == "http://127.0.0.1:9/h"


def test_every_answer_carries_cors_and_the_request_id() -> None:
    api, _, _ = fake_app(cors_origins=("https://page.example",))
    for evt in (
        event("GET", "/v1/styles", headers={"origin": "https://page.example"}),
        event("GET", "/v1/nope", headers={"origin": "https://page.example"}),
        {**event("POST", "/v1/stickers/text", headers={"origin": "https://page.example"}), "body": "{nope"},  # refused before routing
    ):
        status, headers, _ = call(api, evt)
        assert headers["x-request-id"] == evt["requestContext"]["requestId"], status
        assert headers.get("Access-Control-Allow-Origin") == "https://page.example", status
    status, _, body = call(api, event("GET", "/v1/styles", key_id=None))
    assert (status, body) == (403, {"message": "Forbidden"})


def test_the_lambda_handler_builds_its_app_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[api_app.Api] = []
    real = api_app.create_app

    def counting(*args: Any, **kwargs: Any) -> api_app.Api:
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(api_app, "create_app", counting)
    api_app._environment_app.cache_clear()
    try:
        for _ in range(3):
            assert api_app.handler(event("GET", "/v1/styles"), Context())["statusCode"] == 200
        assert len(built) == 1
    finally:
        api_app._environment_app.cache_clear()


def test_idempotency_without_a_key_runs_once_and_a_bad_key_touches_no_table() -> None:
    def no_table(table: str) -> Any:
        raise AssertionError("the idempotency table was used")

    responder = IdempotentResponder("idempotency", persistence=no_table)
    runs: list[int] = []
    response = responder.respond(None, scope="k#POST /v1/x", body_hash="h", create=lambda: (runs.append(1) or (201, {"ok": True})), lambda_context=Context())
    assert (response.status_code, json.loads(response.body), runs) == (201, {"ok": True}, [1])
    for bad in ("", "x" * 256, "tab\there", "clé"):
        with pytest.raises(ApiError) as raised:
            responder.respond(bad, scope="k#POST /v1/x", body_hash="h", create=lambda: (200, {}), lambda_context=Context())
        assert (raised.value.code, raised.value.details["field"]) == ("INVALID_REQUEST", "Idempotency-Key")
