"""The API Gateway emulator, driven over loopback HTTP with httpx and an echoing fake handler."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local_stack.aws_emulator import EmbeddedAws
from local_stack.gateway import API_PAYLOAD_MAX_BYTES, TOO_LARGE_DOCUMENT, ApiGatewayEmulator
from stickers_core.settings import Settings

KEY, KEY_ID = "test-key-value", "key-id-1"


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fake Lambda: returns the event and the context's fields as JSON."""
    if event["path"] == "/v1/boom":
        raise RuntimeError("handler crashed")
    if event["path"] == "/v1/binary":
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                "body": base64.b64encode(b"\x89PNG\x00\xff").decode(), "isBase64Encoded": True}
    if event["path"] == "/v1/own-id":
        return {"statusCode": 201, "headers": {"x-request-id": "from-handler"},
                "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}, "body": ""}
    doc = {
        "event": event,
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(doc)}


def make_gateway(aws: EmbeddedAws, settings: Settings, **overrides: Any) -> ApiGatewayEmulator:
    options: dict[str, Any] = {
        "api_keys": {KEY: KEY_ID},
        "rate_limit_rps": 1000.0,
        "burst_limit": 1000,
        "daily_quota": 100_000,
        "config": {"endpointUrl": aws.endpoint_url, "queueUrl": settings.queue_url},
        "access_log": False,
    }
    options.update(overrides)
    return ApiGatewayEmulator(echo, **options)


@pytest.fixture(scope="module")
def gateway(aws: EmbeddedAws, settings: Settings) -> Iterator[ApiGatewayEmulator]:
    with make_gateway(aws, settings) as gw:
        yield gw


@pytest.fixture
def client(gateway: ApiGatewayEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as c:
        yield c


def assert_request_id(response: httpx.Response) -> str:
    request_id = response.headers["x-request-id"]
    uuid.UUID(request_id)
    assert response.headers["x-amzn-RequestId"] == request_id
    return request_id


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}])
def test_v1_without_a_valid_key_is_forbidden(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.get("/v1/jobs", headers=headers)
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
    assert response.headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert_request_id(response)


def test_key_header_is_case_insensitive_and_event_is_a_rest_proxy_event(client: httpx.Client) -> None:
    response = client.get("/v1/jobs/abc?limit=5&tag=a&tag=b", headers={"X-API-Key": KEY, "X-Multi": "1"})
    assert response.status_code == 200
    request_id = assert_request_id(response)
    event, context = response.json()["event"], response.json()["context"]
    assert event["resource"] == "/v1/{proxy+}"
    assert event["path"] == "/v1/jobs/abc"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"proxy": "jobs/abc"}
    assert event["queryStringParameters"] == {"limit": "5", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"limit": ["5"], "tag": ["a", "b"]}
    assert event["stageVariables"] is None
    assert event["body"] is None and event["isBase64Encoded"] is False
    headers = {k.lower(): v for k, v in event["headers"].items()}
    assert headers["x-multi"] == "1" and headers["x-api-key"] == KEY
    ctx = event["requestContext"]
    assert ctx["requestId"] == request_id and ctx["stage"] == "local"
    assert ctx["path"] == "/local/v1/jobs/abc" and ctx["resourcePath"] == "/v1/{proxy+}"
    assert ctx["identity"]["apiKeyId"] == KEY_ID and ctx["identity"]["apiKey"] == KEY
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert isinstance(ctx["requestTimeEpoch"], int)
    assert context["aws_request_id"] == request_id
    assert context["invoked_function_arn"].endswith(":function:" + context["function_name"])
    assert 0 < context["remaining_ms"] <= 29_000


def test_no_query_gives_none(client: httpx.Client) -> None:
    event = client.get("/v1/styles", headers={"x-api-key": KEY}).json()["event"]
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None


def test_multipart_body_arrives_base64_and_byte_identical(client: httpx.Client) -> None:
    image = bytes(range(256)) * 4 + b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x80\x81"
    request = client.build_request("POST", "/v1/stickers/image", headers={"x-api-key": KEY},
                                   files={"image": ("photo.jpg", image, "image/jpeg")}, data={"count": "3"})
    sent = request.read()
    event = client.send(request).json()["event"]
    assert event["isBase64Encoded"] is True
    raw = base64.b64decode(event["body"])
    assert raw == sent
    assert image in raw


def test_octet_stream_and_image_bodies_are_binary(client: httpx.Client) -> None:
    for content_type in ("application/octet-stream", "image/png"):
        event = client.put("/v1/x", headers={"x-api-key": KEY, "content-type": content_type},
                           content=b"\x00\xfe\xff").json()["event"]
        assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x00\xfe\xff"


def test_json_body_arrives_as_text(client: httpx.Client) -> None:
    payload = {"text": "Happy Birthday! 🎉", "keywords": ["party"]}
    event = client.post("/v1/stickers/text", headers={"x-api-key": KEY}, json=payload).json()["event"]
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == payload


def test_proxy_result_binary_and_headers_are_written_back(client: httpx.Client) -> None:
    response = client.get("/v1/binary", headers={"x-api-key": KEY})
    assert response.status_code == 200 and response.content == b"\x89PNG\x00\xff"
    assert response.headers["content-type"] == "image/png"
    response = client.get("/v1/own-id", headers={"x-api-key": KEY})
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "from-handler"
    uuid.UUID(response.headers["x-amzn-RequestId"])
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]


