"""A loopback HTTP front that plays API Gateway (REST API, Lambda proxy integration) for the local stack.

Requests under ``/v1`` go through what API Gateway does before and after the Lambda: the ``x-api-key``
check, the usage plan's token bucket and daily quota (:mod:`local_stack.usage_plan`), the payload
limits, the proxy event (payload format 1.0, binary bodies base64-encoded) and the mapping of the proxy
result (or of a crash) back to HTTP (:mod:`local_stack.proxy_event`, the part that tracks AWS's
contract), with the stack's CORS (stickers_core.gateway_contract) on the preflight and the gateway's
own responses. ``/_local/config`` tells other local processes where the emulated resources are. With a
:class:`local_stack.websocket.WebSocketFront`, the same origin also plays the WebSocket API: ``/ws?key=…``
(the key checked like ``x-api-key``: 403 unknown, 429 over the usage plan) and its management API
``/@connections/{id}`` (loopback callers only). The web page, the API reference and the stickers are on another origin, as on AWS
(:class:`local_stack.cdn.CdnEmulator` plays CloudFront).

This module is the HTTP server; it re-exports the names other modules import from it
(:class:`LambdaContext`, :data:`API_PAYLOAD_MAX_BYTES`, :data:`TOO_LARGE_DOCUMENT`, …).

Example::

    with ApiGatewayEmulator(api.handler, api_keys={"k-123": "key-id-1"}, rate_limit_rps=10,
                            burst_limit=20, daily_quota=10_000) as gateway:
        httpx.get(f"{gateway.url}/v1/styles", headers={"x-api-key": "k-123"})

The handler is called from the server's request threads, possibly concurrently (Lambda would run
concurrent requests in separate execution environments).
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from local_stack import proxy_event
from local_stack.loopback import LoopbackServer
from local_stack.proxy_event import (
    API_PAYLOAD_MAX_BYTES,
    BINARY_MEDIA_TYPES,
    LAMBDA_PAYLOAD_MAX_BYTES,
    PROXY_RESOURCE,
    STAGE,
    HttpResponse,
    LambdaContext,
    MalformedProxyResult,
)
from local_stack.usage_plan import UsagePlan
from local_stack.websocket import WS_PATH, WebSocketFront
from stickers_core import gateway_contract as contract

__all__ = [
    "API_PAYLOAD_MAX_BYTES",
    "BINARY_MEDIA_TYPES",
    "LAMBDA_PAYLOAD_MAX_BYTES",
    "PROXY_RESOURCE",
    "STAGE",
    "TOO_LARGE_DOCUMENT",
    "ApiGatewayEmulator",
    "Handler",
    "LambdaContext",
    "UsagePlan",
]

#: The body of the stack's ``REQUEST_TOO_LARGE`` gateway response: the contract's TOO_LARGE error
#: pointing to the presigned-upload route (the object infra/api.py deploys).
TOO_LARGE_DOCUMENT: Final = contract.TOO_LARGE_DOCUMENT

_HOP_BY_HOP: Final = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
_DRAIN_MAX_BYTES: Final = 4 * API_PAYLOAD_MAX_BYTES
#: The WebSocket management API's path (boto3's ``apigatewaymanagementapi``), with or without a stage. A
#: connection id is base64 and may hold ``/``: boto3 sends it as ``%2F``, another client may not.
_MANAGEMENT_PATH: Final = re.compile(r"^(?:/[^/@]+)?/@connections/(.+)$")
#: API Gateway's ``PostToConnection`` payload quota, bytes.
_POST_MAX_BYTES: Final = 128 * 1024

Handler = Callable[[dict[str, Any], Any], Any]


class ApiGatewayEmulator(LoopbackServer):
    """API Gateway (REST, Lambda proxy integration) on a loopback port, in front of ``handler``.

    Args:
        handler: the Lambda handler, ``handler(event, context) -> proxy result dict``.
        api_keys: API key value → API key id (what ``requestContext.identity.apiKeyId`` carries).
        rate_limit_rps: usage plan rate per key, requests per second.
        burst_limit: usage plan burst per key, requests.
        daily_quota: usage plan quota per key, requests per UTC day.
        cors_origins: origins allowed to call the API from a browser (the ``corsOrigins`` context
            key on AWS; default ``["*"]``): the preflight and the gateway's own responses use them.
        config: JSON-serialisable document served at ``/_local/config`` (loopback callers only).
        function_name: the Lambda's name in the context object.
        timeout_s: the Lambda's timeout, seconds (only reported by ``get_remaining_time_in_millis``).
        access_log: write one line per request to stderr.
        websocket: the WebSocket API on the same origin (``/ws`` and ``/@connections/{id}``), or None.
        verbose: also let :class:`http.server.BaseHTTPRequestHandler` log its own messages.
    """

    thread_name = "api-gateway"

    def __init__(
        self,
        handler: Handler,
        *,
        api_keys: Mapping[str, str],
        rate_limit_rps: float,
        burst_limit: int,
        daily_quota: int,
        cors_origins: list[str] | None = None,
        config: Mapping[str, object] | None = None,
        function_name: str = "stickers-api",
        timeout_s: float = 29.0,
        access_log: bool = True,
        verbose: bool = False,
        websocket: WebSocketFront | None = None,
    ) -> None:
        super().__init__()
        if rate_limit_rps <= 0 or burst_limit < 1 or daily_quota < 0:
            raise ValueError("rate_limit_rps must be > 0, burst_limit >= 1, daily_quota >= 0")
        self.handler = handler
        self.api_keys = dict(api_keys)
        self.usage_plan = UsagePlan(rate_limit_rps, burst_limit, daily_quota)
        self.cors_origins = list(cors_origins or [contract.ANY_ORIGIN])
        self.config = dict(config or {})
        self.function_name = function_name
        self.timeout_s = timeout_s
        self.access_log = access_log
        self.verbose = verbose
        self.websocket = websocket

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler serving this API."""
        return _make_request_handler(self)

    def stop(self) -> None:
        """Close the WebSocket connections, then stop serving (idempotent)."""
        if self.websocket is not None:
            self.websocket.close_all()
        super().stop()

    def make_context(self, request_id: str) -> LambdaContext:
        """A Lambda context object for one invocation with id ``request_id``."""
        return proxy_event.make_context(request_id, function_name=self.function_name, timeout_s=self.timeout_s)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@dataclass
