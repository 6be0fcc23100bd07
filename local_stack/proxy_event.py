"""API Gateway's REST API Lambda proxy integration (payload format 1.0), as pure functions.

This module is the part of the local API Gateway front that tracks an AWS contract, kept apart from the
HTTP server (:mod:`local_stack.gateway`) and the usage plan (:mod:`local_stack.usage_plan`) so that it
can be checked against AWS's documentation on its own (``tests/unit/local_stack/test_proxy_event.py``):

- :func:`build_event`: the event API Gateway hands the function for one request ("Input format of a
  Lambda function for proxy integration", https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format);
- :func:`is_binary_media_type`: whether the body travels base64-encoded (the REST API's
  ``binaryMediaTypes``, https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html);
- :class:`LambdaContext` / :func:`make_context`: the context object of the invocation;
- :func:`http_response`: the proxy result mapped back to HTTP ("Output format of a Lambda function for
  proxy integration"), :class:`MalformedProxyResult` when API Gateway would answer 502.

Nothing here does I/O or reads the clock except through the ``now`` arguments' defaults.

Example::

    event = build_event(method="GET", raw_path="/v1/jobs?limit=5", headers=[("Host", "127.0.0.1:3000")],
                        body=b"", key_value="k-123", key_id="key-id-1", source_ip="127.0.0.1", request_id="r-1")
    http_response({"statusCode": 204, "body": ""})   # HttpResponse(status=204, headers=[('Content-Type', …)], body=b'')
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from stickers_core import gateway_contract as contract

#: API Gateway's request payload limit, in bytes (10 MB; a hard quota of the service).
API_PAYLOAD_MAX_BYTES: Final = 10 * 1024 * 1024
#: Lambda's synchronous invocation request limit, in bytes (the serialised event).
LAMBDA_PAYLOAD_MAX_BYTES: Final = 6 * 1024 * 1024
#: Content types the CDK stack declares as binary media types (declared once in stickers_core.gateway_contract).
BINARY_MEDIA_TYPES: Final = contract.BINARY_MEDIA_TYPES
#: Stage name of the emulated deployment.
STAGE: Final = "local"
#: Resource of the single proxy integration (infra/api.py: ``/v1/{proxy+}`` ANY).
PROXY_RESOURCE: Final = "/v1/{proxy+}"
#: Id of the emulated REST API (also its ``domainPrefix``, as for ``<apiId>.execute-api.<region>.amazonaws.com``).
API_ID: Final = "local"
ACCOUNT_ID: Final = "123456789012"
REGION: Final = "us-east-1"
#: The path before the greedy ``{proxy+}`` variable (``/v1/``): what ``pathParameters.proxy`` leaves out.
_PROXY_PREFIX: Final = PROXY_RESOURCE.split("{", 1)[0]
#: ``$context.requestTime``'s format (CLF: ``dd/MMM/yyyy:HH:mm:ss +-hhmm``), always UTC here.
_REQUEST_TIME_FORMAT: Final = "%d/%b/%Y:%H:%M:%S +0000"


@dataclass
class LambdaContext:
    """The parts of the Lambda context object that handlers and Powertools read.

    Attributes:
        aws_request_id: the invocation id (the gateway uses the API request id).
        function_name: name of the function.
        memory_limit_in_mb: configured memory, MB.
        invoked_function_arn: ARN the function was invoked with.
        deadline_epoch_s: when the invocation times out, seconds since the epoch.
    """

    aws_request_id: str
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    deadline_epoch_s: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation's deadline (never negative)."""
        return max(0, int((self.deadline_epoch_s - time.time()) * 1000))


def make_context(
    request_id: str, *, function_name: str, timeout_s: float, memory_mb: int = 1024, now: float | None = None
) -> LambdaContext:
    """A Lambda context object for one invocation with id `request_id`, due `timeout_s` after `now`
    (seconds since the epoch, default :func:`time.time`)."""
    now = time.time() if now is None else now
    return LambdaContext(
        aws_request_id=request_id,
        function_name=function_name,
        memory_limit_in_mb=memory_mb,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}",
        deadline_epoch_s=now + timeout_s,
        log_group_name=f"/aws/lambda/{function_name}",
    )


