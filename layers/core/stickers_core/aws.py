"""boto3 clients with the service's retry and timeout policy.

boto3 reads ``AWS_ENDPOINT_URL`` (and region and credentials) from the environment by itself, which is
how the same code reaches the embedded emulator locally and AWS in production.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import boto3
from botocore.config import Config

#: Transient errors (throttling, 5xx, connection resets) are retried with exponential backoff and
#: jitter by botocore's "standard" retry mode; the read timeout is above SQS's 20 s long poll.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=32,
)

_lock = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


def client(service: str, **kwargs: Any) -> Any:
    """A boto3 client for `service` with :data:`CLIENT_CONFIG` (clients are thread-safe; sessions not)."""
    with _lock:
        return _session().client(service, config=CLIENT_CONFIG, **kwargs)


def resource(service: str, **kwargs: Any) -> Any:
    """A boto3 resource for `service` with :data:`CLIENT_CONFIG` (use one per thread)."""
    with _lock:
        return _session().resource(service, config=CLIENT_CONFIG, **kwargs)


def reset() -> None:
    """Forget the cached session (tests and the local stack call it after changing the environment)."""
    _session.cache_clear()
