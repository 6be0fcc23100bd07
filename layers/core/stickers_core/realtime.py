"""Live progress over WebSocket: the protocol, the connections table and the fan-out.

One code path on AWS and on the embedded local stack (docs/api.md, "Live progress over WebSocket";
docs/design.md, "Live progress"):

- a client opens a WebSocket with its API key (``?key=``), which API Gateway checks at ``$connect``
  (locally: the API front); the connection Lambda (``functions/ws_connections``) records the connection
  under the key's id (:meth:`ConnectionStore.connect`, at most ``max_connections_per_key`` per key);
- ``{"action": "subscribe", "jobId": …}`` records a subscription, then sends the job's current status
  document, or ``{"type": "error", "code": "JOB_NOT_FOUND", …}`` when the job is not the key's;
- every write to the jobs table reaches the notifier Lambda (``functions/ws_notifier``) through the
  table's DynamoDB stream (locally: a poller plays the event source mapping); :class:`Notifier` builds
  the status document with the same builder as ``GET /v1/jobs/{jobId}`` (:meth:`Job.status_document`)
  and :meth:`Publisher.publish` posts it to the subscribed connections of the job's owner through
  API Gateway's management API (``PostToConnection``; locally the API front plays it), dropping
  connections that are gone.

**Ordering.** Each subscription keeps the revision (:func:`revision`) of the last document sent on it,
and a document is sent only after a conditional write raised that revision: a stream record that
arrives late (or twice), or that races the current state sent at subscribe, is never sent after a
newer state nor twice. The same write takes a short sending lease (``sendingUntil``) that the post
releases, so two senders of one subscription (the subscribe route's current state and the notifier's
next change) post in the order they raised the revision, never overtaking each other on the socket.
So a subscriber sees each state once, status and progress only move forward, and the last message is
the final state.

**The connections table** (pk ``pk``, sk ``sk``, TTL ``expiresAt``; the layout is this module's):

- a connection: ``CONN#<connectionId>`` / ``CONN``: ``ownerId`` (the API key id), ``connectedAt``,
  ``jobs`` (string set of the jobs it follows), ``expiresAt``;
- a subscription: ``JOB#<jobId>`` / ``CONN#<connectionId>``: ``ownerId``, ``connectionId``, ``rev`` (the
  revision last sent on it), ``expiresAt`` (the connection's);
- a key's open connections: ``KEY#<ownerId>`` / ``KEY``: ``conns`` (string set of connection ids).

The notifier finds a job's subscribers with one Query (``pk = JOB#<jobId>``). The per-key bound is one
conditional ``ADD`` to the key's set (``size(conns) < :max``): atomic, so concurrent connects cannot
overshoot. A connection whose ``$disconnect`` never arrived (API Gateway documents it as best effort)
keeps its slot until its record expires (:data:`stickers_core.limits.WS_CONNECTION_TTL_S`, just past
API Gateway's 2-hour connection limit) or a post finds it gone; a connect that finds the set full
first prunes the ids whose connection record is missing or expired.

Why one module of this size: the protocol, the connections table and the fan-out share one ordering rule (revisions) that must be read in one place.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from stickers_core import aws, limits
from stickers_core.models import Job, JobStatus, is_job_id
from stickers_core.store import COUNTERS_PREFIX

log = logging.getLogger(__name__)

# --- the protocol -------------------------------------------------------------------------------------
#: Client → server actions (the WebSocket API's route keys; route selection ``$request.body.action``).
ACTION_SUBSCRIBE: Final = "subscribe"
ACTION_UNSUBSCRIBE: Final = "unsubscribe"
ROUTES: Final = (ACTION_SUBSCRIBE, ACTION_UNSUBSCRIBE)
#: Server → client message types.
TYPE_JOB: Final = "job"
TYPE_ERROR: Final = "error"
#: Codes of ``{"type": "error"}`` messages.
JOB_NOT_FOUND: Final = "JOB_NOT_FOUND"
INVALID_MESSAGE: Final = "INVALID_MESSAGE"
TOO_MANY_SUBSCRIPTIONS: Final = "TOO_MANY_SUBSCRIPTIONS"
ERROR_MESSAGES: Final = {
    JOB_NOT_FOUND: "Job not found",
    INVALID_MESSAGE: 'Send {"action": "subscribe" | "unsubscribe", "jobId": "<job id>"}',
    TOO_MANY_SUBSCRIPTIONS: f"A connection follows at most {limits.WS_MAX_SUBSCRIPTIONS} jobs; unsubscribe from one first",
}

# --- the table ------------------------------------------------------------------------------------------
PK: Final = "pk"
SK: Final = "sk"
TTL_ATTRIBUTE: Final = "expiresAt"
CONNECTION_PREFIX: Final = "CONN#"
JOB_PREFIX: Final = "JOB#"
KEY_PREFIX: Final = "KEY#"
_CONNECTION_SK: Final = "CONN"
_KEY_SK: Final = "KEY"


def job_message(document: Mapping[str, Any]) -> dict[str, Any]:
    """``{"type": "job", "data": <status document>}``."""
    return {"type": TYPE_JOB, "data": dict(document)}


def error_message(code: str, job_id: str | None = None) -> dict[str, Any]:
    """``{"type": "error", "code": …, "message": …[, "jobId": …]}``."""
    message: dict[str, Any] = {"type": TYPE_ERROR, "code": code, "message": ERROR_MESSAGES.get(code, code)}
    if job_id is not None:
        message["jobId"] = job_id
    return message


def encode(message: Mapping[str, Any]) -> bytes:
    """A message as sent: compact UTF-8 JSON (one WebSocket text frame)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class InvalidMessage(ValueError):
    """A client message that is not ``{"action": "subscribe" | "unsubscribe", "jobId": "<string>"}``."""


