"""API Gateway's WebSocket API: the Lambda proxy events of its routes and its route selection, as pure
functions.

The part of the local WebSocket front (:mod:`local_stack.websocket`) that tracks an AWS contract, kept
apart from the sockets so that it can be checked against AWS's documented shapes on its own
(``tests/unit/local_stack/test_ws_event.py``, against Powertools' ``APIGatewayWebSocket*EventModel``):

- :func:`connect_event`, :func:`message_event`, :func:`disconnect_event`: what the integration of the
  ``$connect``, a message and the ``$disconnect`` route receives ("WebSocket API Lambda proxy
  integration", the ``$context`` variables of
  https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-mapping-template-reference.html:
  ``routeKey``, ``eventType``, ``connectionId``, ``messageId``, ``identity.apiKey`` / ``identity.apiKeyId``
  of a key-enabled request, ``authorizer.*`` from the Lambda authorizer's ``context``);
- :func:`route_key`: the route a message selects with the expression ``$request.body.action``
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-develop-routes.html): the
  ``action`` member of a JSON object when a route has that key, else ``$default``;
- :func:`new_connection_id`: ids shaped like API Gateway's (16 base64 characters, e.g. ``Ck1R5cOJvHcCHtg=``).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from local_stack.proxy_event import API_ID, STAGE

CONNECT: Final = "$connect"
DISCONNECT: Final = "$disconnect"
DEFAULT: Final = "$default"
#: ``$context.requestTime``'s format (CLF), always UTC here.
_REQUEST_TIME_FORMAT: Final = "%d/%b/%Y:%H:%M:%S +0000"


def new_connection_id() -> str:
    """A fresh connection id in API Gateway's shape (10 random bytes, base64: 16 characters)."""
    return base64.b64encode(os.urandom(10)).decode("ascii")


def route_key(body: str | None, routes: Collection[str]) -> str:
    """The route a message selects (``$request.body.action``): the ``action`` of a JSON object body when
    it names one of `routes`, else ``$default``.

    >>> route_key('{"action": "subscribe", "jobId": "x"}', ["subscribe"]), route_key("hello", ["subscribe"])
    ('subscribe', '$default')
    """
    try:
        document = json.loads(body or "")
    except (ValueError, TypeError):
        return DEFAULT
    action = document.get("action") if isinstance(document, dict) else None
    return action if isinstance(action, str) and action in routes else DEFAULT


def _context(
    *,
    route: str,
    event_type: str,
    connection_id: str,
    connected_at_ms: int,
    source_ip: str,
    user_agent: str | None,
    domain_name: str,
    request_id: str,
    now: float,
) -> dict[str, Any]:
    identity: dict[str, Any] = {"sourceIp": source_ip}
    if user_agent is not None:
        identity["userAgent"] = user_agent
    return {
        "routeKey": route,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": time.strftime(_REQUEST_TIME_FORMAT, time.gmtime(now)),
        "messageDirection": "IN",
        "stage": STAGE,
        "connectedAt": connected_at_ms,
        "requestTimeEpoch": int(now * 1000),
        "identity": identity,
        "requestId": request_id,
        "domainName": domain_name,
        "connectionId": connection_id,
        "apiId": API_ID,
    }