def test_handler_exception_is_a_502(client: httpx.Client, capsys: pytest.CaptureFixture[str]) -> None:
    response = client.post("/v1/boom", headers={"x-api-key": KEY}, json={})
    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}
    assert_request_id(response)
    assert "handler crashed" in capsys.readouterr().err


def test_burst_then_429(aws: EmbeddedAws, settings: Settings) -> None:
    with make_gateway(aws, settings, rate_limit_rps=0.01, burst_limit=3) as gw, httpx.Client(base_url=gw.url) as c:
        statuses = [c.get("/v1/styles", headers={"x-api-key": KEY}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        response = c.get("/v1/styles", headers={"x-api-key": KEY})
        assert response.json() == {"message": "Too Many Requests"}
        assert_request_id(response)


def test_daily_quota_then_429(aws: EmbeddedAws, settings: Settings) -> None:
    with make_gateway(aws, settings, daily_quota=2) as gw, httpx.Client(base_url=gw.url) as c:
        statuses = [c.get("/v1/styles", headers={"x-api-key": KEY}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]


def test_payload_over_10_mb_is_413(client: httpx.Client) -> None:
    response = client.post("/v1/stickers/image", headers={"x-api-key": KEY, "content-type": "image/jpeg"},
                           content=b"\0" * (API_PAYLOAD_MAX_BYTES + 1))
    assert response.status_code == 413
    assert response.json() == TOO_LARGE_DOCUMENT
    assert response.headers["access-control-allow-origin"] == "*"


def test_chunked_body_is_411(client: httpx.Client) -> None:
    response = client.post("/v1/stickers/text", headers={"x-api-key": KEY}, content=iter([b"{}"]))
    assert response.status_code == 411


def test_cors_preflight_needs_no_key(client: httpx.Client) -> None:
    response = client.options("/v1/stickers/image")
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "x-api-key" in response.headers["access-control-allow-headers"].lower()
    assert_request_id(response)


def test_unknown_paths_are_missing_authentication_token(client: httpx.Client) -> None:
    for path in ("/nope", "/v1", "/v2/jobs"):
        response = client.get(path, headers={"x-api-key": KEY})
        assert response.status_code == 403
        assert response.json() == {"message": "Missing Authentication Token"}


def test_local_config(client: httpx.Client, aws: EmbeddedAws) -> None:
    response = client.get("/_local/config")
    assert response.status_code == 200 and response.json()["endpointUrl"] == aws.endpoint_url


def test_the_api_origin_serves_no_page_and_no_docs(client: httpx.Client) -> None:
    # the page, its config and the API reference are on the CDN's origin, as on AWS (local_stack.cdn)
    for path in ("/", "/index.html", "/config.json", "/docs", "/docs/index.html"):
        response = client.get(path)
        assert response.status_code == 403 and response.json() == {"message": "Missing Authentication Token"}, path


def test_preflight_and_gateway_errors_follow_the_configured_origins(aws: EmbeddedAws, settings: Settings) -> None:
    page = "https://d111.cloudfront.net"
    with make_gateway(aws, settings, cors_origins=[page, "https://other.example"]) as gw:
        ok = httpx.options(gw.url + "/v1/styles", headers={"Origin": page, "Access-Control-Request-Method": "GET"})
        assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == page
        assert "idempotency-key" in ok.headers["access-control-allow-headers"].lower()
        refused = httpx.options(gw.url + "/v1/styles", headers={"Origin": "https://evil.example"})
        assert refused.headers["access-control-allow-origin"] == page  # not the asker's: the browser refuses
        # API Gateway's own 403 (no key) is readable by the page: the stack's DEFAULT_4XX gateway response
        forbidden = httpx.get(gw.url + "/v1/styles", headers={"Origin": page})
        assert forbidden.status_code == 403 and forbidden.headers["access-control-allow-origin"] == "*"


def test_event_over_lambdas_6_mb_invoke_limit_is_413(client: httpx.Client) -> None:
    # 5 MB of binary is ~6.7 MB once base64-encoded into the event: Lambda would refuse the invoke.
    response = client.post("/v1/stickers/image", headers={"x-api-key": KEY, "content-type": "image/jpeg"},
                           content=b"\xff" * (5 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json() == TOO_LARGE_DOCUMENT
    assert_request_id(response)


def test_7_mb_multipart_gets_the_contracts_too_large_pointing_to_uploads(client: httpx.Client) -> None:
    # Under API Gateway's 10 MB, over Lambda's 6 MB once base64-encoded: the gateway's own 413, in the
    # contract's shape (the stack's REQUEST_TOO_LARGE gateway response), with CORS for the web page.
    response = client.post("/v1/stickers/image", headers={"x-api-key": KEY},
                           files={"image": ("big.jpg", b"\xff\xd8" + b"\0" * (7 * 1024 * 1024), "image/jpeg")})
    assert response.status_code == 413
    body = response.json()
    assert body["success"] is False and body["code"] == "TOO_LARGE"
    assert body["uploadUrl"] == "/v1/uploads" and body["maxSize"] == 4 * 1024 * 1024
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["access-control-allow-origin"] == "*"
    assert_request_id(response)
