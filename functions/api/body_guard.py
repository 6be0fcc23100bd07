"""The body guard: refuses a request body before the resolver parses it.

:func:`refuse_bad_body` runs on every event before routing, so Powertools' request validation only ever
parses bodies that passed these checks (a deeply nested body would otherwise overflow its recursive
JSON parser): JSON at most 64 KiB, an object, nested at most 32 levels; JSON-only routes refuse other
media types.
"""

import base64
import json
from typing import Any

from stickers_core.errors import ValidationFailed

MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
#: Routes whose body can only be JSON (the image route also takes multipart/form-data).
JSON_ONLY_ROUTES = {("POST", "/v1/stickers/text"), ("POST", "/v1/uploads")}


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value, stopping early past `limit`."""
    stack, deepest = [(value, 1)], 0
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def parse_json_object(raw: str | bytes) -> dict[str, Any]:
    """Parse a JSON request body: at most 64 KiB, an object, nested at most 32 levels.

    Raises:
        ValidationFailed: 400 `INVALID_JSON`, 413 `TOO_LARGE`.
    """
    if len(raw) > MAX_JSON_BYTES:
        raise ValidationFailed("TOO_LARGE", "Request body too large", status=413, maxSize=MAX_JSON_BYTES)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValidationFailed("INVALID_JSON", "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValidationFailed("INVALID_JSON", "The request body must be a JSON object")
    if _depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ValidationFailed("INVALID_JSON", f"The request body is nested deeper than {MAX_JSON_DEPTH} levels")
    return body


def refuse_bad_body(event: dict[str, Any]) -> dict[str, Any] | None:
    """The proxy response refusing a body before routing, or None when the event may be resolved.

    Refuses a non-JSON body on a JSON-only route (415 `UNSUPPORTED_MEDIA_TYPE`) and a malformed,
    oversized or too deeply nested JSON body (see :func:`parse_json_object`).
    """
    if not event.get("body"):
        return None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    is_json = headers.get("content-type", "").lower().startswith("application/json")
    try:
        if not is_json:
            if (event.get("httpMethod"), event.get("path")) in JSON_ONLY_ROUTES:
                raise ValidationFailed("UNSUPPORTED_MEDIA_TYPE", "Send a JSON body (Content-Type: application/json)", status=415)
            return None
        raw = event["body"]
        parse_json_object(base64.b64decode(raw) if event.get("isBase64Encoded") else raw)
    except ValidationFailed as exc:
        return {"statusCode": exc.status, "headers": {"Content-Type": "application/json; charset=utf-8"}, "body": json.dumps(exc.body()), "isBase64Encoded": False}
    except ValueError:  # not base64
        return None
    return None