@dataclass(frozen=True)
class ClientMessage:
    """A parsed client message."""

    action: str
    job_id: str


def parse_client_message(body: str | bytes | None) -> ClientMessage:
    """Parse a client message.

    >>> parse_client_message('{"action": "subscribe", "jobId": "abc"}')
    ClientMessage(action='subscribe', job_id='abc')

    Raises:
        InvalidMessage: not a JSON object with a known ``action`` and a string ``jobId`` (≤ 64 characters).
    """
    try:
        document = json.loads(body or "")
    except (ValueError, TypeError):
        raise InvalidMessage("not JSON") from None
    if not isinstance(document, dict):
        raise InvalidMessage("not a JSON object")
    action, job_id = document.get("action"), document.get("jobId")
    if action not in ROUTES or not isinstance(job_id, str) or not 0 < len(job_id) <= 64:
        raise InvalidMessage("unknown action or missing jobId")
    return ClientMessage(action, job_id)


def revision(document: Mapping[str, Any]) -> int:
    """A number that grows with every change of a job's status or progress (its order key).

    A job's life (stickers_core.store) is: ``queued`` with 0 attempts; then per attempt *a*: ``active``
    (progress grows), then ``completed`` / ``failed`` (final), or back to ``queued`` (*a* kept) for a
    retry, claimed again as attempt *a+1*. Ordered by (attempts, phase, progress) with the phases
    queued-before-the-first-attempt < active < queued-for-a-retry < final, every transition the store
    can make raises the revision, so "newer" needs no version attribute on the job.

    >>> revision({"attempts": 0, "status": "queued", "progress": 0}) < revision({"attempts": 1, "status": "active", "progress": 0})
    True
    >>> revision({"attempts": 1, "status": "active", "progress": 90}) < revision({"attempts": 1, "status": "queued", "progress": 0})
    True
    """
    attempts, status, progress = int(document["attempts"]), str(document["status"]), int(document["progress"])
    if status == JobStatus.ACTIVE.value:
        phase = 1
    elif status == JobStatus.QUEUED.value:
        phase = 2 if attempts > 0 else 0
    else:  # completed, failed
        phase = 3
    return (attempts * 4 + phase) * 101 + max(0, min(100, progress))


# --- the connections table --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Connection:
    """A connection record."""

    connection_id: str
    owner_id: str
    connected_at: int
    expires_at: int
    jobs: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Subscription:
    """A subscription record: `connection_id` follows `job_id`; `rev` is the last revision sent on it."""

    job_id: str
    connection_id: str
    owner_id: str
    rev: int | None


def _connection_key(connection_id: str) -> dict[str, str]:
    return {PK: f"{CONNECTION_PREFIX}{connection_id}", SK: _CONNECTION_SK}


#: How long one sender holds a subscription while it posts, seconds (a crashed sender's lease runs out) …
SEND_LEASE_S: Final = 5.0
#: … and how long another sender of the same subscription waits for it, seconds.
SEND_WAIT_S: Final = 2.0


class SubscriptionBusy(RuntimeError):
    """Another sender held the subscription's sending lease too long; retry the message later."""


