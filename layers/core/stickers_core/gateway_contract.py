"""What API Gateway does around the API function, declared once.

The CDK stack (``infra/api.py``) configures API Gateway from these values, the API function
(``functions/api/app.py``) answers with them, and the embedded local stack's API Gateway front
(``local_stack/gateway.py``) plays them. Keeping them here is what stops the local stack from
drifting away from the deployed shape: CORS for pages on another origin (docs/api.md "Browsers on another
origin"), the binary media types, and the 413 document of the ``REQUEST_TOO_LARGE`` gateway response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from stickers_core import limits
from stickers_core.settings import Settings

#: Request headers a browser may send cross-origin (the preflight's ``Access-Control-Allow-Headers``).
CORS_ALLOW_HEADERS: Final = (
    "Content-Type",
    "X-Api-Key",
    "Idempotency-Key",
    "Authorization",
    "X-Amz-Date",
    "X-Amz-Security-Token",
)
#: Methods of the ``/v1`` routes (the preflight's ``Access-Control-Allow-Methods``).
CORS_ALLOW_METHODS: Final = ("GET", "POST", "DELETE", "OPTIONS")
#: Response headers a page on another origin may read.
CORS_EXPOSE_HEADERS: Final = ("x-request-id", "x-idempotent-replayed")
#: How long a browser may cache a preflight answer, seconds.
CORS_MAX_AGE_S: Final = 600
#: The default of ``corsOrigins``: pages on any origin may call the API (the API key is the credential;
#: no cookies are involved, so ``*`` exposes nothing a caller without the key could read).
ANY_ORIGIN: Final = "*"

#: Bodies API Gateway passes to Lambda base64-encoded (multipart uploads and raw images).
BINARY_MEDIA_TYPES: Final = ("multipart/form-data", "application/octet-stream", *limits.ALLOWED_IMAGE_TYPES)

#: The body of API Gateway's 413 (``REQUEST_TOO_LARGE``) in the contract's error shape: a direct upload
#: past Lambda's 6 MB invoke payload (or API Gateway's 10 MB) never reaches the function, so the gateway
#: itself points the caller to the presigned-upload route.
TOO_LARGE_DOCUMENT: Final = {
    "success": False,
    "error": "Request body too large; use POST /v1/uploads for photos up to 10 MB",
    "code": "TOO_LARGE",
    "maxSize": limits.DIRECT_UPLOAD_MAX_BYTES,
    "uploadUrl": "/v1/uploads",
}


def parse_origins(value: str | Sequence[str] | None) -> list[str]:
    """Allowed origins from a comma-separated string or a list; empty or absent → ``["*"]``.

    >>> parse_origins("https://a.example, https://b.example"), parse_origins(None)
    (['https://a.example', 'https://b.example'], ['*'])
    """
    items = value.split(",") if isinstance(value, str) else list(value or [])
    origins = [o.strip().rstrip("/") for o in items if o and o.strip()]
    return origins or [ANY_ORIGIN]


def origins_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """The allowed origins of ``STICKERS_CORS_ORIGINS`` (default ``["*"]``): :attr:`Settings.cors_origins`."""
    return list(Settings.from_env(environ).cors_origins)


def allowed_origin(request_origin: str | None, origins: Sequence[str]) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for a request from `request_origin`, or None.

    ``*`` among `origins` answers ``*``; otherwise the request's origin when it is listed (API
    Gateway's generated preflight for several origins echoes the matching one the same way).
    """
    if ANY_ORIGIN in origins:
        return ANY_ORIGIN
    if request_origin and request_origin.rstrip("/") in origins:
        return request_origin
    return None


def response_cors_headers(request_origin: str | None, origins: Sequence[str]) -> dict[str, str]:
    """CORS headers of an actual (non-preflight) response: allow-origin and the exposed headers;
    empty when the origin is not allowed (the browser then refuses to hand the response to the page)."""
    value = allowed_origin(request_origin, origins)
    if value is None:
        return {}
    headers = {"Access-Control-Allow-Origin": value, "Access-Control-Expose-Headers": ",".join(CORS_EXPOSE_HEADERS)}
    if value != ANY_ORIGIN:
        headers["Vary"] = "Origin"
    return headers


def preflight_headers(request_origin: str | None, origins: Sequence[str]) -> dict[str, str]:
    """The answer of API Gateway's OPTIONS method (the CDK's CORS preflight) for `request_origin`.

    Like the mock integration the CDK generates for several origins, an origin that is not listed gets
    the first configured origin back, which the browser then refuses to match.
    """
    headers = response_cors_headers(request_origin, origins) or {"Access-Control-Allow-Origin": origins[0], "Vary": "Origin"}
    headers.update(
        {
            "Access-Control-Allow-Methods": ",".join(CORS_ALLOW_METHODS),
            "Access-Control-Allow-Headers": ",".join(CORS_ALLOW_HEADERS),
            "Access-Control-Max-Age": str(CORS_MAX_AGE_S),
        }
    )
    return headers


def gateway_response_cors_headers(origins: Sequence[str]) -> dict[str, str]:
    """CORS headers of API Gateway's own answers (403 bad key, 429, 413, 5xx: the stack's
    ``DEFAULT_4XX``/``DEFAULT_5XX``/``REQUEST_TOO_LARGE`` gateway responses). Those are static
    values, so with several configured origins they answer ``*`` (the bodies carry no caller data)."""
    return {
        "Access-Control-Allow-Origin": origins[0] if len(origins) == 1 else ANY_ORIGIN,
        "Access-Control-Allow-Headers": ",".join(CORS_ALLOW_HEADERS),
        "Access-Control-Expose-Headers": ",".join(CORS_EXPOSE_HEADERS),
    }
