"""API Lambda: the public HTTP API of API.md behind API Gateway's Lambda proxy integration.

Thin by design: each route parses the API Gateway event, calls :class:`stickers_core.service.StickerService`
and answers in the contract's shape. Errors raised anywhere in the core become
``{"success": false, "error", "code", ...}`` here, in one place.
"""

# No `from __future__ import annotations` here: Powertools reads the route signatures at run time.

import base64
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from stickers_core import api_schema as schema
from stickers_core import gateway_contract
from stickers_core import limits, styles, webhooks
from stickers_core.errors import ApiError, JobNotFound, ValidationFailed
from stickers_core.forms import parse_multipart
from stickers_core.service import ServiceUnavailable, StickerService, accepted_body
from stickers_core.settings import Settings
from stickers_core.validation import check_callback_url, parse_preset, parse_styles

logger = Logger(service=limits.SERVICE_NAME)
# Powertools' Logger filters the root logger's handlers (the Lambda runtime's) so that records of loggers
# named after the service ("stickers…") are dropped: stickers_core's warnings were silently lost on AWS.
# They get this logger's handler and level instead (found by running the deployed artifact, tests/artifacts).
copy_config_to_registered_loggers(source_logger=logger, include={"stickers_core"})
warnings.filterwarnings("ignore", message="No application metrics to publish")
tracer = Tracer(service=limits.SERVICE_NAME)
metrics = Metrics(namespace=limits.METRICS_NAMESPACE, service=limits.SERVICE_NAME)
#: Requests are validated against the route signatures (which also generate the OpenAPI document).
#: Route functions carry no return annotation on purpose: they return hand-built `Response` objects
#: whose bodies already follow the contract, so Powertools' response validation does not apply.
#: Pages on other origins call the API (on AWS the page is on CloudFront, the API on execute-api), so
#: every response carries CORS headers for ``STICKERS_CORS_ORIGINS`` (API Gateway answers the preflight).
CORS_ORIGINS = gateway_contract.origins_from_env()
_cors = CORSConfig(
    allow_origin=CORS_ORIGINS[0],
    extra_origins=CORS_ORIGINS[1:],
    allow_headers=list(gateway_contract.CORS_ALLOW_HEADERS),
    expose_headers=list(gateway_contract.CORS_EXPOSE_HEADERS),
    max_age=gateway_contract.CORS_MAX_AGE_S,
)
app = APIGatewayRestResolver(enable_validation=True, cors=_cors)

def _allow_loopback_callbacks() -> bool:
    """Plain http callback URLs to loopback are allowed only on the embedded local stack."""
    return os.environ.get("STICKERS_ALLOW_LOOPBACK_CALLBACKS") == "1"

MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32

_service: StickerService | None = None


def service() -> StickerService:
    """The process-wide service (built on first use so a cold start pays only for imports)."""
    global _service
    if _service is None:
        _service = StickerService(Settings.from_env())
    return _service


# --- request models (documented in the OpenAPI schema) ---------------------------------------------
class TextJobRequest(BaseModel):
    """Body of POST /v1/stickers/text."""

    model_config = ConfigDict(extra="ignore")

    text: str | None = Field(default=None, description="1–200 characters after trimming; emoji allowed")
    keywords: list[str] | None = Field(default=None, description="1–10 keywords of 1–30 characters")
    styles: list[str] | None = Field(default=None, description="Text styles: bubble, badge, retro")
    count: Any = Field(default=None, description="Number of stickers, 1–8")
    callbackUrl: str | None = Field(default=None, description="https URL that receives the final status document")
    preset: str | None = Field(default=None, description="Messenger preset: whatsapp or telegram")


class UploadRequest(BaseModel):
    """Body of POST /v1/uploads."""

    contentType: Any = Field(description="image/jpeg, image/png, image/webp or image/gif")
    contentLength: Any = Field(default=None, description="Size in bytes, at most 10485760")