def _subscription_key(job_id: str, connection_id: str) -> dict[str, str]:
    return {PK: f"{JOB_PREFIX}{job_id}", SK: f"{CONNECTION_PREFIX}{connection_id}"}


def _owner_key(owner_id: str) -> dict[str, str]:
    return {PK: f"{KEY_PREFIX}{owner_id}", SK: _KEY_SK}


def _failed_condition(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class ConnectionStore:
    """Connections, subscriptions and per-key connection sets in the connections table.

    Args:
        table_name: the connections table.
        max_connections_per_key: open connections per API key at most.
        max_subscriptions: jobs one connection may follow at once.
        ttl_s: seconds a connection record (and its subscriptions) lives.
        dynamodb: a boto3 DynamoDB resource (default :func:`stickers_core.aws.resource`).
        clock: seconds since the epoch (tests).
    """

    def __init__(
        self,
        table_name: str,
        *,
        max_connections_per_key: int = limits.WS_MAX_CONNECTIONS_PER_KEY,
        max_subscriptions: int = limits.WS_MAX_SUBSCRIPTIONS,
        ttl_s: int = limits.WS_CONNECTION_TTL_S,
        dynamodb: Any | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dynamodb = dynamodb or aws.resource("dynamodb")
        self.table = self._dynamodb.Table(table_name)
        self.max_connections_per_key = max_connections_per_key
        self.max_subscriptions = max_subscriptions
        self.ttl_s = ttl_s
        self.clock = clock

    # --- connections ----------------------------------------------------------------------------------
    def connect(self, connection_id: str, owner_id: str) -> bool:
        """Record a new connection of `owner_id` and take one of the key's connection slots.

        Returns:
            False when the key already has ``max_connections_per_key`` live connections (nothing is
            recorded then: the caller refuses the handshake).
        """
        now = int(self.clock())
        self.table.put_item(
            Item={**_connection_key(connection_id), "connectionId": connection_id, "ownerId": owner_id,
                  "connectedAt": now, TTL_ATTRIBUTE: now + self.ttl_s},
        )  # fmt: skip
        # The record first, then the slot: a concurrent prune only removes ids whose record is missing.
        if self._take_slot(connection_id, owner_id) or (self._prune(owner_id) and self._take_slot(connection_id, owner_id)):
            return True
        self.table.delete_item(Key=_connection_key(connection_id))
        return False

    def _take_slot(self, connection_id: str, owner_id: str) -> bool:
        try:
            self.table.update_item(
                Key=_owner_key(owner_id),
                UpdateExpression="ADD conns :c",
                ConditionExpression="attribute_not_exists(conns) OR size(conns) < :max",
                ExpressionAttributeValues={":c": {connection_id}, ":max": self.max_connections_per_key},
            )
            return True
        except ClientError as exc:
            if _failed_condition(exc):
                return False
            raise

    def _prune(self, owner_id: str) -> bool:
        """Free the slots of the key's connections whose record is gone or expired; True if any was."""
        ids = self.connections_of(owner_id)
        live = {c.connection_id for c in self._get_connections(ids) if c.expires_at > self.clock()}
        stale = ids - live
        if stale:
            self.table.update_item(Key=_owner_key(owner_id), UpdateExpression="DELETE conns :c", ExpressionAttributeValues={":c": stale})
            log.info("freed stale connection slots", extra={"ownerId": owner_id, "count": len(stale)})
        return bool(stale)

    def _get_connections(self, ids: Iterable[str]) -> list[Connection]:
        found: list[Connection] = []
        keys = [_connection_key(i) for i in ids]
        for start in range(0, len(keys), 100):
            request = {self.table.name: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            while request:
                answer = self._dynamodb.batch_get_item(RequestItems=request)
                found.extend(_connection(item) for item in answer.get("Responses", {}).get(self.table.name, []))
                request = answer.get("UnprocessedKeys") or {}
        return found

    def connection(self, connection_id: str) -> Connection | None:
        """The live connection record (None: unknown, or expired)."""
        item = self.table.get_item(Key=_connection_key(connection_id), ConsistentRead=True).get("Item")
        if item is None:
            return None
        connection = _connection(item)
        return connection if connection.expires_at > self.clock() else None

    def connections_of(self, owner_id: str) -> set[str]:
        """The ids in `owner_id`'s connection set."""
        item = self.table.get_item(Key=_owner_key(owner_id), ConsistentRead=True).get("Item") or {}
        return set(item.get("conns") or ())

    def disconnect(self, connection_id: str) -> Connection | None:
        """Forget a connection: its subscriptions, its slot and its record (idempotent).

        Returns:
            The record as it was (None when already gone).
        """
        item = self.table.get_item(Key=_connection_key(connection_id), ConsistentRead=True).get("Item")
        if item is None:
            return None
        connection = _connection(item)
        for job_id in connection.jobs:
            self.table.delete_item(Key=_subscription_key(job_id, connection_id))
        self.table.update_item(
            Key=_owner_key(connection.owner_id), UpdateExpression="DELETE conns :c", ExpressionAttributeValues={":c": {connection_id}}
        )
        self.table.delete_item(Key=_connection_key(connection_id))
        return connection

    # --- subscriptions --------------------------------------------------------------------------------
    def subscribe(self, connection_id: str, owner_id: str, job_id: str) -> bool:
        """Record that the connection follows `job_id` from now on (subscribing again starts over: the
        revision last sent is forgotten, so the current state is sent again).

        Returns:
            False when the connection already follows ``max_subscriptions`` other jobs.

        Raises:
            LookupError: the connection is unknown (gone), or is not `owner_id`'s.
        """
        try:
            answer = self.table.update_item(
                Key=_connection_key(connection_id),
                UpdateExpression="ADD jobs :j",
                ConditionExpression="attribute_exists(pk) AND ownerId = :o AND "
                "(attribute_not_exists(jobs) OR size(jobs) < :max OR contains(jobs, :id))",
                ExpressionAttributeValues={":j": {job_id}, ":o": owner_id, ":max": self.max_subscriptions, ":id": job_id},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if not _failed_condition(exc):
                raise
            current = self.connection(connection_id)
            if current is None or current.owner_id != owner_id:
                raise LookupError(connection_id) from None
            return False
        expires_at = int(answer["Attributes"].get(TTL_ATTRIBUTE, int(self.clock()) + self.ttl_s))
        self.table.update_item(
            Key=_subscription_key(job_id, connection_id),
            UpdateExpression="SET ownerId = :o, connectionId = :c, #t = :t REMOVE rev",
            ExpressionAttributeNames={"#t": TTL_ATTRIBUTE},
            ExpressionAttributeValues={":o": owner_id, ":c": connection_id, ":t": expires_at},
        )
        return True

    def unsubscribe(self, connection_id: str, job_id: str) -> None:
        """Stop following `job_id` (idempotent)."""
        self.table.delete_item(Key=_subscription_key(job_id, connection_id))
        try:
            self.table.update_item(
                Key=_connection_key(connection_id),
                UpdateExpression="DELETE jobs :j",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":j": {job_id}},
            )
        except ClientError as exc:
            if not _failed_condition(exc):
                raise

    def subscribers(self, job_id: str) -> list[Subscription]:
        """The subscriptions to `job_id` (one strongly consistent Query)."""
        subscriptions: list[Subscription] = []
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key(PK).eq(f"{JOB_PREFIX}{job_id}"), "ConsistentRead": True}
        while True:
            page = self.table.query(**kwargs)
            for item in page.get("Items", []):
                rev = item.get("rev")
                subscriptions.append(Subscription(job_id, str(item["connectionId"]), str(item["ownerId"]), int(rev) if rev is not None else None))
            if "LastEvaluatedKey" not in page:
                return subscriptions
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def advance(
        self, job_id: str, connection_id: str, rev: int, *, lease_s: float = SEND_LEASE_S, wait_s: float = SEND_WAIT_S
    ) -> tuple[bool, int | None]:
        """Raise the subscription's revision to `rev` and take its sending lease (released by
        :meth:`release` once the message is posted; a crashed sender's lease runs out after `lease_s`).

        While another sender holds the lease, waits (polling, up to `wait_s` seconds) so that messages
        leave in the order their revisions were raised.

        Returns:
            ``(advanced, previous revision)``; not advanced when the subscription is gone or already
            at `rev` or a newer revision (each revision is sent once per subscription).

        Raises:
            SubscriptionBusy: the lease stayed held for `wait_s` seconds (the caller retries later).
        """
        key = _subscription_key(job_id, connection_id)
        deadline = time.monotonic() + wait_s
        while True:
            now_ms = int(time.time() * 1000)
            try:
                answer = self.table.update_item(
                    Key=key,
                    UpdateExpression="SET rev = :r, sendingUntil = :until",
                    ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(rev) OR rev < :r)"
                    " AND (attribute_not_exists(sendingUntil) OR sendingUntil < :now)",
                    ExpressionAttributeValues={":r": rev, ":until": now_ms + int(lease_s * 1000), ":now": now_ms},
                    ReturnValues="UPDATED_OLD",
                )
            except ClientError as exc:
                if not _failed_condition(exc):
                    raise
            else:
                previous = answer.get("Attributes", {}).get("rev")
                return True, int(previous) if previous is not None else None
            item = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
            if item is None or ("rev" in item and int(item["rev"]) >= rev):
                return False, None
            if time.monotonic() >= deadline:
                raise SubscriptionBusy(f"subscription {connection_id} of job {job_id} stayed busy for {wait_s} s")
            time.sleep(0.01)

    def release(self, job_id: str, connection_id: str) -> None:
        """Give back the sending lease :meth:`advance` took (no error when the subscription is gone)."""
        try:
            self.table.update_item(
                Key=_subscription_key(job_id, connection_id),
                UpdateExpression="REMOVE sendingUntil",
                ConditionExpression="attribute_exists(pk)",
            )
        except ClientError as exc:
            if not _failed_condition(exc):
                raise

    def rewind(self, job_id: str, connection_id: str, rev: int, previous: int | None) -> None:
        """Undo :meth:`advance` after a send failed (only while the revision is still `rev`), releasing
        the sending lease."""
        update, values = (
            ("REMOVE rev, sendingUntil", {":r": rev}) if previous is None else ("SET rev = :p REMOVE sendingUntil", {":r": rev, ":p": previous})
        )
        try:
            self.table.update_item(
                Key=_subscription_key(job_id, connection_id), UpdateExpression=update,
                ConditionExpression="rev = :r", ExpressionAttributeValues=values,
            )  # fmt: skip
        except ClientError as exc:
            if not _failed_condition(exc):
                raise


def _connection(item: Mapping[str, Any]) -> Connection:
    return Connection(
        connection_id=str(item["connectionId"]),
        owner_id=str(item["ownerId"]),
        connected_at=int(item.get("connectedAt", 0)),
        expires_at=int(item.get(TTL_ATTRIBUTE, 0)),
        jobs=frozenset(item.get("jobs") or ()),
    )


# --- posting to connections -----------------------------------------------------------------------------------
class ConnectionGone(Exception):
    """The connection is closed (API Gateway's ``GoneException``, HTTP 410)."""


class Poster(Protocol):
    """Sends one message to one connection."""

    def post(self, connection_id: str, data: bytes) -> None:
        """Send `data` as one text frame.

        Raises:
            ConnectionGone: the connection is closed.
            Exception: anything else is transient (the caller retries).
        """


class ManagementApiPoster:
    """:class:`Poster` over API Gateway's management API (boto3 ``apigatewaymanagementapi``).

    Args:
        endpoint_url: the stage's management endpoint: ``https://{api}.execute-api.{region}.amazonaws.com/{stage}``
            on AWS (the stage's callback URL), the API front's URL on the local stack. Given explicitly,
            it wins over ``AWS_ENDPOINT_URL`` (which points at the emulated AWS locally).
        client: a ready client (tests).
    """

    def __init__(self, endpoint_url: str, client: Any | None = None) -> None:
        if client is None and not endpoint_url:
            raise ValueError("the WebSocket management endpoint is not configured (STICKERS_WS_MANAGEMENT_URL)")
        self.client = client or aws.client("apigatewaymanagementapi", endpoint_url=endpoint_url)

    def post(self, connection_id: str, data: bytes) -> None:
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=data)
        except self.client.exceptions.GoneException:
            raise ConnectionGone(connection_id) from None


