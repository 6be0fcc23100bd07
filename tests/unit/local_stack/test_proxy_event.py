"""The REST proxy contract of the local API front (local_stack.proxy_event), checked without a server.

The event's shape is compared with the documented AWS sample: the example event of API Gateway's developer
guide, "Input format of a Lambda function for proxy integration"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format),
reduced below to its keys and the JSON type of each value, and with Powertools' parser model of the same
event (``APIGatewayProxyEventModel``), which the API function's resolver relies on.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel

from local_stack import gateway, proxy_event
from local_stack.proxy_event import (
    HttpResponse,
    MalformedProxyResult,
    build_event,
    exceeds_invoke_limit,
    http_response,
    is_binary_media_type,
    make_context,
)
from stickers_core import gateway_contract, limits

STR, NULLABLE_STR, OBJECT, NULLABLE_OBJECT = (str,), (str, type(None)), (dict,), (dict, type(None))

#: The developer guide's example REST proxy event (payload format 1.0), as key → JSON type(s) of its value.
DOCUMENTED_EVENT: dict[str, Any] = {
    "resource": STR,
    "path": STR,
    "httpMethod": STR,
    "headers": OBJECT,
    "multiValueHeaders": OBJECT,
    "queryStringParameters": NULLABLE_OBJECT,
    "multiValueQueryStringParameters": NULLABLE_OBJECT,
    "pathParameters": NULLABLE_OBJECT,
    "stageVariables": NULLABLE_OBJECT,
    "requestContext": {
        "accountId": STR,
        "apiId": STR,
        "authorizer": NULLABLE_OBJECT,
        "domainName": STR,
        "domainPrefix": STR,
        "extendedRequestId": STR,
        "httpMethod": STR,
        "identity": {
            "accessKey": NULLABLE_STR,
            "accountId": NULLABLE_STR,
            "caller": NULLABLE_STR,
            "cognitoAuthenticationProvider": NULLABLE_STR,
            "cognitoAuthenticationType": NULLABLE_STR,
            "cognitoIdentityId": NULLABLE_STR,
            "cognitoIdentityPoolId": NULLABLE_STR,
            "principalOrgId": NULLABLE_STR,
            "sourceIp": STR,
            "user": NULLABLE_STR,
            "userAgent": STR,
            "userArn": NULLABLE_STR,
            "clientCert": NULLABLE_OBJECT,
        },
        "path": STR,
        "protocol": STR,
        "requestId": STR,
        "requestTime": STR,
        "requestTimeEpoch": (int,),
        "resourceId": NULLABLE_STR,
        "resourcePath": STR,
        "stage": STR,
    },
    "body": NULLABLE_STR,
    "isBase64Encoded": (bool,),
}
#: Keys of the sample this API's events never carry: no authorizer on the method (API keys only), no mutual TLS.
NOT_APPLICABLE = {"requestContext.authorizer", "requestContext.identity.clientCert"}
#: Keys API Gateway adds to the sample's for a method that requires an API key ($context.identity.apiKey, apiKeyId).
API_KEY_ADDITIONS = {"requestContext.identity.apiKey": STR, "requestContext.identity.apiKeyId": STR}


def sample_event(**overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "method": "POST",
        "raw_path": "/v1/stickers/text?tag=a&tag=b&empty=",
        "headers": [("Host", "127.0.0.1:3000"), ("User-Agent", "curl/8"), ("Content-Type", "application/json"),
                    ("X-Multi", "1"), ("X-Multi", "2")],
        "body": b'{"text": "hi"}',
        "key_value": "k-123",
        "key_id": "key-id-1",
        "source_ip": "127.0.0.1",
        "request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "now": 1_700_000_000.25,
    }
    options.update(overrides)
    return build_event(**options)


def shape_mismatches(value: Any, shape: Any, where: str = "") -> list[str]:
    """Where `value` departs from `shape` (a dict of shapes, or a tuple of allowed types)."""
    if isinstance(shape, tuple):
        return [] if isinstance(value, shape) and not (isinstance(value, bool) and bool not in shape) else [f"{where}: {type(value).__name__}"]
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    found: list[str] = []
    for key, sub in shape.items():
        path = f"{where}.{key}".lstrip(".")
        if path in NOT_APPLICABLE:
            found += [f"{path}: present"] if key in value else []
        elif key not in value:
            found.append(f"{path}: missing")
        else:
            found += shape_mismatches(value[key], sub, path)
    for key in value.keys() - shape.keys():
        path = f"{where}.{key}".lstrip(".")
        if path not in API_KEY_ADDITIONS:
            found.append(f"{path}: not in the documented event")
        elif not isinstance(value[key], API_KEY_ADDITIONS[path]):
            found.append(f"{path}: {type(value[key]).__name__}")
    return found


@pytest.mark.parametrize(
    "overrides",
    [{}, {"body": b"", "raw_path": "/v1/styles", "method": "GET"}, {"body": b"\x89PNG\x00", "headers": [("Content-Type", "image/png")]}],
    ids=["json", "no-body-no-query", "binary"],
)
def test_event_has_the_documented_shape(overrides: dict[str, Any]) -> None:
    event = sample_event(**overrides)
    assert shape_mismatches(event, DOCUMENTED_EVENT) == []
    APIGatewayProxyEventModel.model_validate(event)  # what Powertools' parser accepts as a REST proxy event
    json.dumps(event)  # and it is JSON, as Lambda receives it


def test_event_values() -> None:
    event = sample_event()
    assert event["resource"] == "/v1/{proxy+}" and event["path"] == "/v1/stickers/text"
    assert event["pathParameters"] == {"proxy": "stickers/text"}
    assert event["httpMethod"] == "POST" and event["stageVariables"] is None
    # repeated names: the single-value maps keep the last value, the multi-value maps every one in order
    assert event["headers"]["X-Multi"] == "2" and event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["queryStringParameters"] == {"tag": "b", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "empty": [""]}
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1" and event["headers"]["X-Forwarded-Port"] == "3000"
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["body"] == '{"text": "hi"}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["requestId"] == ctx["extendedRequestId"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert ctx["stage"] == "local" and ctx["path"] == "/local/v1/stickers/text" and ctx["resourcePath"] == "/v1/{proxy+}"
    assert ctx["requestTimeEpoch"] == 1_700_000_000_250
    assert ctx["requestTime"] == "14/Nov/2023:22:13:20 +0000"
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", ctx["requestTime"])
    assert ctx["identity"]["apiKey"] == "k-123" and ctx["identity"]["apiKeyId"] == "key-id-1"
    assert ctx["identity"]["sourceIp"] == "127.0.0.1" and ctx["identity"]["userAgent"] == "curl/8"


def test_forwarded_headers_sent_by_the_client_are_kept() -> None:
    event = sample_event(headers=[("Host", "example.test"), ("x-forwarded-for", "203.0.113.9")])
    assert event["headers"]["x-forwarded-for"] == "203.0.113.9" and "X-Forwarded-For" not in event["headers"]
    assert event["headers"]["X-Forwarded-Port"] == "80"


def test_percent_encoded_path_is_decoded_and_an_empty_body_is_null() -> None:
    event = sample_event(raw_path="/v1/jobs/a%20b", body=b"", method="GET")
    assert event["path"] == "/v1/jobs/a b" and event["pathParameters"] == {"proxy": "jobs/a b"}
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None
    assert event["body"] is None and event["isBase64Encoded"] is False


def test_binary_bodies_are_base64_and_byte_identical() -> None:
    raw = bytes(range(256))
    event = sample_event(headers=[("content-type", "multipart/form-data; boundary=XyZ")], body=raw)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw
    text = sample_event(headers=[("Content-Type", "text/plain")], body="é\xff".encode("latin-1"))
    assert text["isBase64Encoded"] is False and text["body"] == "\ufffd\ufffd"  # not UTF-8: replaced, as text


def test_binary_media_types_are_the_stacks() -> None:
    assert proxy_event.BINARY_MEDIA_TYPES is gateway_contract.BINARY_MEDIA_TYPES is gateway.BINARY_MEDIA_TYPES
    for media in ("multipart/form-data", "application/octet-stream", *limits.ALLOWED_IMAGE_TYPES):
        assert is_binary_media_type(media) and is_binary_media_type(media.upper() + "; charset=x")
    for media in ("application/json", "text/plain", "image/avif", "", "multipart/mixed"):
        assert not is_binary_media_type(media), media


def test_binary_media_type_wildcards() -> None:
    assert is_binary_media_type("image/avif", ["image/*"]) and not is_binary_media_type("video/mp4", ["image/*"])
    assert is_binary_media_type("application/json", ["*/*"])


def test_context() -> None:
    context = make_context("r-1", function_name="stickers-api", timeout_s=29, now=time.time())
    assert context.aws_request_id == "r-1" and context.function_name == "stickers-api"
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:stickers-api"
    assert context.log_group_name == "/aws/lambda/stickers-api" and context.memory_limit_in_mb == 1024
    assert 28_000 < context.get_remaining_time_in_millis() <= 29_000
    assert make_context("r-2", function_name="f", timeout_s=1, now=0).get_remaining_time_in_millis() == 0


def test_invoke_limit() -> None:
    assert not exceeds_invoke_limit(sample_event())
    big = sample_event(headers=[("Content-Type", "image/jpeg")], body=b"\xff" * (5 * 1024 * 1024))  # ~6.7 MB in base64
    assert exceeds_invoke_limit(big)


def test_proxy_result_to_http() -> None:
    response = http_response(
        {"statusCode": 201, "headers": {"X-One": "1", "set-cookie": "ignored"}, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
         "body": "{}"}
    )
    assert response == HttpResponse(
        201, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-One", "1"), ("Content-Type", "application/json")], b"{}"
    )
    binary = http_response({"statusCode": 200, "headers": {"Content-Type": "image/png"}, "body": base64.b64encode(b"\x89PNG").decode(),
                            "isBase64Encoded": True})
    assert binary.body == b"\x89PNG" and binary.headers == [("Content-Type", "image/png")]
    assert http_response({"statusCode": 204}).body == b""


@pytest.mark.parametrize("result", [None, "ok", {"statusCode": "200"}, {"body": "{}"}, [("statusCode", 200)]])
def test_malformed_proxy_results_are_refused(result: Any) -> None:
    with pytest.raises(MalformedProxyResult):
        http_response(result)
