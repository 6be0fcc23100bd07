"""Webhooks: the signed POST of a job's final status document to its `callbackUrl`.

Signing (API.md "callbackUrl"): the body is the status document as UTF-8 JSON, sent once per job end
with ``x-sticker-signature: sha256=<hex>``, the HMAC-SHA256 of the raw body under the caller's
*per-key* secret. That secret is derived, never stored: ``HMAC-SHA256(master secret, apiKeyId)`` in
hex, prefixed ``whsec_``. A caller reads it from ``GET /v1/webhooks/secret``.

The master secret comes from ``STICKERS_WEBHOOK_SECRET`` (tests, the local stack) or from the Secrets
Manager secret named by ``STICKERS_WEBHOOK_SECRET_ARN`` (AWS). On the local stack, with neither set, a
fixed development secret is used, so the API and workers of one machine agree without setup.

Delivery (:class:`WebhookNotifier`): at most :data:`MAX_TRIES` POSTs with exponential backoff
(0.5 s, 1 s, …), short timeouts, no redirects, in a background thread; a 2xx answer ends it. Nothing a
receiver does can fail or delay the job. SSRF care: the URL must be https to a public address;
plain http to a loopback address only in local mode (``STICKERS_ALLOW_LOOPBACK_CALLBACKS=1``, or
boto3 pointed at a loopback endpoint, which is the embedded local stack).

Verifying a delivery (receiver side)::

    import hashlib, hmac
    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, request.headers["x-sticker-signature"])
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from stickers_core.settings import ENV_WEBHOOK_SECRET, ENV_WEBHOOK_SECRET_ARN

log = logging.getLogger(__name__)

#: Header carrying ``sha256=<hex HMAC of the raw body>``.
SIGNATURE_HEADER = "x-sticker-signature"
#: POSTs per delivery at most (the first and two retries).
MAX_TRIES = 3
#: Delay before the first retry, seconds; doubled for each further one.
FIRST_BACKOFF_S = 0.5
#: Connect/read timeout of one POST, seconds.
TIMEOUT_S = 5.0
#: Master secret used only in local mode when none is configured (never on AWS).
LOCAL_DEV_MASTER_SECRET = "stickers-local-development-webhook-secret"
#: Env var that allows plain-http loopback callback URLs (set by the local stack).
ENV_ALLOW_LOOPBACK = "STICKERS_ALLOW_LOOPBACK_CALLBACKS"


class WebhookSecretUnavailable(RuntimeError):
    """No master secret is configured (and this is not the local stack)."""


def local_mode(environ: Mapping[str, str] | None = None) -> bool:
    """True on the embedded local stack: loopback callbacks allowed, or boto3 aimed at a loopback emulator."""
    env = os.environ if environ is None else environ
    if env.get(ENV_ALLOW_LOOPBACK) == "1":
        return True
    host = urlsplit(env.get("AWS_ENDPOINT_URL", "")).hostname
    return host in ("127.0.0.1", "localhost", "::1")


@functools.lru_cache(maxsize=4)
def _secret_from_arn(arn: str) -> str:
    from stickers_core import aws

    return aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]


def master_secret(environ: Mapping[str, str] | None = None) -> str:
    """The webhook master secret (see the module doc for where it comes from).

    Raises:
        WebhookSecretUnavailable: none is configured outside the local stack.
        botocore.exceptions.ClientError: Secrets Manager refused the read.
    """
    env = os.environ if environ is None else environ
    if env.get(ENV_WEBHOOK_SECRET):
        return env[ENV_WEBHOOK_SECRET]
    if env.get(ENV_WEBHOOK_SECRET_ARN):
        return _secret_from_arn(env[ENV_WEBHOOK_SECRET_ARN])
    if local_mode(env):
        return LOCAL_DEV_MASTER_SECRET
    raise WebhookSecretUnavailable(f"set {ENV_WEBHOOK_SECRET} or {ENV_WEBHOOK_SECRET_ARN}")


def key_secret(api_key_id: str, master: str | None = None) -> str:
    """The per-key signing secret: ``whsec_`` + hex HMAC-SHA256(master secret, API key id).

    >>> key_secret("key123", master="m")[:10]
    'whsec_66fc'
    """
    master = master_secret() if master is None else master
    return "whsec_" + hmac.new(master.encode(), api_key_id.encode(), hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str) -> str:
    """The ``x-sticker-signature`` value of a raw body: ``sha256=<hex HMAC-SHA256(secret, body)>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str, secret: str) -> bool:
    """True when `signature` is :func:`sign` of `body` under `secret` (constant-time comparison)."""
    return hmac.compare_digest(sign(body, secret), signature or "")