@dataclass
class PublishResult:
    """What one publication did: messages sent, stale ones skipped, connections found gone."""

    sent: int = 0
    skipped: int = 0
    gone: int = 0


class Publisher:
    """Posts status documents to the connections that follow a job, in revision order.

    Args:
        store: the connections table.
        poster: how a message reaches a connection.
    """

    def __init__(self, store: ConnectionStore, poster: Poster) -> None:
        self.store, self.poster = store, poster

    def publish(self, owner_id: str, document: Mapping[str, Any], subscriptions: Iterable[Subscription] | None = None) -> PublishResult:
        """Post ``{"type": "job", "data": document}`` to every subscription of the document's job held
        by a connection of `owner_id` (a subscription of any other key is never sent to), unless it
        already had this revision or a newer one.

        Args:
            subscriptions: the job's subscriptions when already read (default: read now). A list read
                earlier is safe: a subscription removed since fails its revision check, and one added
                since got the current state at subscribe.

        Raises:
            Exception: a post failed for another reason than a closed connection, after the
                subscriptions already sent to were kept and the failed one rewound (so that a retry of
                the same document sends it to the ones that missed it, and only to them).
        """
        result = PublishResult()
        job_id = str(document["jobId"])
        data, rev = encode(job_message(document)), revision(document)
        for subscription in self.store.subscribers(job_id) if subscriptions is None else subscriptions:
            if subscription.owner_id != owner_id:
                continue
            outcome = self.deliver(subscription.job_id, subscription.connection_id, data, rev)
            setattr(result, outcome, getattr(result, outcome) + 1)
        return result

    def deliver(self, job_id: str, connection_id: str, data: bytes, rev: int) -> str:
        """Send one job message on one subscription if it moves the subscription's revision forward
        (the current state at subscribe, and every change after it, each once). Returns ``"sent"``,
        ``"skipped"`` or ``"gone"``.

        Raises:
            Exception: a transient send failure (the revision is rewound first).
        """
        advanced, previous = self.store.advance(job_id, connection_id, rev)
        if not advanced:
            return "skipped"
        try:
            self.poster.post(connection_id, data)
        except ConnectionGone:
            self.drop(connection_id)
            return "gone"
        except Exception:
            self.store.rewind(job_id, connection_id, rev, previous)
            raise
        self.store.release(job_id, connection_id)
        return "sent"

    def send(self, connection_id: str, message: Mapping[str, Any]) -> bool:
        """Send a message outside the revision order (errors); False when the connection is gone."""
        try:
            self.poster.post(connection_id, encode(message))
            return True
        except ConnectionGone:
            self.drop(connection_id)
            return False

    def drop(self, connection_id: str) -> None:
        """Forget a connection that a post found gone (its ``$disconnect`` may never come)."""
        log.info("connection gone", extra={"connectionId": connection_id})
        self.store.disconnect(connection_id)