# --- helpers ------------------------------------------------------------------------------------------
def _owner() -> str:
    """The caller's API key id (API Gateway puts it in the request context)."""
    identity = app.current_event.request_context.identity
    key_id = identity.api_key_id if identity else None
    if not key_id:
        raise ApiError(403, "FORBIDDEN", "Forbidden")
    return key_id


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
    return Response(
        status_code=status,
        content_type="application/json; charset=utf-8",
        body=json.dumps(body, ensure_ascii=False),
        headers=headers,
    )


def _raw_body() -> bytes:
    event = app.current_event
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8", "surrogateescape")


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

    :func:`handler` applies it to every JSON body before the resolver runs, so Powertools' request
    validation only ever parses bodies that passed these checks (a deeply nested body would
    otherwise overflow its recursive JSON parser).

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


def _json_body() -> dict[str, Any]:
    return app.current_event.json_body if app.current_event.body else parse_json_object(b"")


def _header(name: str) -> str | None:
    """A request header, case-insensitively."""
    name = name.lower()
    return next((v for k, v in (app.current_event.headers or {}).items() if k.lower() == name), None)


# --- idempotency (Idempotency-Key header on POST routes) ---------------------------------------------
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: How long a key's first response is kept and replayed, seconds (API.md: 24 h).
IDEMPOTENCY_TTL_S = 24 * 3600
IDEMPOTENCY_KEY_MAX_CHARS = 255

#: How long a POST /v1/uploads answer is replayed, seconds: less than the presigned form lives, so a
#: replay never hands out a form past its expiry (a repeat after it gets a fresh slot).
UPLOAD_REPLAY_TTL_S = limits.UPLOAD_URL_EXPIRES_S - 60

_idempotent: dict[int, tuple[StickerService, Callable[..., dict[str, Any]], IdempotencyConfig]] = {}


