"""The embedded AWS: moto in server mode on loopback, and the resources the CDK stack creates.

`EmbeddedAws` runs `moto.server.ThreadedMotoServer` on a loopback port inside this process;
`provision` creates the jobs table (with its stream, which feeds live progress), the idempotency table,
the WebSocket connections table, the jobs queue with its dead-letter queue and the two buckets with the names and limits of :mod:`stickers_core.limits`, so the local stack and
`cdk deploy` cannot drift apart (docs/design.md, "Embedded local stack").

Example::

    with EmbeddedAws() as aws:
        settings = provision(aws, cdn_base_url="http://127.0.0.1:8001")
        env = {**os.environ, **aws_environ(aws.endpoint_url), **settings.to_env()}
        subprocess.run(["stickers", "worker"], env=env)

moto keeps its state in module globals: every `EmbeddedAws` of one process serves the same
accounts, tables, queues and buckets (also the same as `moto.mock_aws` in that process).
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import socket
import threading
from types import TracebackType
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from stickers_core import limits, realtime
from stickers_core.settings import Settings

#: Region of the emulated account.
REGION: Final = "us-east-1"
#: Dummy credentials moto accepts (it checks none).
DUMMY_ACCESS_KEY_ID: Final = "testing"
DUMMY_SECRET_ACCESS_KEY: Final = "testing"
#: Table the API Lambda's Powertools idempotency utility writes (pk ``id``, TTL ``expiration``); named
#: like the CDK stack's (infra/jobs.py).
IDEMPOTENCY_TABLE_NAME: Final = f"{limits.SERVICE_NAME}-idempotency"
#: TTL attribute of the jobs table (epoch seconds).
JOBS_TTL_ATTRIBUTE: Final = "expiresAt"
#: TTL attribute Powertools' DynamoDB persistence layer writes.
IDEMPOTENCY_TTL_ATTRIBUTE: Final = "expiration"
#: The jobs table's stream (infra/jobs.py): old and new images, so the notifier sees what changed.
JOBS_STREAM_SPECIFICATION: Final = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}

_LOOPBACK: Final = "127.0.0.1"
_SECONDS_PER_DAY: Final = 86_400


#: moto's DynamoDB operations that read or write items. DynamoDB applies each atomically (a transaction
#: all-or-nothing); moto's server runs requests in threads and its TransactWriteItems backs a table up
#: by deep copy and restores it when a condition fails, so a write landing in between is lost and two
#: conditional transactions can both pass. One lock around them makes the emulator as atomic as DynamoDB.
_DYNAMODB_ITEM_OPERATIONS = (
    "transact_write_items", "transact_get_items", "update_item", "put_item", "delete_item",
    "get_item", "query", "scan", "batch_write_item", "batch_get_item",
)  # fmt: skip
_DYNAMODB_LOCK = threading.RLock()


def serialize_dynamodb_writes() -> None:
    """Make moto's DynamoDB item operations atomic with respect to each other (idempotent; this process's
    moto only). Found by the duplicate-delivery test: two workers both claimed one job under load.

    TransactWriteItems also gets an item-level rollback (:func:`_transact_write_items`) in place of moto's
    deep copy of every table it touches, which made each transaction cost O(items + stream records):
    a local stack slowed down with every job it had ever seen (0.3 → 0.9 s a submission over 600 jobs).
    """
    from moto.dynamodb.models import DynamoDBBackend

    for name in _DYNAMODB_ITEM_OPERATIONS:
        original = getattr(DynamoDBBackend, name, None)
        if original is None or getattr(original, "_serialized", False):
            continue

        if name == "transact_write_items":

            def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
                with _DYNAMODB_LOCK:
                    return _transact_write_items(self, __original, *args, **kwargs)

        else:

            def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
                with _DYNAMODB_LOCK:
                    return __original(self, *args, **kwargs)

        locked._serialized = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, functools.wraps(original)(locked))


class _TablesNotCopied:
    """Stands for the ``copy`` module inside ``moto.dynamodb.models`` during one transaction: deep-copies
    anything but a whole :class:`moto.dynamodb.models.table.Table` (its backup is then the table itself,
    and moto's rollback, ``tables[name] = backup``, changes nothing; :func:`_transact_write_items` rolls back
    the items instead)."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: dict | None = None) -> Any:
        return value if isinstance(value, self._table_type) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _transact_write_items(backend: Any, original: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
    """moto's TransactWriteItems with an all-or-nothing rollback of the items it names (caller holds the lock).

    Before the call: a deep copy of each named item as it is (or None), and the length of each touched
    table's stream. On any error: those items are put back as they were, straight into the table's item map
    (no stream record for the undo), and the stream records the failed transaction appended are dropped —
    what moto's own whole-table restore achieves, at the cost of the items named (≤ 100) instead of the
    table.
    """
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    saved: list[tuple[Any, DynamoType, DynamoType | None, Any]] = []
    stream_lengths: dict[int, tuple[Any, int]] = {}
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        key = (op.get("Key") or op.get("Item")) if table is not None else None
        if table is None or not key or table.hash_key_attr not in key or (table.has_range_key and table.range_key_attr not in key):
            continue  # moto rejects it before any write
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.has_range_key else None
        saved.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
        if table.stream_shard is not None:
            stream_lengths.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
    dynamodb_models.copy = _TablesNotCopied(Table)  # type: ignore[assignment]
    try:
        return original(backend, transact_items, *args, **kwargs)
    except Exception:
        for table, hash_value, range_value, item in reversed(saved):
            if range_value is None:
                table.items.pop(hash_value, None)
                if item is not None:
                    table.items[hash_value] = item
            else:
                table.items[hash_value].pop(range_value, None)
                if item is not None:
                    table.items[hash_value][range_value] = item
        for shard, length in stream_lengths.values():
            del shard.items[length:]
        raise
    finally:
        dynamodb_models.copy = copy  # type: ignore[assignment]


class EmbeddedAws:
    """moto's AWS emulator (DynamoDB, SQS, S3, …) on a loopback HTTP port, in a daemon thread.

    Args:
        host: address to bind; loopback by default.
        port: TCP port; 0 picks a free one (read it back from :attr:`endpoint_url`).
        quiet: silence werkzeug's one-line-per-request access log. werkzeug logs to the global
            ``werkzeug`` logger; when ``quiet`` and that logger has no level yet, its level is set to
            WARNING (the only global this class touches).

    Nothing else global is set: no environment variables, no default boto3 session.
    """

    def __init__(self, *, host: str = _LOOPBACK, port: int = 0, quiet: bool = True) -> None:
        self._host = host
        self._port = port
        self._quiet = quiet
        self._server: ThreadedMotoServer | None = None
        self._endpoint_url: str | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the running emulator.

        Raises:
            RuntimeError: the emulator is not started.
        """
        if self._endpoint_url is None:
            raise RuntimeError("EmbeddedAws is not started")
        return self._endpoint_url

    @property
    def running(self) -> bool:
        """Whether :meth:`start` has run and :meth:`stop` has not."""
        return self._server is not None

    def start(self) -> str:
        """Start the server (idempotent) and return its endpoint URL.

        Raises:
            OSError: ``port`` is not free (checked before the server thread starts, because moto's
                thread would otherwise die silently and leave `start` waiting forever).
        """
        if self._server is not None:
            return self.endpoint_url
        serialize_dynamodb_writes()
        if self._port:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((self._host, self._port))
        if self._quiet:
            werkzeug_logger = logging.getLogger("werkzeug")
            if werkzeug_logger.level == logging.NOTSET:
                werkzeug_logger.setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=not self._quiet)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"
        return self._endpoint_url

    def stop(self) -> None:
        """Stop the server (idempotent). moto's state stays in this process (see the module doc)."""
        server, self._server = self._server, None
        self._endpoint_url = None
        if server is not None:
            server.stop()

    def reset(self) -> None:
        """Drop every resource in moto's (process-wide) state, through moto's ``/moto-api/reset``.

        Raises:
            RuntimeError: the emulator is not started.
            urllib.error.URLError: the server did not answer.
        """
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service`` pointed at the emulator, with dummy credentials.

        Uses a private boto3 session (nothing global) in :data:`REGION` with the ``standard`` retry mode.
        Extra keyword arguments go to ``Session.client``.

        Raises:
            RuntimeError: the emulator is not started.
        """
        session = boto3.session.Session(
            aws_access_key_id=DUMMY_ACCESS_KEY_ID,
            aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
            region_name=REGION,
        )
        kwargs.setdefault("config", Config(retries={"mode": "standard", "max_attempts": 3}))
        return session.client(service, endpoint_url=self.endpoint_url, **kwargs)

    def __enter__(self) -> EmbeddedAws:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def aws_environ(endpoint_url: str) -> dict[str, str]:
    """Environment variables that point plain boto3 in a child process at the emulator.

    ``AWS_ENDPOINT_URL`` (read by botocore ≥ 1.31 for every service), dummy credentials (a session
    token too, so that a real one inherited from the parent cannot pair with them), the region, and
    no instance-metadata lookups. Merge it over ``os.environ`` for ``subprocess``.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def provision(
    aws: EmbeddedAws,
    *,
    cdn_base_url: str,
    visibility_timeout_s: int = limits.VISIBILITY_TIMEOUT_S,
    max_attempts: int = limits.MAX_ATTEMPTS,
) -> Settings:
    """Create in the emulator what the CDK stack creates, and return the settings that reach it.

    Idempotent: existing resources are kept (their data too) and their attributes set again.

    Args:
        aws: a started emulator.
        cdn_base_url: public base URL of the stickers bucket, no trailing slash (the local CDN front, ``local_stack.cdn``).
        visibility_timeout_s: the jobs queue's visibility timeout, seconds (0–43200).
        max_attempts: receives before SQS moves a message to the dead-letter queue (redrive
            ``maxReceiveCount``, ≥ 1).

    Raises:
        RuntimeError: the emulator is not started.
        botocore.exceptions.ClientError: the emulator refused a call.
    """
    settings = Settings(
        table_name=limits.TABLE_NAME,
        uploads_bucket=limits.UPLOADS_BUCKET_NAME,
        stickers_bucket=limits.STICKERS_BUCKET_NAME,
        connections_table=limits.CONNECTIONS_TABLE_NAME,
        cdn_base_url=cdn_base_url.rstrip("/"),
        visibility_timeout_s=visibility_timeout_s,
        max_attempts=max_attempts,
    )
    dynamodb = aws.client("dynamodb")
    _create_table(
        dynamodb,
        TableName=limits.TABLE_NAME,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "jobId", "AttributeType": "S"},
            {"AttributeName": "ownerId", "AttributeType": "S"},
            {"AttributeName": "createdAt", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        StreamSpecification=JOBS_STREAM_SPECIFICATION,
        GlobalSecondaryIndexes=[
            {
                "IndexName": limits.OWNER_INDEX_NAME,
                "KeySchema": [
                    {"AttributeName": "ownerId", "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    _enable_ttl(dynamodb, limits.TABLE_NAME, JOBS_TTL_ATTRIBUTE)
    _enable_stream(dynamodb, limits.TABLE_NAME)
    _create_table(
        dynamodb,
        TableName=IDEMPOTENCY_TABLE_NAME,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    _enable_ttl(dynamodb, IDEMPOTENCY_TABLE_NAME, IDEMPOTENCY_TTL_ATTRIBUTE)
    _create_table(
        dynamodb,
        TableName=limits.CONNECTIONS_TABLE_NAME,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": realtime.PK, "AttributeType": "S"}, {"AttributeName": realtime.SK, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": realtime.PK, "KeyType": "HASH"}, {"AttributeName": realtime.SK, "KeyType": "RANGE"}],
    )
    _enable_ttl(dynamodb, limits.CONNECTIONS_TABLE_NAME, realtime.TTL_ATTRIBUTE)

    sqs = aws.client("sqs")
    dlq_url = _create_queue(
        sqs,
        limits.DLQ_NAME,
        {"MessageRetentionPeriod": str(limits.DLQ_RETENTION_DAYS * _SECONDS_PER_DAY)},
    )
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = _create_queue(
        sqs,
        limits.QUEUE_NAME,
        {
            "VisibilityTimeout": str(visibility_timeout_s),
            "ReceiveMessageWaitTimeSeconds": str(limits.RECEIVE_WAIT_S),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_attempts}),
        },
    )

    s3 = aws.client("s3")
    for bucket in (limits.UPLOADS_BUCKET_NAME, limits.STICKERS_BUCKET_NAME):
        _create_bucket(s3, bucket)
    s3.put_bucket_cors(
        Bucket=limits.UPLOADS_BUCKET_NAME,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": ["POST", "PUT"],
                    "AllowedOrigins": ["*"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag", "Location"],
                    "MaxAgeSeconds": 3000,
                }
            ]
        },
    )
    return settings.model_copy(update={"queue_url": queue_url, "dlq_url": dlq_url})


def _create_table(dynamodb: Any, **spec: Any) -> None:
    try:
        dynamodb.create_table(**spec)
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(
        TableName=spec["TableName"], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )


def _enable_ttl(dynamodb: Any, table: str, attribute: str) -> None:
    current = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and current.get("AttributeName") == attribute:
        return
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
    )


def _enable_stream(dynamodb: Any, table: str) -> None:
    """Turn the table's stream on when an earlier provisioning (moto's state is process-wide) made it without."""
    if dynamodb.describe_table(TableName=table)["Table"].get("StreamSpecification", {}).get("StreamEnabled"):
        return
    dynamodb.update_table(TableName=table, StreamSpecification=JOBS_STREAM_SPECIFICATION)


def jobs_stream_arn(dynamodb: Any, table: str = limits.TABLE_NAME) -> str:
    """The ARN of the jobs table's current stream."""
    return str(dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"])


def _create_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    # Create bare, then set attributes: create_queue with other attributes than an existing queue's
    # fails (QueueAlreadyExists), which would break idempotency when the settings change.
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def _create_bucket(s3: Any, bucket: str) -> None:
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
