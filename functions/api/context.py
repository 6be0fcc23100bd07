"""What the routes need, bound to one :class:`~stickers_core.settings.Settings`: the app's context.

:func:`functions.api.app.create_app` builds one per resolver; the handler hands it to every request in
the resolver's context, and a route receives it as ``app: Annotated[AppContext, Depends(app_context)]``.
Nothing here is a module-level singleton: two apps (two local stacks, a test's app on fakes) never
share a service or an idempotency table.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.api.idempotency import IDEMPOTENCY_HEADER, IDEMPOTENCY_TTL_S, Answer, IdempotentResponder, fingerprint
from functions.api.web import caller, event_of, header, json_body
from stickers_core.service import StickerService
from stickers_core.settings import Settings

#: The keys, in the resolver's per-request context, of the app's context, the resolver itself and the
#: invocation's Lambda context (the handler sets them before each resolve; Powertools clears them after).
CONTEXT_KEY = "stickers_app"
RESOLVER_KEY = "stickers_resolver"
LAMBDA_CONTEXT_KEY = "stickers_lambda_context"


@dataclass
class AppContext:
    """The API's dependencies for one deployment of it.

    Attributes:
        settings: where the tables, queue and buckets are, the browser origins every answer allows
            (``cors_origins``, the first is the default) and whether `callbackUrl` may be plain http
            to loopback (``allow_loopback_callbacks``: the local stack only).
        service_factory: builds the service from `settings` (default :class:`StickerService`; tests
            pass one on in-memory fakes).

    The service and the idempotency responder are built on first use: building an app costs no AWS
    client, so a cold start pays only for imports, and the OpenAPI document needs no AWS at all.
    """

    settings: Settings
    service_factory: Callable[[Settings], StickerService] = field(default=StickerService, repr=False)

    @property
    def cors_origins(self) -> tuple[str, ...]:
        return self.settings.cors_origins

    @property
    def allow_loopback_callbacks(self) -> bool:
        return self.settings.allow_loopback_callbacks

    @cached_property
    def service(self) -> StickerService:
        """The job service (built on first use)."""
        return self.service_factory(self.settings)

    @cached_property
    def idempotency(self) -> IdempotentResponder:
        """The Idempotency-Key responder on the settings' idempotency table."""
        return IdempotentResponder(self.settings.idempotency_table)


def app_context(request: Request) -> AppContext:
    """The app's context of a request (a route's ``Depends``)."""
    return request.context[CONTEXT_KEY]


def lambda_context_of(request: Request) -> LambdaContext:
    """The Lambda context of the invocation serving a request."""
    return request.context[LAMBDA_CONTEXT_KEY]


def resolver_of(request: Request) -> APIGatewayRestResolver:
    """The resolver serving a request (its routes make the OpenAPI document)."""
    return request.context[RESOLVER_KEY]


def respond_once(request: Request, route: str, create: Callable[[], Answer], *, body_hash: str | None = None, ttl_s: int = IDEMPOTENCY_TTL_S) -> Response:
    """Answer a POST at most once per Idempotency-Key (:meth:`IdempotentResponder.respond`): the request's
    ``Idempotency-Key`` header, the scope ``<caller's key id>#<route>``, and `body_hash` (default: the
    :func:`fingerprint` of the JSON body as sent, fields outside the route's model included).

    Args:
        request: the request being served.
        route: ``"<METHOD> <path>"``, e.g. ``"POST /v1/stickers/text"``.
        create: makes the first answer (raising refuses the request and stores nothing).
        body_hash: the fingerprint of a body that is not JSON (a multipart form).
        ttl_s: how long the first answer is replayed, seconds.

    Raises:
        ValidationFailed, ServiceUnavailable: as :meth:`IdempotentResponder.respond`.
    """
    event = event_of(request)
    return app_context(request).idempotency.respond(
        header(event, IDEMPOTENCY_HEADER),
        scope=f"{caller(request)}#{route}",
        body_hash=fingerprint(json_body(event)) if body_hash is None else body_hash,
        create=create,
        lambda_context=lambda_context_of(request),
        ttl_s=ttl_s,
    )