def _first_response(request: dict[str, Any], create: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Runs `create` once per idempotency record; `request` is what Powertools hashes."""
    return create()


def _idempotent_runner(ttl_s: int = IDEMPOTENCY_TTL_S) -> Callable[..., dict[str, Any]]:
    """`_first_response` wrapped by Powertools idempotency on the idempotency table of the current
    service's settings (rebuilt when the service is, e.g. by a new local stack in this process).

    The record key is the hash of ``scope`` (API key id + route + Idempotency-Key, so one key's
    Idempotency-Key never collides with another key's); ``bodyHash`` is the payload validated on a
    repeat (another body → `IdempotencyValidationError`).
    """
    svc = service()
    cached = _idempotent.get(ttl_s)
    if cached is None or cached[0] is not svc:
        config = IdempotencyConfig(
            event_key_jmespath="scope",
            payload_validation_jmespath="bodyHash",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ttl_s,
            hash_function="sha256",
        )
        store = DynamoDBPersistenceLayer(table_name=svc.settings.idempotency_table)
        run = idempotent_function(_first_response, data_keyword_argument="request", persistence_store=store, config=config)
        cached = _idempotent[ttl_s] = (svc, run, config)
    cached[2].register_lambda_context(app.lambda_context)  # in-progress records expire with the invocation
    return cached[1]


def _fingerprint(value: Any) -> str:
    """SHA-256 of a canonical JSON form of a request body (key order and spacing do not matter)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")).hexdigest()


def _respond_once(
    route: str, owner: str, fingerprint: str, create: Callable[[], tuple[int, dict[str, Any]]], ttl_s: int = IDEMPOTENCY_TTL_S
):
    """Answer a POST, at most once per Idempotency-Key (when the header is present).

    The first answer is replayed for `ttl_s` seconds. An answer with ``expiresIn`` (an upload slot) is
    replayed with the seconds it has left, never once they are spent (its `ttl_s` is shorter).

    Raises:
        ValidationFailed: `INVALID_REQUEST` (bad key), 409 `IDEMPOTENCY_CONFLICT` (same key, other
            body), 409 `IDEMPOTENCY_IN_PROGRESS` (the first request is still running).
        ServiceUnavailable: the idempotency table did not answer.
    """
    key = _header(IDEMPOTENCY_HEADER)
    if key is None:
        status, body = create()
        return _json(status, body)
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX_CHARS or not key.isprintable() or not key.isascii():
        raise ValidationFailed(
            "INVALID_REQUEST", f"{IDEMPOTENCY_HEADER} must be 1–{IDEMPOTENCY_KEY_MAX_CHARS} printable ASCII characters", field=IDEMPOTENCY_HEADER
        )
    ran = []

    def first() -> dict[str, Any]:
        ran.append(True)
        status, body = create()
        return {"status": status, "body": body, "issuedAt": int(time.time())}

    try:
        stored = _idempotent_runner(ttl_s)(request={"scope": f"{owner}#{route}#{key}", "bodyHash": fingerprint}, create=first)
    except IdempotencyValidationError:
        raise ValidationFailed(
            "IDEMPOTENCY_CONFLICT", f"This {IDEMPOTENCY_HEADER} was already used with another request body", status=409
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise ValidationFailed(
            "IDEMPOTENCY_IN_PROGRESS", f"A request with this {IDEMPOTENCY_HEADER} is still being processed; retry shortly", status=409
        ) from None
    except IdempotencyPersistenceLayerError as exc:
        logger.exception("idempotency store failed")
        raise ServiceUnavailable("idempotency store") from exc
    body = stored["body"]
    if not ran and "expiresIn" in body and "issuedAt" in stored:
        body = {**body, "expiresIn": max(0, int(body["expiresIn"]) - (int(time.time()) - int(stored["issuedAt"])))}
    return _json(stored["status"], body, headers={"x-idempotent-replayed": "false" if ran else "true"})


# --- routes -----------------------------------------------------------------------------------------
_COMMON_IMAGE_ERRORS = {
    400: schema.error("NO_IMAGE, CORRUPT_IMAGE, BAD_DIMENSIONS, UNKNOWN_STYLE, BAD_COUNT, UNKNOWN_PRESET, INVALID_JSON, INVALID_REQUEST"),
    404: schema.error("UPLOAD_NOT_FOUND"),
    413: schema.error("TOO_LARGE (maxSize; uploadUrl on the direct path)"),
    415: schema.error("UNSUPPORTED_TYPE, UNSUPPORTED_MEDIA_TYPE"),
}


@app.post(
    "/v1/stickers/image",
    summary="Stickers from a photo",
    description="multipart/form-data with `image` (file, ≤ 4 MB) and optional `styles`, `count`, `callbackUrl`, "
    "`preset`; or JSON `{uploadId, styles, count, callbackUrl, preset}` after POST /v1/uploads (≤ 10 MB).",
    responses={202: schema.json_content(schema.AcceptedResponse, "Job queued"), **_COMMON_IMAGE_ERRORS},
    tags=["stickers"],
)
@tracer.capture_method(capture_response=False)  # responses hold secrets, presigned forms, user text
def create_image_job():
    owner = _owner()
    content_type = _header("content-type") or ""  # the multipart boundary is case-sensitive
    allow_loopback = _allow_loopback_callbacks()
    if content_type.lower().startswith("application/json"):
        body = _json_body()
        fingerprint = _fingerprint(body)

        def submit():
            return service().submit_uploaded_image(
                owner,
                body.get("uploadId"),
                style_names=parse_styles(body.get("styles"), styles.IMAGE_STYLE_NAMES),
                count=body.get("count"),
                callback_url=check_callback_url(body.get("callbackUrl"), allow_loopback_http=allow_loopback),
                preset=parse_preset(body.get("preset")),
            )
    elif content_type.lower().startswith("multipart/form-data"):
        raw = _raw_body()
        try:
            parts = parse_multipart(raw, content_type, max_part_bytes=limits.DIRECT_UPLOAD_MAX_BYTES)
        except ValidationFailed as exc:
            if exc.code == "TOO_LARGE":
                raise _direct_too_large() from None
            raise
        image = parts.get("image")
        if image is None or not image.data:
            raise ValidationFailed("NO_IMAGE", "No image file provided")
        field = lambda name: bytes(parts[name].data).decode("utf-8", "replace") if name in parts else None  # noqa: E731
        fingerprint = _fingerprint(
            {name: [part.filename, hashlib.sha256(bytes(part.data)).hexdigest()] for name, part in parts.items()}
        )

        def submit():
            return service().submit_image(
                owner,
                bytes(image.data),
                filename=image.filename,
                style_names=parse_styles(field("styles"), styles.IMAGE_STYLE_NAMES),
                count=field("count"),
                callback_url=check_callback_url(field("callbackUrl"), allow_loopback_http=allow_loopback),
                preset=parse_preset(field("preset")),
            )
    elif not _raw_body():
        raise ValidationFailed("NO_IMAGE", "No image file provided")
    else:
        raise ValidationFailed(
            "UNSUPPORTED_MEDIA_TYPE",
            "Send multipart/form-data with an `image` file, or JSON with an `uploadId`",
            status=415,
        )

    def create() -> tuple[int, dict[str, Any]]:
        job = submit()
        metrics.add_metric(name="JobsCreated", unit=MetricUnit.Count, value=1)
        logger.info("image job queued", extra={"jobId": job.job_id, "styles": job.styles})
        return 202, accepted_body(job)

    return _respond_once("POST /v1/stickers/image", owner, fingerprint, create)


def _direct_too_large() -> ValidationFailed:
    return ValidationFailed(
        "TOO_LARGE",
        f"File too large for a direct upload (max {limits.DIRECT_UPLOAD_MAX_BYTES} bytes); "
        "use POST /v1/uploads for photos up to 10 MB",
        status=413,
        maxSize=limits.DIRECT_UPLOAD_MAX_BYTES,
        uploadUrl="/v1/uploads",
    )


@app.post(
    "/v1/stickers/text",
    summary="Stickers from text or keywords",
    responses={
        202: schema.json_content(schema.AcceptedResponse, "Job queued (data.input echoes the normalised input)"),
        400: schema.error("NO_INPUT, TEXT_TOO_LONG, TOO_MANY_KEYWORDS, BAD_KEYWORD, BAD_TEXT, INVALID_JSON, UNKNOWN_STYLE, BAD_COUNT, UNKNOWN_PRESET, INVALID_REQUEST"),
        413: schema.error("TOO_LARGE: a JSON body over 64 KiB"),
        415: schema.error("UNSUPPORTED_MEDIA_TYPE: not JSON"),
    },
    tags=["stickers"],
)
@tracer.capture_method(capture_response=False)  # responses hold secrets, presigned forms, user text
def create_text_job(request: Annotated[TextJobRequest, Body()]):
    owner = _owner()
    body = _json_body()  # depth and size limits; the model above documents and type-checks it

    def create() -> tuple[int, dict[str, Any]]:
        job = service().submit_text(
            owner,
            text=body.get("text"),
            keywords=body.get("keywords"),
            style_names=parse_styles(body.get("styles"), styles.TEXT_STYLE_NAMES),
            count=body.get("count"),
            callback_url=check_callback_url(request.callbackUrl, allow_loopback_http=_allow_loopback_callbacks()),
            preset=parse_preset(body.get("preset")),
        )
        metrics.add_metric(name="JobsCreated", unit=MetricUnit.Count, value=1)
        logger.info("text job queued", extra={"jobId": job.job_id})
        return 202, accepted_body(job)

    return _respond_once("POST /v1/stickers/text", owner, _fingerprint(body), create)


@app.get(
    "/v1/jobs/<jobId>",
    summary="Job status and results",
    tags=["jobs"],
    responses={200: schema.json_content(schema.StatusDocument, "Status document"), 404: schema.error("JOB_NOT_FOUND")},
)
@tracer.capture_method(capture_response=False)  # responses hold secrets, presigned forms, user text
def get_job(jobId: Annotated[str, Path(max_length=64)]):  # noqa: N803 - the contract's name
    return _json(200, service().status(_owner(), jobId))


@app.get(
    "/v1/jobs",
    summary="The caller's jobs, newest first",
    tags=["jobs"],
    responses={200: schema.json_content(schema.JobList, "A page of status documents"), 400: schema.error("INVALID_REQUEST: bad limit or nextToken")},
)
@tracer.capture_method(capture_response=False)  # responses hold secrets, presigned forms, user text
def list_jobs(
    limit: Annotated[str | None, Query(description="Page size 1–100, default 20")] = None,
    nextToken: Annotated[str | None, Query(max_length=2048)] = None,  # noqa: N803
):
    return _json(200, service().list_jobs(_owner(), limit, nextToken))


@app.delete(
    "/v1/jobs/<jobId>",
    summary="Delete a job, its upload and its stickers",
    tags=["jobs"],
    responses={204: {"description": "Deleted"}, 404: schema.error("JOB_NOT_FOUND"), 409: schema.error("JOB_ACTIVE")},
)
@tracer.capture_method(capture_response=False)  # responses hold secrets, presigned forms, user text
def delete_job(jobId: Annotated[str, Path(max_length=64)]):  # noqa: N803
    service().delete_job(_owner(), jobId)
    return Response(status_code=204, body="")


@app.post(
    "/v1/uploads",
    summary="A presigned S3 POST for photos up to 10 MB",
    tags=["stickers"],
    responses={
        200: schema.json_content(schema.UploadSlot, "Upload slot: POST `fields` + the file (`file`) to `url`"),
        413: schema.error("TOO_LARGE"),
        415: schema.error("UNSUPPORTED_TYPE"),
    },
)
@tracer.capture_method(capture_response=False)  # responses hold secrets, presigned forms, user text
def create_upload(request: Annotated[UploadRequest, Body()]):
    owner = _owner()
    body = _json_body()
    return _respond_once(
        "POST /v1/uploads",
        owner,
        _fingerprint(body),
        lambda: (200, service().create_upload(owner, body.get("contentType"), body.get("contentLength"))),
        ttl_s=UPLOAD_REPLAY_TTL_S,
    )


@app.get("/v1/stats", summary="Queue backlog and the caller's job counts", tags=["service"], responses={200: schema.json_content(schema.Stats, "Statistics")})
@tracer.capture_method(capture_response=False)  # responses hold secrets, presigned forms, user text
def get_stats():
    return _json(200, service().stats(_owner()))


@app.get("/v1/styles", summary="The sticker styles that can be asked for", tags=["service"], responses={200: schema.json_content(schema.StylesCatalogue, "Style catalogue")})
def get_styles():
    _owner()
    return _json(200, {"success": True, **styles.catalogue()})


@app.get(
    "/v1/webhooks/secret",
    summary="The secret that signs this API key's webhooks",
    description="Each `callbackUrl` POST carries `x-sticker-timestamp: <Unix seconds>` and "
    "`x-sticker-signature: sha256=<hex>[,sha256=<hex>]`: each entry is the hex HMAC-SHA256, under a per-key secret, "
    "of the timestamp, a `.` and the raw body (Stripe's timestamped scheme). Accept a POST when one entry matches "
    "under this secret and the timestamp is within 5 minutes of your clock (refuse replays). While the service "
    "rotates its master secret, a POST carries two entries (current, previous) and this route already returns "
    "the current secret. It is derived from the API key, so it is the same for every job of the key.",
    tags=["service"],
    responses={200: schema.json_content(schema.WebhookSecret, "The signing secret")},
)
def get_webhook_secret():
    owner = _owner()
    try:
        secret = webhooks.key_secret(owner)
    except webhooks.WebhookSecretUnavailable as exc:
        logger.error("webhook master secret not configured")
        raise ServiceUnavailable("webhook secret") from exc
    return _json(
        200,
        {"success": True, "secret": secret, "algorithm": "HMAC-SHA256", "header": webhooks.SIGNATURE_HEADER, "format": "sha256=<hex HMAC of \"<x-sticker-timestamp>.<raw body>\">, comma-separated, one per active secret"},
    )


# --- the API's own description -------------------------------------------------------------------------
API_TITLE = "Sticker API"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Die-cut stickers from a photo or a text. Every /v1 route needs the `x-api-key` header. "
    "Jobs are asynchronous: POST returns 202 with a job id, GET /v1/jobs/{jobId} reports progress and the "
    "sticker URLs. Errors: {success: false, error, code, …}; the codes are listed in `x-error-codes`."
)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3 document of this API, generated from the routes (Powertools) and completed by
    :func:`stickers_core.api_schema.complete_document`. ``docs/openapi.json`` is a committed copy
    (``python -m functions.api.app > local_stack/static/docs/openapi.json`` regenerates it)."""
    model = app.get_openapi_schema(
        title=API_TITLE,
        version=API_VERSION,
        description=API_DESCRIPTION,
        servers=[Server(url="/")],
        security_schemes={"apiKey": APIKey(name="x-api-key", **{"in": APIKeyIn.header})},
        security=[{"apiKey": []}],
    )
    doc = json.loads(model.model_dump_json(by_alias=True, exclude_none=True))
    return schema.complete_document(doc)


def openapi_json() -> str:
    """:func:`openapi_document` as the exact text served and committed (sorted keys, 2-space indent)."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@app.get("/v1/openapi.json", summary="This API's OpenAPI 3 document", tags=["service"], responses={200: {"description": "OpenAPI 3 document"}})
def get_openapi():
    return Response(status_code=200, content_type="application/json", body=openapi_json())


# --- errors -----------------------------------------------------------------------------------------
@app.exception_handler(ApiError)
def on_api_error(exc: ApiError):
    if exc.status == 403 and exc.code == "FORBIDDEN":
        return _json(403, {"message": "Forbidden"})
    logger.info("request refused", extra={"code": exc.code, "status": exc.status})
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    return _json(exc.status, exc.body())


@app.exception_handler(RequestValidationError)
def on_validation_error(exc: RequestValidationError):
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return _json(400, ValidationFailed("INVALID_JSON", "The request body is not valid JSON").body())
    if first.get("type") == "unsupported_content_type":
        return _json(415, ValidationFailed("UNSUPPORTED_MEDIA_TYPE", "Send a JSON body (application/json)", status=415).body())
    loc = [str(p) for p in first.get("loc", ())]
    field = loc[-1] if loc else "body"
    if loc[:1] == ["path"]:
        return _json(404, {"success": False, "error": "Job not found", "code": "JOB_NOT_FOUND"})
    return _json(
        400,
        ValidationFailed("INVALID_REQUEST", f'Invalid value for "{field}": {first.get("msg", "invalid")}', field=field).body(),
    )


@app.not_found
def on_not_found(exc: Exception):
    if app.current_event.path.startswith("/v1/jobs/"):  # e.g. an id with encoded slashes: still "no such job"
        return _json(404, JobNotFound().body())
    return _json(404, {"success": False, "error": "Route not found", "code": "NOT_FOUND"})


@app.exception_handler(Exception)
def on_unexpected(exc: Exception):
    logger.exception("unhandled error")
    request_id = app.current_event.request_context.request_id
    return _json(500, {"success": False, "error": "Internal error; quote the request id if you report it", "code": "INTERNAL_ERROR", "requestId": request_id})


#: Routes whose body can only be JSON (the image route also takes multipart/form-data).
JSON_ONLY_ROUTES = {("POST", "/v1/stickers/text"), ("POST", "/v1/uploads")}


def _refuse_bad_body(event: dict[str, Any]) -> dict[str, Any] | None:
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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (API Gateway REST proxy integration, payload 1.0).

    Every response carries ``x-request-id``: API Gateway's request id, the one in the access logs.
    """
    refused = _refuse_bad_body(event)
    response = refused if refused is not None else app.resolve(event, context)
    request_id = (event.get("requestContext") or {}).get("requestId") or getattr(context, "aws_request_id", "")
    # The resolver adds CORS to routed answers; responses refused before routing get the same headers.
    origin = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "origin"), None)
    extra = {**gateway_contract.response_cors_headers(origin, CORS_ORIGINS), "x-request-id": request_id}
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


if __name__ == "__main__":  # python -m functions.api.app > local_stack/static/docs/openapi.json
    import sys

    sys.stdout.write(openapi_json())
