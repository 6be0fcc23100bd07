"""docs/api.md "Browsers on another origin": every response of every /v1 route, success and error, carries
CORS for the page's origin — the routed answers (Powertools' resolver), the bodies refused before routing,
and API Gateway's own answers (403, 413) — and exposes ``x-request-id``."""

from __future__ import annotations

import httpx
import pytest
from PIL import Image

from stickers_core import gateway_contract
from tests.helpers import encode
from tests.integration.conftest import KEY_A

PAGE = "https://d111111abcdef8.cloudfront.net"


def _requests(stack) -> list[tuple[str, str, dict]]:  # noqa: ANN001
    photo = encode(Image.new("RGB", (200, 160), (200, 80, 40)), "PNG")
    return [
        ("GET", "/v1/styles", {}),
        ("GET", "/v1/jobs", {}),
        ("GET", "/v1/jobs?limit=0", {}),  # 400 INVALID_REQUEST
        ("GET", "/v1/jobs/nope", {}),  # 404 JOB_NOT_FOUND
        ("DELETE", "/v1/jobs/nope", {}),
        ("GET", "/v1/stats", {}),
        ("GET", "/v1/webhooks/secret", {}),
        ("GET", "/v1/openapi.json", {}),
        ("GET", "/v1/no-such-route", {}),  # 404 NOT_FOUND
        ("POST", "/v1/stickers/text", {"json": {"text": "Hi"}}),  # 202
        ("POST", "/v1/stickers/text", {"content": b"{nope", "headers": {"content-type": "application/json"}}),  # refused before routing
        ("POST", "/v1/stickers/text", {"content": b"text", "headers": {"content-type": "text/plain"}}),  # 415 before routing
        ("POST", "/v1/stickers/image", {"files": {"image": ("p.png", photo, "image/png")}}),  # 202
        ("POST", "/v1/stickers/image", {"files": {"image": ("p.png", b"not an image", "image/png")}}),  # 400
        ("POST", "/v1/uploads", {"json": {"contentType": "image/png", "contentLength": 1000}}),
    ]


@pytest.mark.parametrize("origin", [PAGE, "http://127.0.0.1:3001"])
def test_every_v1_answer_carries_cors_for_the_page(stack, origin: str) -> None:  # noqa: ANN001
    statuses = set()
    with httpx.Client(base_url=stack.url, headers={"x-api-key": KEY_A, "Origin": origin}, timeout=30) as client:
        for method, path, options in _requests(stack):
            headers = {**options.pop("headers", {}), "Origin": origin}
            response = client.request(method, path, headers=headers, **options)
            statuses.add(response.status_code)
            assert response.headers.get("access-control-allow-origin") in ("*", origin), (method, path, response.status_code)
            assert "x-request-id" in response.headers.get("access-control-expose-headers", "").lower(), (method, path)
    assert {200, 202, 400, 404, 415} <= statuses
    # API Gateway's own answers: no key, and a body over the 10 MB payload quota
    no_key = httpx.get(f"{stack.url}/v1/styles", headers={"Origin": origin})
    assert no_key.status_code == 403 and no_key.headers["access-control-allow-origin"] == "*"
    too_large = httpx.post(f"{stack.url}/v1/stickers/image", headers={"x-api-key": KEY_A, "Origin": origin, "content-type": "image/jpeg"}, content=b"\xff" * (11 * 1024 * 1024))
    assert too_large.status_code == 413 and too_large.headers["access-control-allow-origin"] == "*"


def test_preflight_allows_what_the_page_sends(stack) -> None:  # noqa: ANN001
    response = httpx.options(
        f"{stack.url}/v1/stickers/image",
        headers={"Origin": PAGE, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key,idempotency-key,content-type"},
    )  # fmt: skip
    assert response.status_code == 204 and response.headers["access-control-allow-origin"] == "*"
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"x-api-key", "idempotency-key", "content-type"} <= allowed
    assert set(gateway_contract.CORS_ALLOW_METHODS) <= set(response.headers["access-control-allow-methods"].split(","))
