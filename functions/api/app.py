"""API Lambda: the public HTTP API of docs/api.md behind API Gateway's Lambda proxy integration.

Thin by design: each route parses the API Gateway event, calls :class:`stickers_core.service.StickerService`
and answers in the contract's shape. The function's modules (``functions/api/``):

- ``app`` (this one): :func:`create_app` assembles a resolver and its handler from settings; ``handler``
  is the Lambda entry point; :func:`openapi_json` (and ``python -m functions.api.app``) the OpenAPI text.
- ``routes/``: one Powertools ``Router`` per resource (``stickers``, ``prompt``, ``jobs``, ``uploads``, ``service``).
- ``context``: :class:`~functions.api.context.AppContext`, what the routes depend on (service,
  idempotency, callback rule, CORS origins), bound to one ``Settings``.
- ``models``: the request models; ``body_guard``: bodies refused before routing; ``idempotency``: the
  Idempotency-Key responder; ``error_handlers``: errors in the contract's shape; ``web``: event helpers;
  ``openapi``: the document; ``observability``: logger, metrics.

The code asset is the ``functions`` package (``infra/compute.py``), so the modules import each other as
``functions.api.*`` on Lambda exactly as in this repository.
"""

# No `from __future__ import annotations` in this package: Powertools reads the route signatures at run time.

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.api import error_handlers, openapi
from functions.api.body_guard import refuse_bad_body
from functions.api.context import CONTEXT_KEY, LAMBDA_CONTEXT_KEY, RESOLVER_KEY, AppContext
from functions.api.idempotency import UPLOAD_REPLAY_TTL_S
from functions.api.observability import logger, metrics
from functions.api.routes import ROUTERS
from functions.api.web import with_gateway_headers
from stickers_core import gateway_contract
from stickers_core.settings import Settings

__all__ = ["UPLOAD_REPLAY_TTL_S", "Api", "AppContext", "build_resolver", "create_app", "handler", "openapi_json"]

#: A Lambda handler of API Gateway proxy events (payload 1.0).
Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


class Api(NamedTuple):
    """One app: its resolver, its Lambda handler and the context its routes depend on."""

    resolver: APIGatewayRestResolver
    handler: Handler
    context: AppContext


def build_resolver(cors_origins: Sequence[str] = (gateway_contract.ANY_ORIGIN,)) -> APIGatewayRestResolver:
    """A resolver with every route and error handler. Requests are validated against the route
    signatures (which also generate the OpenAPI document); route functions carry no return annotation
    on purpose: they return hand-built `Response` objects whose bodies already follow the contract, so
    Powertools' response validation does not apply. Every answer carries CORS for `cors_origins`
    (pages on other origins call the API; API Gateway answers the preflight)."""
    cors = CORSConfig(
        allow_origin=cors_origins[0],
        extra_origins=list(cors_origins[1:]),
        allow_headers=list(gateway_contract.CORS_ALLOW_HEADERS),
        expose_headers=list(gateway_contract.CORS_EXPOSE_HEADERS),
        max_age=gateway_contract.CORS_MAX_AGE_S,
    )
    resolver = APIGatewayRestResolver(enable_validation=True, cors=cors)
    for router in ROUTERS:
        resolver.include_router(router)
    error_handlers.install(resolver)
    return resolver


def create_app(settings: Settings | None = None, *, context: AppContext | None = None) -> Api:
    """An app bound to `settings` (default: the environment's), or to a ready `context` (tests: a
    service on fakes). The service is built on the first request that needs it.

    The handler refuses bad bodies before routing (:func:`functions.api.body_guard.refuse_bad_body`),
    hands the routes the app's context, and gives every answer CORS and ``x-request-id``.
    """
    app = context or AppContext(settings or Settings.from_env())
    resolver = build_resolver(app.cors_origins)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
    @metrics.log_metrics
    def handler(event: dict[str, Any], lambda_context: LambdaContext) -> dict[str, Any]:
        response = refuse_bad_body(event)
        if response is None:
            resolver.append_context(**{CONTEXT_KEY: app, RESOLVER_KEY: resolver, LAMBDA_CONTEXT_KEY: lambda_context})
            response = resolver.resolve(event, lambda_context)
        return with_gateway_headers(response, event, lambda_context, app.cors_origins)

    return Api(resolver, handler, app)


@functools.cache
def _environment_app() -> Api:
    """This execution environment's app: built from its environment on the first invocation, then kept
    (a cold start pays only for imports)."""
    return create_app()


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``functions.api.app.handler``; API Gateway REST proxy integration, payload 1.0).

    Every response carries ``x-request-id``: API Gateway's request id, the one in the access logs.
    """
    return _environment_app().handler(event, context)


def openapi_json() -> str:
    """The OpenAPI document as served and committed (sorted keys, 2-space indent); needs no settings."""
    return openapi.openapi_json(build_resolver())


if __name__ == "__main__":  # python -m functions.api.app > local_stack/static/docs/openapi.json
    import sys

    sys.stdout.write(openapi_json())
