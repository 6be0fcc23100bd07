"""GET /v1/health, /v1/stats, /v1/styles, /v1/webhooks/secret and /v1/openapi.json: the service itself."""

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import Router

from functions.api.context import AppContext, app_context, resolver_of
from functions.api.observability import logger
from functions.api.openapi import openapi_json
from functions.api.web import caller, json_response
from stickers_core import api_schema as schema
from stickers_core import styles, webhooks
from stickers_core.service import ServiceUnavailable

router = Router()


@router.get(
    "/v1/health",
    summary="Whether the service's dependencies answer",
    description="Cheap checks of the jobs table (one GetItem), the jobs queue (GetQueueAttributes, whose counts are "
    "reported as `queue`) and the buckets (a one-key listing of each); `checks.inference` names what consumes the "
    "queue. 503 with `status: degraded` and `unavailable` for each failing check.",
    tags=["service"],
    responses={200: schema.json_content(schema.Health, "Every dependency answers"), 503: schema.json_content(schema.HealthDegraded, "A dependency did not answer")},
)
def get_health(app: Annotated[AppContext, Depends(app_context)], owner: Annotated[str, Depends(caller)]):  # noqa: ARG001 - a key is required
    status, body = app.service.health()
    return json_response(status, body)


@router.get("/v1/stats", summary="Queue backlog and the caller's job counts", tags=["service"], responses={200: schema.json_content(schema.Stats, "Statistics")})
def get_stats(app: Annotated[AppContext, Depends(app_context)], owner: Annotated[str, Depends(caller)]):
    return json_response(200, app.service.stats(owner))


@router.get("/v1/styles", summary="The sticker styles that can be asked for", tags=["service"], responses={200: schema.json_content(schema.StylesCatalogue, "Style catalogue")})
def get_styles(owner: Annotated[str, Depends(caller)]):  # noqa: ARG001 - a key is required
    return json_response(200, {"success": True, **styles.catalogue()})


@router.get(
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
def get_webhook_secret(owner: Annotated[str, Depends(caller)]):
    try:
        secret = webhooks.key_secret(owner)
    except webhooks.WebhookSecretUnavailable as exc:
        logger.error("webhook master secret not configured")
        raise ServiceUnavailable("webhook secret") from exc
    return json_response(
        200,
        {"success": True, "secret": secret, "algorithm": "HMAC-SHA256", "header": webhooks.SIGNATURE_HEADER, "format": "sha256=<hex HMAC of \"<x-sticker-timestamp>.<raw body>\">, comma-separated, one per active secret"},
    )


@router.get("/v1/openapi.json", summary="This API's OpenAPI 3 document", tags=["service"], responses={200: {"description": "OpenAPI 3 document"}})
def get_openapi(resolver: Annotated[APIGatewayRestResolver, Depends(resolver_of)]):
    return Response(status_code=200, content_type="application/json", body=openapi_json(resolver))
