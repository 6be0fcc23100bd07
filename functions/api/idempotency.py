"""The ``Idempotency-Key`` header of the POST routes: a key's first answer is kept and replayed.

Powertools idempotency on the DynamoDB idempotency table. The record key is the hash of ``scope`` (API
key id + route + Idempotency-Key, so one key's Idempotency-Key never collides with another key's);
``bodyHash`` is the payload validated on a repeat (another body → 409 `IDEMPOTENCY_CONFLICT`).
"""

import hashlib
import json
import os
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from functions.api.observability import logger
from functions.api.web import json_response
from stickers_core import limits
from stickers_core.errors import ValidationFailed
from stickers_core.service import ServiceUnavailable

IDEMPOTENCY_HEADER = "Idempotency-Key"
#: How long a key's first response is kept and replayed, seconds (docs/api.md: 24 h).
IDEMPOTENCY_TTL_S = 24 * 3600
IDEMPOTENCY_KEY_MAX_CHARS = 255
#: How long a POST /v1/uploads answer is replayed, seconds: less than the presigned form lives, so a
#: replay never hands out a form past its expiry (a repeat after it gets a fresh slot).
UPLOAD_REPLAY_TTL_S = limits.UPLOAD_URL_EXPIRES_S - 60

#: What a route's `create` returns: the HTTP status and the JSON body of the first answer.
Answer = tuple[int, dict[str, Any]]


def record_key_prefix(environ: Any = os.environ) -> str:
    """The prefix of the records' keys (``<prefix>#<hash of scope>``).

    Pinned to what Powertools derived before the API function was split into modules
    (``<function name>.<module>.<function>`` of the wrapped function, the module being ``app`` on
    Lambda), so records written by the previous version keep answering repeats across a deploy, and
    moving :func:`first_response` between modules never changes a key.
    """
    return f"{environ.get('AWS_LAMBDA_FUNCTION_NAME', 'test-func')}.app._first_response"


def first_response(request: dict[str, Any], create: Callable[[], dict[str, Any]]) -> dict[str, Any]:  # noqa: ARG001 - Powertools hashes `request`
    """Runs `create` once per idempotency record; `request` is what Powertools hashes."""
    return create()


def fingerprint(value: Any) -> str:
    """SHA-256 of a canonical JSON form of a request body (key order and spacing do not matter)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")).hexdigest()


def _dynamodb_layer(table_name: str) -> BasePersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=table_name)


class _FirstRun:
    """A route's `create` as the stored first answer, remembering whether it ran in this invocation."""

    def __init__(self, create: Callable[[], Answer]) -> None:
        self.create, self.ran = create, False

    def __call__(self) -> dict[str, Any]:
        self.ran = True
        status, body = self.create()
        return {"status": status, "body": body, "issuedAt": int(time.time())}


class IdempotentResponder:
    """Answers POSTs at most once per Idempotency-Key, on one idempotency table.

    Args:
        table_name: the DynamoDB table of the records (pk ``id``, TTL ``expiration``).
        persistence: builds the persistence layer of one record lifetime (default: Powertools'
            DynamoDB layer on `table_name`); built on first use, one per lifetime (a layer keeps the
            configuration it was first used with).
    """

    def __init__(self, table_name: str, persistence: Callable[[str], BasePersistenceLayer] | None = None) -> None:
        self.table_name = table_name
        self._persistence = persistence or _dynamodb_layer
        self._runners: dict[int, tuple[Callable[..., dict[str, Any]], IdempotencyConfig]] = {}

    def _runner(self, ttl_s: int) -> tuple[Callable[..., dict[str, Any]], IdempotencyConfig]:
        """:func:`first_response` wrapped by Powertools idempotency, with records living `ttl_s` seconds."""
        if ttl_s not in self._runners:
            config = IdempotencyConfig(
                event_key_jmespath="scope",
                payload_validation_jmespath="bodyHash",
                raise_on_no_idempotency_key=True,
                expires_after_seconds=ttl_s,
                hash_function="sha256",
            )
            run = idempotent_function(
                first_response,
                data_keyword_argument="request",
                persistence_store=self._persistence(self.table_name),
                config=config,
                key_prefix=record_key_prefix(),
            )
            self._runners[ttl_s] = (run, config)
        return self._runners[ttl_s]

    def respond(
        self,
        key: str | None,
        *,
        scope: str,
        body_hash: str,
        create: Callable[[], Answer],
        lambda_context: Any,
        ttl_s: int = IDEMPOTENCY_TTL_S,
    ) -> Response:
        """Answer a POST, at most once per Idempotency-Key (when the header is present).

        Args:
            key: the request's Idempotency-Key header (None: no idempotency, `create` runs).
            scope: ``<API key id>#<route>``; the record is of ``<scope>#<key>``.
            body_hash: :func:`fingerprint` of the request body.
            create: makes the first answer (raising refuses the request and stores nothing).
            lambda_context: the invocation's context (an in-progress record expires with it).
            ttl_s: how long the first answer is replayed. An answer with ``expiresIn`` (an upload
                slot) is replayed with the seconds it has left, never once they are spent.

        Raises:
            ValidationFailed: `INVALID_REQUEST` (bad key), 409 `IDEMPOTENCY_CONFLICT` (same key, other
                body), 409 `IDEMPOTENCY_IN_PROGRESS` (the first request is still running).
            ServiceUnavailable: the idempotency table did not answer.
        """
        if key is None:
            status, body = create()
            return json_response(status, body)
        if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX_CHARS or not key.isprintable() or not key.isascii():
            raise ValidationFailed(
                "INVALID_REQUEST", f"{IDEMPOTENCY_HEADER} must be 1–{IDEMPOTENCY_KEY_MAX_CHARS} printable ASCII characters", field=IDEMPOTENCY_HEADER
            )
        run, config = self._runner(ttl_s)
        config.register_lambda_context(lambda_context)  # in-progress records expire with the invocation
        first = _FirstRun(create)
        try:
            stored = run(request={"scope": f"{scope}#{key}", "bodyHash": body_hash}, create=first)
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
        if not first.ran and "expiresIn" in body and "issuedAt" in stored:
            body = {**body, "expiresIn": max(0, int(body["expiresIn"]) - (int(time.time()) - int(stored["issuedAt"])))}
        return json_response(stored["status"], body, headers={"x-idempotent-replayed": "false" if first.ran else "true"})