def encode_body(document: Mapping[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed): compact UTF-8 JSON."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def deliverable(url: str, *, allow_loopback_http: bool, resolve: bool = True) -> bool:
    """Whether the worker may POST to `url`: https to a public address, or http to loopback locally.

    With `resolve`, an https host is resolved and refused when any address is private, loopback,
    link-local or reserved (outside local mode), so a callback cannot reach the service's own network.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return False
    if parts.scheme == "http":
        return allow_loopback_http and host in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https":
        return False
    if allow_loopback_http or not resolve:
        return True
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            return False
    return True


class WebhookNotifier:
    """POSTs final status documents to callback URLs, signed, retried, in the background.

    Args:
        max_tries: POSTs per delivery at most.
        first_backoff_s: wait before the first retry, seconds (doubled each time).
        timeout_s: timeout of one POST, seconds.
        environ: where the master secret and local mode are read (default ``os.environ``).
        post: ``post(url, body, headers, timeout_s) -> status`` (default: httpx); tests replace it.
    """

    def __init__(
        self,
        *,
        max_tries: int = MAX_TRIES,
        first_backoff_s: float = FIRST_BACKOFF_S,
        timeout_s: float = TIMEOUT_S,
        environ: Mapping[str, str] | None = None,
        post: Callable[[str, bytes, dict[str, str], float], int] | None = None,
    ) -> None:
        self.max_tries, self.first_backoff_s, self.timeout_s = max_tries, first_backoff_s, timeout_s
        self._environ = environ
        self._post = post or _httpx_post
        self._threads: list[threading.Thread] = []

    def deliver(self, url: str, document: Mapping[str, Any], api_key_id: str) -> bool:
        """POST `document` to `url` signed with `api_key_id`'s secret, retrying; True on a 2xx.

        Never raises: refusals, secrets that cannot be read and network errors are logged.
        """
        job_id = document.get("jobId")
        if not deliverable(url, allow_loopback_http=local_mode(self._environ)):
            log.warning("callback URL refused", extra={"jobId": job_id})
            return False
        try:
            secret = key_secret(api_key_id, master_secret(self._environ))
        except Exception:  # noqa: BLE001 - a notification never fails a job
            log.exception("webhook secret unavailable", extra={"jobId": job_id})
            return False
        body = encode_body(document)
        headers = {
            "content-type": "application/json; charset=utf-8",
            "user-agent": "stickers-webhook/1",
            SIGNATURE_HEADER: sign(body, secret),
            "x-sticker-job-id": str(job_id),
            "x-sticker-event": f"job.{document.get('status')}",
        }
        for attempt in range(1, self.max_tries + 1):
            try:
                status = self._post(url, body, headers, self.timeout_s)
            except Exception as exc:  # noqa: BLE001 - network errors are retried
                status, problem = 0, type(exc).__name__
            else:
                problem = f"HTTP {status}"
            if 200 <= status < 300:
                log.info("webhook delivered", extra={"jobId": job_id, "attempt": attempt})
                return True
            log.warning("webhook attempt failed", extra={"jobId": job_id, "attempt": attempt, "problem": problem})
            if attempt < self.max_tries:
                time.sleep(self.first_backoff_s * 2 ** (attempt - 1))
        return False

    def deliver_async(self, url: str, document: Mapping[str, Any], api_key_id: str) -> threading.Thread:
        """:meth:`deliver` in a daemon thread (the caller is never blocked); returns the thread."""
        thread = threading.Thread(
            target=self.deliver, args=(url, dict(document), api_key_id), name=f"webhook-{str(document.get('jobId'))[:8]}", daemon=True
        )
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        return thread

    def join(self, timeout_s: float = 30.0) -> None:
        """Wait for deliveries in flight (shutdown, tests)."""
        deadline = time.monotonic() + timeout_s
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))


def _httpx_post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    import httpx

    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        return client.post(url, content=body, headers=headers).status_code