def _headers(headers: Sequence[tuple[str, str]], source_ip: str, port: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    lower = {name.lower() for name in single}
    for name, value in (("X-Forwarded-For", source_ip), ("X-Forwarded-Port", port), ("X-Forwarded-Proto", "http")):
        if name.lower() not in lower:
            single[name], multi[name] = value, [value]
    return single, multi


def connect_event(
    *,
    connection_id: str,
    raw_path: str,
    headers: Sequence[tuple[str, str]],
    source_ip: str,
    key_value: str,
    key_id: str,
    connected_at_ms: int,
    request_id: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The ``$connect`` route's event for a handshake authorised with API key `key_value` (id `key_id`).

    As on AWS with the API key checked at ``$connect``: ``requestContext.identity`` carries ``apiKey``
    and ``apiKeyId``, and ``requestContext.authorizer`` the authorizer's answer (its ``principalId`` and
    its ``context``, here ``{"apiKeyId": …}`` as ``functions/ws_authorizer`` answers); the query string
    (``?key=…``) is in ``queryStringParameters``.
    """
    now = time.time() if now is None else now
    host = next((v for n, v in headers if n.lower() == "host"), "127.0.0.1")
    single, multi = _headers(headers, source_ip, host.rsplit(":", 1)[1] if ":" in host else "80")
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(urlsplit(raw_path).query, keep_blank_values=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    user_agent = next((v for n, v in headers if n.lower() == "user-agent"), None)
    context = _context(
        route=CONNECT, event_type="CONNECT", connection_id=connection_id, connected_at_ms=connected_at_ms, source_ip=source_ip,
        user_agent=user_agent, domain_name=host, request_id=request_id, now=now,
    )  # fmt: skip
    context["identity"].update({"apiKey": key_value, "apiKeyId": key_id})
    context["authorizer"] = {"principalId": key_id, "integrationLatency": 0, "apiKeyId": key_id}
    event: dict[str, Any] = {"headers": single, "multiValueHeaders": multi, "requestContext": context, "isBase64Encoded": False}
    if query:
        event["queryStringParameters"], event["multiValueQueryStringParameters"] = query, multi_query
    return event


def authorizer_event(connect: Mapping[str, Any], *, method_arn: str) -> dict[str, Any]:
    """The REQUEST authorizer's event for a ``$connect`` (`connect`, from :func:`connect_event`): the
    request's headers, query string and context, with ``type`` and ``methodArn``, before any
    authorization (no ``identity.apiKey*``, no ``authorizer``)."""
    context = {k: v for k, v in connect["requestContext"].items() if k != "authorizer"}
    context["identity"] = {k: v for k, v in context["identity"].items() if k not in ("apiKey", "apiKeyId")}
    event = {"type": "REQUEST", "methodArn": method_arn, "headers": connect["headers"], "multiValueHeaders": connect["multiValueHeaders"],
             "stageVariables": {}, "requestContext": context}  # fmt: skip
    for name in ("queryStringParameters", "multiValueQueryStringParameters"):
        if name in connect:
            event[name] = connect[name]
    return event


def allowed_key_id(answer: Any, method_arn: str) -> str | None:
    """The API key id a Lambda authorizer's answer allows (its ``context.apiKeyId``), or None when it
    denies `method_arn` (or answers something API Gateway would not accept: then it answers 500, here
    the connect is refused all the same)."""
    if not isinstance(answer, Mapping):
        return None
    statements = (answer.get("policyDocument") or {}).get("Statement") or []
    allowed = any(
        st.get("Effect") == "Allow" and st.get("Action") in ("execute-api:Invoke", ["execute-api:Invoke"])
        and method_arn in ([st.get("Resource")] if isinstance(st.get("Resource"), str) else st.get("Resource") or [])
        for st in statements
    )  # fmt: skip
    key_id = (answer.get("context") or {}).get("apiKeyId")
    return str(key_id) if allowed and key_id and answer.get("usageIdentifierKey") else None


def message_event(
    *,
    connection_id: str,
    route: str,
    body: str,
    is_base64: bool,
    source_ip: str,
    user_agent: str | None,
    domain_name: str,
    connected_at_ms: int,
    request_id: str,
    message_id: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The event of the route a client message selected (`route`, see :func:`route_key`)."""
    now = time.time() if now is None else now
    context = _context(
        route=route, event_type="MESSAGE", connection_id=connection_id, connected_at_ms=connected_at_ms, source_ip=source_ip,
        user_agent=user_agent, domain_name=domain_name, request_id=request_id, now=now,
    )  # fmt: skip
    context["messageId"] = message_id
    return {"requestContext": context, "body": body, "isBase64Encoded": is_base64}


def disconnect_event(
    *,
    connection_id: str,
    status_code: int,
    reason: str,
    source_ip: str,
    user_agent: str | None,
    domain_name: str,
    connected_at_ms: int,
    request_id: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The ``$disconnect`` route's event (`status_code`: the close code, 1006 when the TCP connection
    just ended)."""
    now = time.time() if now is None else now
    context = _context(
        route=DISCONNECT, event_type="DISCONNECT", connection_id=connection_id, connected_at_ms=connected_at_ms, source_ip=source_ip,
        user_agent=user_agent, domain_name=domain_name, request_id=request_id, now=now,
    )  # fmt: skip
    context["disconnectStatusCode"], context["disconnectReason"] = status_code, reason
    headers = {"Host": domain_name, "X-Forwarded-For": source_ip}
    return {"headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()}, "requestContext": context, "isBase64Encoded": False}


def status_of(result: Any) -> int:
    """The status code of an integration's answer (API Gateway treats a missing one as 200)."""
    if isinstance(result, Mapping):
        code = result.get("statusCode", 200)
        return code if isinstance(code, int) else 500
    return 200