# --- the jobs table's stream --------------------------------------------------------------------------------
_DESERIALIZER = TypeDeserializer()


def image_item(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stream record's ``NewImage`` / ``OldImage`` (DynamoDB JSON) as the item boto3's resource layer
    reads (numbers as `Decimal`), which :meth:`Job.from_item` parses as the job store does."""
    if not image:
        return None
    return {name: _DESERIALIZER.deserialize(value) for name, value in image.items()}


def changed_job(record: Mapping[str, Any]) -> Job | None:
    """The job a stream record shows changing its status or progress, or None (a removal, an owner's
    counters item, a write that changed neither)."""
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return None
    change = record.get("dynamodb") or {}
    new = image_item(change.get("NewImage"))
    if not new or "ownerId" not in new or str(new.get("jobId", "")).startswith(COUNTERS_PREFIX) or not is_job_id(str(new.get("jobId"))):
        return None
    old = image_item(change.get("OldImage"))
    if old is not None and (old.get("status"), old.get("progress"), old.get("attempts")) == (new.get("status"), new.get("progress"), new.get("attempts")):
        return None
    return Job.from_item(new)


class Notifier:
    """Turns the jobs table's stream records into status documents for the job owner's subscribers.

    Args:
        publisher: the fan-out.
        cdn_base_url: the stickers' base URL in the documents (as ``GET /v1/jobs/{jobId}`` builds them).
    """

    def __init__(self, publisher: Publisher, cdn_base_url: str) -> None:
        self.publisher, self.cdn_base_url = publisher, cdn_base_url

    def handle(self, record: Mapping[str, Any], subscriptions: dict[str, list[Subscription]] | None = None) -> PublishResult | None:
        """Publish one stream record's change (None: nothing to publish).

        Args:
            subscriptions: a cache of each job's subscriptions for the records of one batch (one Query
                per job and batch instead of one per record; see :meth:`Publisher.publish`).

        Raises:
            Exception: a transient failure; the record is to be retried (its sends are idempotent).
        """
        job = changed_job(record)
        if job is None:
            return None
        known = None
        if subscriptions is not None:
            if job.job_id not in subscriptions:
                subscriptions[job.job_id] = self.publisher.store.subscribers(job.job_id)
            known = subscriptions[job.job_id]
        return self.publisher.publish(job.owner_id, job.status_document(self.cdn_base_url), known)
