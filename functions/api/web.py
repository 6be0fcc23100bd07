"""Reading the API Gateway proxy event and writing contract-shaped answers (helpers of the routes and the handler)."""

import base64
import json
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from functions.api.body_guard import parse_json_object
from stickers_core import gateway_contract
from stickers_core.errors import ApiError


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A JSON answer (UTF-8, non-ASCII kept as is)."""
    return Response(
        status_code=status,
        content_type="application/json; charset=utf-8",
        body=json.dumps(body, ensure_ascii=False),
        headers=headers,
    )


def caller(request: Request) -> str:
    """The caller's API key id, which owns its jobs (API Gateway puts it in the request context).

    A route declares it as ``owner: Annotated[str, Depends(caller)]``.

    Raises:
        ApiError: 403 `FORBIDDEN` (answered as API Gateway's ``{"message": "Forbidden"}``).
    """
    identity = event_of(request).request_context.identity
    key_id = identity.api_key_id if identity else None
    if not key_id:
        raise ApiError(403, "FORBIDDEN", "Forbidden")
    return key_id


def event_of(request: Request) -> APIGatewayProxyEvent:
    """The proxy event (payload 1.0) of a request."""
    return request.resolved_event  # type: ignore[return-value]


def header(event: APIGatewayProxyEvent, name: str) -> str | None:
    """A request header, case-insensitively."""
    name = name.lower()
    return next((v for k, v in (event.headers or {}).items() if k.lower() == name), None)


def raw_body(event: APIGatewayProxyEvent) -> bytes:
    """The request body's bytes (API Gateway base64-encodes the binary media types)."""
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8", "surrogateescape")


def json_body(event: APIGatewayProxyEvent) -> dict[str, Any]:
    """The request's JSON object (the handler's body guard has already checked its size and depth).

    Raises:
        ValidationFailed: 400 `INVALID_JSON` for an empty body.
    """
    return event.json_body if event.body else parse_json_object(b"")


def with_gateway_headers(response: dict[str, Any], event: dict[str, Any], context: Any, cors_origins: Sequence[str]) -> dict[str, Any]:
    """A proxy response with CORS for the request's origin and ``x-request-id`` (API Gateway's request
    id, the one in its access logs). The resolver adds CORS to routed answers; responses refused before
    routing get the same headers here."""
    request_id = (event.get("requestContext") or {}).get("requestId") or getattr(context, "aws_request_id", "")
    origin = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "origin"), None)
    extra = {**gateway_contract.response_cors_headers(origin, cors_origins), "x-request-id": request_id}
    headers = response.setdefault("headers", {})
    multi = response.get("multiValueHeaders")
    present = {k.lower() for k in [*headers, *(multi or {})]}
    for name, value in extra.items():
        if name.lower() not in present or name == "x-request-id":
            if multi is not None:
                multi[name] = [value]
            else:
                headers[name] = value
    return response
