"""boto3 clients with the service's retry and timeout policy.

boto3 reads ``AWS_ENDPOINT_URL`` (and region and credentials) from the environment by itself, which is
how the same code reaches the embedded emulator locally and AWS in production.
"""

from __future__ import annotations

import functools
import os
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

#: Every S3 client signs with SigV4 and addresses the regional virtual-hosted endpoint
#: (``https://<bucket>.s3.<region>.amazonaws.com/``). Without it botocore presigns POSTs with SigV2 in
#: us-east-1 and other regions (``AWSAccessKeyId`` / ``signature`` fields), which buckets created since
#: mid-2020 refuse, and points them at the global ``<bucket>.s3.amazonaws.com`` host (in us-east-1
#: unless ``us_east_1_regional_endpoint`` is ``regional``; elsewhere unless the addressing style is
#: ``virtual``). Regular API calls were already SigV4; they now use the regional host too.
S3_CONFIG = Config(
    signature_version="s3v4",
    s3={"us_east_1_regional_endpoint": "regional", "addressing_style": "virtual"},
)
#: With an endpoint override (the embedded emulator) the addressing style is left to botocore: a
#: virtual host ``<bucket>.localhost`` would not resolve, and for an IP endpoint botocore uses paths.
S3_OVERRIDE_CONFIG = Config(signature_version="s3v4", s3={"us_east_1_regional_endpoint": "regional"})
#: Environment variables through which botocore takes an S3 endpoint override.
ENDPOINT_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")

_lock = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


def config_for(service: str, endpoint_url: str | None = None) -> Config:
    """The botocore config of a client for `service`: :data:`CLIENT_CONFIG`, and for S3 also SigV4 and
    the regional endpoint (:data:`S3_CONFIG`, or :data:`S3_OVERRIDE_CONFIG` when `endpoint_url` or an
    ``AWS_ENDPOINT_URL[_S3]`` variable sends it elsewhere, as the embedded emulator does)."""
    if service != "s3":
        return CLIENT_CONFIG
    overridden = endpoint_url or any(os.environ.get(name) for name in ENDPOINT_ENV)
    return CLIENT_CONFIG.merge(S3_OVERRIDE_CONFIG if overridden else S3_CONFIG)


def client(service: str, **kwargs: Any) -> Any:
    """A boto3 client for `service` with :func:`config_for`'s config (clients are thread-safe; sessions not)."""
    with _lock:
        return _session().client(service, config=config_for(service, kwargs.get("endpoint_url")), **kwargs)


def resource(service: str, **kwargs: Any) -> Any:
    """A boto3 resource for `service` with :func:`config_for`'s config (use one per thread)."""
    with _lock:
        return _session().resource(service, config=config_for(service, kwargs.get("endpoint_url")), **kwargs)


def reset() -> None:
    """Forget the cached session (tests and the local stack call it after changing the environment)."""
    _session.cache_clear()