class _Response(HttpResponse):
    """An answer of the gateway; ``close`` ends the connection after it (e.g. a body left unread)."""

    close: bool = False


def _json_response(status: int, document: object, *extra: tuple[str, str]) -> _Response:
    body = json.dumps(document).encode()
    return _Response(status, [("Content-Type", "application/json"), *extra], body)


def _gateway_error(status: int, message: str, error_type: str) -> _Response:
    return _json_response(status, {"message": message}, ("x-amzn-ErrorType", error_type))


def _too_large(cors: Mapping[str, str]) -> _Response:
    """API Gateway's 413 (``REQUEST_TOO_LARGE``) as the stack configures it: the contract's TOO_LARGE
    document with CORS headers. Used both past API Gateway's 10 MB payload quota and when the proxy
    event would exceed Lambda's 6 MB invoke payload (the function never runs in either case)."""
    return _json_response(
        413, TOO_LARGE_DOCUMENT, ("x-amzn-ErrorType", "RequestEntityTooLargeException"), *cors.items()
    )


def _make_request_handler(gateway: ApiGatewayEmulator) -> type[BaseHTTPRequestHandler]:
    class _RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "local-api-gateway"
        timeout = 60

        def do_GET(self) -> None:
            self._serve()

        do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            if gateway.verbose:
                super().log_message(format, *args)

        def _error(self, status: int, message: str, error_type: str) -> _Response:
            response = _gateway_error(status, message, error_type)
            response.headers.extend(contract.gateway_response_cors_headers(gateway.cors_origins).items())
            return response

        def _too_large(self) -> _Response:
            return _too_large(contract.gateway_response_cors_headers(gateway.cors_origins))

        def _serve(self) -> None:
            started = time.perf_counter()
            request_id = str(uuid.uuid4())
            try:
                response = self._dispatch(request_id)
            except Exception:  # noqa: BLE001 - a bug in the gateway itself: answer like API Gateway, keep serving
                traceback.print_exc(file=sys.stderr)
                response = self._error(500, "Internal server error", "InternalServerErrorException")
                response.close = True
            if response is None:  # a WebSocket took the connection over, and it has ended
                self.close_connection = True
                return
            self._send(response, request_id)
            if gateway.access_log:
                elapsed_ms = (time.perf_counter() - started) * 1000
                sys.stderr.write(
                    f"api-gateway {self.client_address[0]} {self.command} {self.path} "
                    f"{response.status} {elapsed_ms:.1f}ms rid={request_id}\n"
                )

        def _dispatch(self, request_id: str) -> _Response | None:
            body = self._read_body()
            if isinstance(body, _Response):
                return body
            path = urlsplit(self.path).path
            if path.startswith("/v1/") and len(path) > len("/v1/"):
                return self._proxy(request_id, body)
            if gateway.websocket is not None:
                if path == WS_PATH and self.command == "GET":
                    return self._websocket(gateway.websocket)
                management = _MANAGEMENT_PATH.match(path)
                if management:
                    return self._management(gateway.websocket, unquote(management.group(1)), body)
            if self.command in ("GET", "HEAD"):
                if path == "/_local/config":
                    if not _is_loopback(self.client_address[0]):
                        return self._error(403, "Forbidden", "ForbiddenException")
                    return _json_response(200, gateway.config)
            return self._error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")

        def _websocket(self, front: WebSocketFront) -> _Response | None:
            """The WebSocket handshake: the key in ``?key=`` checked like ``x-api-key`` (403 missing or
            unknown, 429 over the usage plan: a connect is a request), then the front takes over."""
            key_value = dict(parse_qsl(urlsplit(self.path).query)).get("key")
            if front.authorizer is not None:  # the Lambda authorizer decides, as on AWS
                key_id = front.authorize(self, key_value) if key_value else None
            else:
                key_id = gateway.api_keys.get(key_value) if key_value else None
            if key_value is None or key_id is None:
                return self._error(403, "Forbidden", "ForbiddenException")
            if not gateway.usage_plan.admit(key_id):
                return self._error(429, "Too Many Requests", "TooManyRequestsException")
            front.serve(self, key_value=key_value, key_id=key_id)
            return None

        def _management(self, front: WebSocketFront, connection_id: str, body: bytes) -> _Response:
            """``POST`` / ``GET`` / ``DELETE /@connections/{id}``: IAM-signed on AWS, loopback-only here."""
            if not _is_loopback(self.client_address[0]):
                return _gateway_error(403, "Forbidden", "ForbiddenException")
            gone = _gateway_error(410, "Gone", "GoneException")
            if self.command == "POST":
                if len(body) > _POST_MAX_BYTES:
                    return _gateway_error(413, "Payload too large", "PayloadTooLargeException")
                return _Response(200, [("Content-Type", "application/json")], b"") if front.post(connection_id, body) else gone
            if self.command == "GET":
                info = front.info(connection_id)
                return _json_response(200, info) if info is not None else gone
            if self.command == "DELETE":
                return _Response(204, []) if front.delete(connection_id) else gone
            return _gateway_error(404, "Not Found", "NotFoundException")

        def _read_body(self) -> bytes | _Response:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                response = self._error(411, "Length Required", "LengthRequiredException")
                response.close = True
                return response
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                response = self._error(400, "Bad Request", "BadRequestException")
                response.close = True
                return response
            if length > API_PAYLOAD_MAX_BYTES:
                self._drain(length)
                response = self._too_large()
                response.close = True
                return response
            return self.rfile.read(length) if length > 0 else b""

        def _drain(self, length: int) -> None:
            # Read what the client sends so that it sees the answer instead of a connection reset.
            remaining = min(length, _DRAIN_MAX_BYTES)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)

        def _proxy(self, request_id: str, body: bytes) -> _Response:
            if self.command == "OPTIONS":
                preflight = contract.preflight_headers(self.headers.get("Origin"), gateway.cors_origins)
                return _Response(204, list(preflight.items()))
            key_value = self.headers.get("x-api-key")
            key_id = gateway.api_keys.get(key_value) if key_value else None
            if key_value is None or key_id is None:
                return self._error(403, "Forbidden", "ForbiddenException")
            if not gateway.usage_plan.admit(key_id):
                return self._error(429, "Too Many Requests", "TooManyRequestsException")
            event = proxy_event.build_event(
                method=self.command,
                raw_path=self.path,
                headers=list(self.headers.items()),
                body=body,
                key_value=key_value,
                key_id=key_id,
                source_ip=self.client_address[0],
                request_id=request_id,
            )
            if proxy_event.exceeds_invoke_limit(event):
                return self._too_large()
            try:
                result = gateway.handler(event, gateway.make_context(request_id))
                mapped = proxy_event.http_response(result)
                return _Response(mapped.status, mapped.headers, mapped.body)
            except MalformedProxyResult as exc:
                sys.stderr.write(f"api-gateway: {exc}\n")
                return self._error(502, "Internal server error", "InternalServerErrorException")
            except Exception:  # noqa: BLE001 - any handler crash is API Gateway's 502, never the front's
                sys.stderr.write(f"api-gateway: handler failed (rid={request_id})\n")
                traceback.print_exc(file=sys.stderr)
                return self._error(502, "Internal server error", "InternalServerErrorException")

        def _send(self, response: _Response, request_id: str) -> None:
            headers = [(n, v) for n, v in response.headers if n.lower() not in _HOP_BY_HOP]
            names = {n.lower() for n, _ in headers}
            if "x-request-id" not in names:
                headers.append(("x-request-id", request_id))
            if "x-amzn-requestid" not in names:
                headers.append(("x-amzn-RequestId", request_id))
            no_body = self.command == "HEAD" or response.status in (204, 304) or response.status < 200
            self.send_response(response.status)
            for name, value in headers:
                self.send_header(name, value)
            if response.status not in (204, 304):
                self.send_header("Content-Length", str(len(response.body)))
            if response.close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if not no_body:
                self.wfile.write(response.body)

    return _RequestHandler