def is_binary_media_type(content_type: str, binary_media_types: Sequence[str] = BINARY_MEDIA_TYPES) -> bool:
    """Whether API Gateway passes a body of `content_type` to the function base64-encoded.

    The media type (parameters such as ``boundary`` dropped, case ignored) is matched against the
    declared list, where ``type/*`` and ``*/*`` are wildcards, as API Gateway matches ``binaryMediaTypes``.

    >>> is_binary_media_type("multipart/form-data; boundary=x"), is_binary_media_type("application/json")
    (True, False)
    >>> is_binary_media_type("image/avif", ["image/*"])
    True
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if not media:
        return False
    for declared in binary_media_types:
        declared = declared.lower()
        if declared == "*/*" or media == declared:
            return True
        if declared.endswith("/*") and media.startswith(declared[:-1]):
            return True
    return False


def build_event(
    *,
    method: str,
    raw_path: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    key_value: str,
    key_id: str,
    source_ip: str,
    request_id: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The API Gateway REST proxy event (payload format 1.0) for one request under ``/v1/``.

    As API Gateway builds it: ``headers`` / ``queryStringParameters`` hold the last value of a repeated
    name and the ``multiValue…`` maps every value in order; ``X-Forwarded-For``/``-Proto``/``-Port`` are
    added when the client did not send them; a body of a binary media type is base64-encoded
    (``isBase64Encoded``), any other is text; an empty body is ``null``; the caller's API key and its
    id are in ``requestContext.identity``.

    Args:
        method: HTTP method.
        raw_path: request target as received (path and query, percent-encoded).
        headers: request headers in arrival order (duplicates kept).
        body: request body bytes.
        key_value: the caller's API key; key_id: its id.
        source_ip: client address.
        request_id: the request id (``requestContext.requestId``).
        now: the request time, seconds since the epoch (default :func:`time.time`).
    """
    parts = urlsplit(raw_path)
    path = unquote(parts.path)
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    lower = {name.lower() for name in single}
    host = single.get("Host") or single.get("host") or "127.0.0.1"
    port = host.rsplit(":", 1)[1] if ":" in host else "80"
    for name, value in (("X-Forwarded-For", source_ip), ("X-Forwarded-Proto", "http"), ("X-Forwarded-Port", port)):
        if name.lower() not in lower:
            single[name] = value
            multi[name] = [value]
    query_single: dict[str, str] = {}
    query_multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query_single[name] = value
        query_multi.setdefault(name, []).append(value)
    content_type = next((v for n, v in reversed(headers) if n.lower() == "content-type"), "")
    is_binary = is_binary_media_type(content_type)
    if not body:
        event_body: str | None = None
    elif is_binary:
        event_body = base64.b64encode(body).decode("ascii")
    else:
        event_body = body.decode("utf-8", errors="replace")
    now = time.time() if now is None else now
    user_agent = single.get("User-Agent") or single.get("user-agent") or ""
    return {
        "resource": PROXY_RESOURCE,
        "path": path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": {"proxy": path[len(_PROXY_PREFIX) :]},
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "resourceId": "local",
            "resourcePath": PROXY_RESOURCE,
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "protocol": "HTTP/1.1",
            "domainName": host,
            "domainPrefix": API_ID,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": time.strftime(_REQUEST_TIME_FORMAT, time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "identity": {
                "apiKey": key_value,
                "apiKeyId": key_id,
                "sourceIp": source_ip,
                "userAgent": user_agent,
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
                "principalOrgId": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
            },
        },
        "body": event_body,
        "isBase64Encoded": bool(body) and is_binary,
    }


def exceeds_invoke_limit(event: Mapping[str, Any]) -> bool:
    """Whether Lambda would refuse to be invoked with `event` (serialised past 6 MB): API Gateway then
    answers its own 413 and the function never runs."""
    return len(json.dumps(event)) > LAMBDA_PAYLOAD_MAX_BYTES


@dataclass
class HttpResponse:
    """An HTTP answer: status, headers in order (repeats kept), body bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


class MalformedProxyResult(ValueError):
    """The function returned something that is not a proxy result: API Gateway answers 502."""


def http_response(result: Any) -> HttpResponse:
    """Map a Lambda proxy result (``statusCode``, ``headers``, ``multiValueHeaders``, ``body``,
    ``isBase64Encoded``) to the HTTP answer API Gateway sends.

    ``multiValueHeaders`` win over ``headers`` of the same name (case-insensitively); a missing
    ``Content-Type`` is ``application/json``; a base64 body is decoded.

    Raises:
        MalformedProxyResult: `result` is not a mapping with an integer ``statusCode``.
    """
    if not isinstance(result, Mapping) or not isinstance(result.get("statusCode"), int):
        raise MalformedProxyResult(f"malformed Lambda proxy response: {result!r:.200}")
    headers: list[tuple[str, str]] = []
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(value)) for value in values)
    multi_names = {name.lower() for name, _ in headers}
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in multi_names:
            headers.append((name, str(value)))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    raw = result.get("body")
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw)
    else:
        body = str(raw).encode()
    return HttpResponse(result["statusCode"], headers, body)
