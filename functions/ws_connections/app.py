"""WebSocket connection Lambda: the routes of the live-progress WebSocket API (docs/api.md, "Live
progress over WebSocket").

API Gateway's WebSocket API (route selection ``$request.body.action``) hands this function:

- ``$connect``: already authorised (on AWS the ``?key=`` API key was checked by the authorizer,
  ``functions/ws_authorizer``, against this stack's usage plan and then by API Gateway's own API-key
  check; locally by the API front). Records the connection under the key's id
  (``requestContext.authorizer.apiKeyId``, or ``requestContext.identity.apiKeyId``); a key that already has
  its maximum of open connections gets 429, which refuses the handshake.
- ``$disconnect``: forgets the connection (best effort on AWS; the records also expire).
- ``subscribe`` / ``unsubscribe`` with ``{"jobId": …}``, and ``$default`` for anything else.

Every answer to the client is posted through the management API (``PostToConnection``), the way the
notifier (``functions/ws_notifier``) posts job changes: the current status document at subscribe, or
``{"type": "error", "code": "JOB_NOT_FOUND" | "INVALID_MESSAGE" | "TOO_MANY_SUBSCRIPTIONS"}``. The
subscription is written before the job is read, so no change can fall between the snapshot and the
stream; the revision kept per subscription (:mod:`stickers_core.realtime`) orders the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from stickers_core import limits, realtime
from stickers_core.errors import JobNotFound
from stickers_core.models import is_job_id
from stickers_core.settings import Settings
from stickers_core.store import JobStore

logger = Logger(service=limits.SERVICE_NAME)
copy_config_to_registered_loggers(source_logger=logger, include={"stickers_core"})

OK = {"statusCode": 200}


def owner_of(event: APIGatewayWebSocketEvent) -> str | None:
    """The API key id a ``$connect`` was authorised for: the authorizer's ``apiKeyId`` (its context)
    and API Gateway's ``identity.apiKeyId``; None when neither is there, or when they disagree."""
    context = event.request_context.raw_event
    from_authorizer = (context.get("authorizer") or {}).get("apiKeyId")
    from_identity = (context.get("identity") or {}).get("apiKeyId")
    if from_authorizer and from_identity and from_authorizer != from_identity:
        logger.warning("authorizer and API Gateway disagree on the API key id")
        return None
    return from_authorizer or from_identity or None


class ConnectionsApp:
    """The function bound to one :class:`Settings` (its tables, management endpoint and bounds).

    Args:
        settings: the service settings.
        store, jobs, poster: adapters (built from `settings` on first use when omitted).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: realtime.ConnectionStore | None = None,
        jobs: JobStore | None = None,
        poster: realtime.Poster | None = None,
    ) -> None:
        self.settings = settings
        self._store, self._jobs, self._poster = store, jobs, poster

    @property
    def store(self) -> realtime.ConnectionStore:
        if self._store is None:
            self._store = realtime.ConnectionStore(
                self.settings.connections_table,
                max_connections_per_key=self.settings.ws_max_connections_per_key,
                max_subscriptions=self.settings.ws_max_subscriptions,
            )
        return self._store

    @property
    def jobs(self) -> JobStore:
        if self._jobs is None:
            self._jobs = JobStore(self.settings.table_name)
        return self._jobs

    @property
    def publisher(self) -> realtime.Publisher:
        if self._poster is None:
            self._poster = realtime.ManagementApiPoster(self.settings.ws_management_url)
        return realtime.Publisher(self.store, self._poster)

    def handle(self, raw_event: dict[str, Any]) -> dict[str, Any]:
        """One route event → the integration's answer (for ``$connect``: 200 accepts the handshake)."""
        event = APIGatewayWebSocketEvent(raw_event)
        route, connection_id = event.request_context.route_key, event.request_context.connection_id
        logger.append_keys(connectionId=connection_id, routeKey=route)
        if route == "$connect":
            owner = owner_of(event)
            if not owner:
                return {"statusCode": 403}
            if not self.store.connect(connection_id, owner):
                logger.info("connection refused: the key has its maximum of connections", extra={"ownerId": owner})
                return {"statusCode": 429}
            return OK
        if route == "$disconnect":
            self.store.disconnect(connection_id)
            return OK
        connection = self.store.connection(connection_id)
        if connection is None:  # disconnected meanwhile, or its record expired
            return {"statusCode": 410}
        try:
            message = realtime.parse_client_message(event.decoded_body)
        except realtime.InvalidMessage:
            self.publisher.send(connection_id, realtime.error_message(realtime.INVALID_MESSAGE))
            return OK
        if message.action == realtime.ACTION_UNSUBSCRIBE:
            self.store.unsubscribe(connection_id, message.job_id)
            return OK
        self._subscribe(connection, message.job_id)
        return OK

    def _subscribe(self, connection: realtime.Connection, job_id: str) -> None:
        publisher = self.publisher
        if not is_job_id(job_id):
            publisher.send(connection.connection_id, realtime.error_message(realtime.JOB_NOT_FOUND, job_id))
            return
        try:
            if not self.store.subscribe(connection.connection_id, connection.owner_id, job_id):
                publisher.send(connection.connection_id, realtime.error_message(realtime.TOO_MANY_SUBSCRIPTIONS, job_id))
                return
        except LookupError:
            return
        try:
            job = self.jobs.get(job_id, connection.owner_id)  # another key's job is "not found", as over HTTP
        except JobNotFound:
            self.store.unsubscribe(connection.connection_id, job_id)
            publisher.send(connection.connection_id, realtime.error_message(realtime.JOB_NOT_FOUND, job_id))
            return
        document = job.status_document(self.settings.cdn_base_url)
        try:
            publisher.deliver(job_id, connection.connection_id, realtime.encode(realtime.job_message(document)), realtime.revision(document))
        except Exception:  # noqa: BLE001 - the next change of the job reaches the subscriber anyway
            logger.exception("the current state could not be sent", extra={"jobId": job_id})


Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def create_handler(settings: Settings | None = None, **adapters: Any) -> Handler:
    """A Lambda handler bound to `settings` (default: the environment's) and optional adapters (the
    local stack binds its own settings: its tables and the API front as management endpoint)."""
    bound = ConnectionsApp(settings or Settings.from_env(), **adapters)

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001 - Lambda's handler signature
        return bound.handle(event)

    return handler


_handler: Handler | None = None


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (the WebSocket API's ``$connect``, ``$disconnect``, ``subscribe``,
    ``unsubscribe`` and ``$default`` routes), bound to the environment's settings on first use."""
    global _handler
    if _handler is None:
        _handler = create_handler()
    return _handler(event, context)
