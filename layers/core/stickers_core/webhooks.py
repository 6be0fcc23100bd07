"""Webhooks: the signed POST of a job's final status document to its `callbackUrl`.

Signing (README "callbackUrl"), after Stripe's timestamped scheme ("Verify webhook signatures
manually", https://docs.stripe.com/webhooks#verify-manually: HMAC-SHA256 over ``"{timestamp}.{body}"``,
one signature per active secret in one comma-separated header, a 5-minute tolerance):

- the body is the status document as compact UTF-8 JSON, sent once per job end;
- ``x-sticker-timestamp: <Unix seconds>`` is when this POST was signed (each retry is signed anew);
- ``x-sticker-signature: sha256=<hex>[,sha256=<hex>]`` holds the hex HMAC-SHA256, under the
  caller's *per-key* secret, of the ASCII timestamp, a ``.``, and the raw body bytes. One entry per
  active master secret, the current one first (two while a rotation overlaps, see below).

A receiver recomputes the HMAC with the secret from ``GET /v1/webhooks/secret``, accepts the request
when any entry matches (constant-time comparison), and refuses a timestamp more than
:data:`DEFAULT_TOLERANCE_S` from its own clock (the replay window): :func:`verify` does both.

Secrets: a per-key secret is derived, never stored: ``"whsec_" + hex HMAC-SHA256(master, apiKeyId)``.
The master comes from ``STICKERS_WEBHOOK_SECRET`` (tests, the local stack) or from the Secrets Manager
secret named by ``STICKERS_WEBHOOK_SECRET_ARN`` (AWS, re-read at most every
:data:`SECRET_CACHE_TTL_S` seconds; both variables are read as :class:`stickers_core.settings.Settings`'
``webhook_secret`` and ``webhook_secret_arn``), and is either a plain string (the current master only) or the
JSON object ``{"current": "...", "previous": "..."}`` while a rotation overlaps: deliveries are then
signed with both derived secrets, so a receiver still holding the previous per-key secret keeps
verifying, while ``GET /v1/webhooks/secret`` already returns the current one. On the local stack,
with neither variable set, a fixed development secret is used.

Delivery (:class:`WebhookNotifier`), so that no receiver can exhaust a worker:

- the URL is checked and its host resolved *once per attempt*; every address must be public
  (:func:`check_target`), and the connection goes to those checked addresses only (a custom httpcore
  network backend), while the Host header, TLS SNI and certificate check use the URL's hostname, so a
  DNS answer that changes after the check (DNS rebinding) is never used;
- each POST has an overall deadline (:data:`TIMEOUT_S`, connect + TLS + request + response headers +
  body), enforced by clamping every socket operation's timeout to the time left; CPython bounds a
  TLS handshake and a ``sendall`` by their socket timeout as a whole, not per byte. The DNS lookup
  before it is outside that deadline (it is bounded by the system resolver's own timeouts);
- the response is streamed: socket reads of at most :data:`READ_CHUNK_BYTES`, and reading stops once
  :data:`MAX_RESPONSE_BODY_BYTES` of body are in (the rest is never read; the connection is closed);
  content codings are not decoded; redirects are not followed;
- at most :data:`MAX_TRIES` POSTs with exponential backoff (0.5 s, 1 s); a 2xx ends it;
- background deliveries run on a bounded pool (:data:`DELIVERY_THREADS` threads, at most
  :data:`DELIVERY_QUEUE` more waiting); one beyond that bound is dropped at once with a warning log
  and a ``WebhooksDropped`` metric, never blocking the job.

Verifying a delivery (receiver side)::

    from stickers_core.webhooks import verify
    ok = verify(raw_body, request.headers["x-sticker-signature"], secret,
                timestamp=request.headers["x-sticker-timestamp"])

Why one module of this size: target checking, signing, the pinned network backend and the bounded delivery pool are one security boundary, reviewed together (docs/reliability.md, threat-model rows 3-5).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from stickers_core.settings import ENV_ALLOW_LOOPBACK_CALLBACKS, ENV_WEBHOOK_SECRET, ENV_WEBHOOK_SECRET_ARN, Settings

log = logging.getLogger(__name__)

#: Header carrying ``sha256=<hex>[,sha256=<hex>]`` (see the module doc).
SIGNATURE_HEADER = "x-sticker-signature"
#: Header carrying the Unix time, in seconds, that the signature covers.
TIMESTAMP_HEADER = "x-sticker-timestamp"
#: Scheme label of each signature entry.
SIGNATURE_SCHEME = "sha256"
#: Replay window, seconds: :func:`verify` refuses a timestamp further than this from its clock.
DEFAULT_TOLERANCE_S = 300
#: POSTs per delivery at most (the first and two retries).
MAX_TRIES = 3
#: Delay before the first retry, seconds; doubled for each further one.
FIRST_BACKOFF_S = 0.5
#: Overall deadline of one POST, seconds (connect, TLS, request, response headers and body together).
TIMEOUT_S = 5.0
#: Bytes of response body read at most; the rest is never read.
MAX_RESPONSE_BODY_BYTES = 1024
#: Bytes asked of the socket per read at most (so the body read stops near the limit above).
READ_CHUNK_BYTES = 1024
#: Background delivery threads of one notifier.
DELIVERY_THREADS = 4
#: Background deliveries waiting for a thread at most; more are dropped.
DELIVERY_QUEUE = 64
#: Seconds a master secret read from Secrets Manager is reused (a rotation reaches every reader within it).
SECRET_CACHE_TTL_S = 300
#: Master secret used only in local mode when none is configured (never on AWS).
LOCAL_DEV_MASTER_SECRET = "stickers-local-development-webhook-secret"
#: Env var that allows plain-http loopback callback URLs (set by the local stack; :attr:`Settings.allow_loopback_callbacks`).
ENV_ALLOW_LOOPBACK = ENV_ALLOW_LOOPBACK_CALLBACKS
#: Host names of the plain-http loopback exception.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

#: ``resolver(host, port) -> [(family, type, proto, canonname, sockaddr), ...]``, as :func:`socket.getaddrinfo`.
Resolver = Callable[[str, int], Sequence[tuple[Any, ...]]]


class WebhookSecretUnavailable(RuntimeError):
    """No master secret is configured (and this is not the local stack), or it is malformed."""


class CallbackRefused(ValueError):
    """A callback URL that may not be POSTed to; the message says why (it is shown to API callers)."""


class CallbackUnresolved(OSError):
    """The callback host could not be resolved for now (a temporary DNS failure); worth retrying."""


class MasterSecrets(NamedTuple):
    """The webhook master secret: the current value and, while a rotation overlaps, the previous one."""

    current: str
    previous: str | None = None


def _settings(environ: Mapping[str, str] | None, settings: Settings | None) -> Settings:
    """`settings`, else :meth:`Settings.from_env` of `environ` (default ``os.environ``, read now)."""
    return settings if settings is not None else Settings.from_env(environ)


def local_mode(environ: Mapping[str, str] | None = None, *, settings: Settings | None = None) -> bool:
    """True on the embedded local stack: loopback callbacks allowed, or boto3 aimed at a loopback emulator.

    Args:
        environ: the variables to read when `settings` is None (default ``os.environ``).
        settings: ``allow_loopback_callbacks`` and ``aws_endpoint_url`` are read.
    """
    settings = _settings(environ, settings)
    if settings.allow_loopback_callbacks:
        return True
    return urlsplit(settings.aws_endpoint_url).hostname in LOOPBACK_HOSTS


# --- secrets ---------------------------------------------------------------------------------------
_secrets_provider: Any = None
_secrets_provider_lock = threading.Lock()


def _secret_from_arn(arn: str) -> str:
    """The secret string of `arn`, cached :data:`SECRET_CACHE_TTL_S` seconds (Powertools' SecretsProvider).

    Raises:
        botocore.exceptions.ClientError: Secrets Manager refused the read (wrapped by Powertools in
            ``GetParameterError``).
    """
    global _secrets_provider
    with _secrets_provider_lock:
        if _secrets_provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            from stickers_core import aws

            _secrets_provider = SecretsProvider(boto3_client=aws.client("secretsmanager"))
    return _secrets_provider.get(arn, max_age=SECRET_CACHE_TTL_S)


def parse_master_secret(value: str) -> MasterSecrets:
    """Read a master secret value: a plain string (current only) or ``{"current": ..., "previous": ...}``.

    Raises:
        WebhookSecretUnavailable: a JSON object without a non-empty string ``current``, or with a
            ``previous`` that is neither null nor a non-empty string.
    """
    if not value.lstrip().startswith("{"):
        return MasterSecrets(value)
    try:
        doc = json.loads(value)
    except ValueError as exc:
        raise WebhookSecretUnavailable("the webhook master secret looks like JSON but does not parse") from exc
    current, previous = doc.get("current") if isinstance(doc, dict) else None, doc.get("previous") if isinstance(doc, dict) else None
    if not isinstance(current, str) or not current:
        raise WebhookSecretUnavailable('the webhook master secret JSON needs a non-empty "current"')
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise WebhookSecretUnavailable('the webhook master secret JSON\'s "previous" must be a non-empty string or null')
    return MasterSecrets(current, previous if previous != current else None)


def master_secrets(environ: Mapping[str, str] | None = None, *, settings: Settings | None = None) -> MasterSecrets:
    """The webhook master secret(s): ``settings.webhook_secret``, else the Secrets Manager secret
    ``settings.webhook_secret_arn``, else on the local stack a development secret (module doc).

    Args:
        environ: the variables to read when `settings` is None (default ``os.environ``, read now).
        settings: the service settings.

    Raises:
        WebhookSecretUnavailable: none is configured outside the local stack, or the value is malformed.
        aws_lambda_powertools.utilities.parameters.exceptions.GetParameterError: Secrets Manager refused the read.
        pydantic.ValidationError: `environ` holds an invalid ``STICKERS_*`` value (:meth:`Settings.from_env`).
    """
    settings = _settings(environ, settings)
    if settings.webhook_secret is not None:
        return parse_master_secret(settings.webhook_secret.get_secret_value())
    if settings.webhook_secret_arn:
        return parse_master_secret(_secret_from_arn(settings.webhook_secret_arn))
    if local_mode(settings=settings):
        return MasterSecrets(LOCAL_DEV_MASTER_SECRET)
    raise WebhookSecretUnavailable(f"set {ENV_WEBHOOK_SECRET} or {ENV_WEBHOOK_SECRET_ARN}")


def master_secret(environ: Mapping[str, str] | None = None, *, settings: Settings | None = None) -> str:
    """The current webhook master secret (:func:`master_secrets` ``.current``; same errors)."""
    return master_secrets(environ, settings=settings).current


def key_secret(api_key_id: str, master: str | None = None) -> str:
    """The per-key signing secret: ``whsec_`` + hex HMAC-SHA256(master secret, API key id).

    `master` defaults to the *current* master secret (what ``GET /v1/webhooks/secret`` returns).

    >>> key_secret("key123", master="m")[:10]
    'whsec_66fc'
    """
    master = master_secret() if master is None else master
    return "whsec_" + hmac.new(master.encode(), api_key_id.encode(), hashlib.sha256).hexdigest()


def key_secrets(api_key_id: str, masters: MasterSecrets) -> list[str]:
    """The per-key secrets a delivery is signed with: the current one, then the previous one if any."""
    return [key_secret(api_key_id, m) for m in masters if m]


# --- signing ---------------------------------------------------------------------------------------
def sign(body: bytes, secret: str, timestamp: int) -> str:
    """One signature entry: ``sha256=<hex HMAC-SHA256(secret, b"<timestamp>." + body)>``.

    Args:
        body: the raw request body.
        secret: the per-key secret (``whsec_…``).
        timestamp: Unix time, seconds, as sent in ``x-sticker-timestamp``.
    """
    signed = str(int(timestamp)).encode() + b"." + body
    return f"{SIGNATURE_SCHEME}=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """The ``x-sticker-signature`` value: one :func:`sign` entry per secret, comma-separated, in order."""
    return ",".join(sign(body, s, timestamp) for s in secrets)


def verify(
    body: bytes,
    signature: str | None,
    secret: str,
    *,
    timestamp: str | int | None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Receiver-side check of a delivery: the timestamp is fresh and one signature entry matches.

    Args:
        body: the raw request body, as received.
        signature: the ``x-sticker-signature`` header (one or more comma-separated ``sha256=<hex>``).
        secret: the receiver's per-key secret (``GET /v1/webhooks/secret``).
        timestamp: the ``x-sticker-timestamp`` header (Unix seconds, decimal digits).
        tolerance_s: replay window, seconds: a timestamp further than this from `now`, past or future,
            is refused (default 300, Stripe's default tolerance).
        now: the receiver's clock, Unix seconds (default :func:`time.time`).

    Returns:
        True when the timestamp is within the window and any entry equals :func:`sign` of `body`
        under `secret` (constant-time comparison). Never raises for malformed input: False.
    """
    text = str(timestamp).strip() if timestamp is not None else ""
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        return False
    ts = int(text)
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    expected = sign(body, secret, ts)
    return any(hmac.compare_digest(expected, entry.strip()) for entry in (signature or "").split(","))


def encode_body(document: Mapping[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed): compact UTF-8 JSON."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


# --- where a callback may go -----------------------------------------------------------------------
#: NAT64 well-known prefix (RFC 6052): its addresses embed an IPv4 address a NAT64 gateway would reach.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a globally routable unicast address (:attr:`ipaddress.IPv4Address.is_global`, not multicast).

    Refused: private, loopback, link-local, shared (100.64/10), reserved, documentation, unspecified,
    multicast and site-local addresses, and IPv6 addresses that embed a refused IPv4 one (IPv4-mapped,
    6to4, Teredo, NAT64), so that the AWS metadata service or a VPC neighbour cannot be reached.
    """
    if address.is_multicast or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:
            return False
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not public_address(embedded):
            return False
    return True


@dataclass(frozen=True)
class CallbackTarget:
    """A checked callback: the URL, its host and port, and the addresses the connection may use.

    The POST goes to `url` (its hostname is the Host header and the TLS server name), but the TCP
    connection is made only to `addresses`, which were each checked when the host was resolved.
    """

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int, resolver: Resolver | None) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address `host` resolves to, in the resolver's order, without duplicates.

    Raises:
        CallbackRefused: the name does not exist (no such host, no address).
        CallbackUnresolved: a temporary or other resolution failure.
    """
    try:
        if resolver is None:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        else:
            infos = resolver(host, port)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            raise CallbackRefused("host does not resolve") from exc
        raise CallbackUnresolved(f"host lookup failed ({exc})") from exc
    except (OSError, UnicodeError) as exc:
        raise CallbackUnresolved(f"host lookup failed ({type(exc).__name__})") from exc
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise CallbackRefused("host does not resolve")
    return addresses


def check_target(url: str, *, allow_loopback_http: bool, resolver: Resolver | None = None) -> CallbackTarget:
    """Check a callback URL and resolve its host once; the result says where the POST may connect.

    Rules: ``https`` with no port or port 443, no user info, a host name (not an IP literal) whose
    every address is :func:`public_address`. The one exception (the local stack,
    `allow_loopback_http`): ``http://127.0.0.1``, ``http://[::1]`` or ``http://localhost`` on any
    port, whose addresses must then all be loopback.

    Args:
        url: the callback URL.
        allow_loopback_http: whether the local stack's loopback exception applies.
        resolver: ``resolver(host, port)`` with :func:`socket.getaddrinfo`'s answer shape (default:
            :func:`socket.getaddrinfo`); tests inject one.

    Raises:
        CallbackRefused: the URL breaks a rule or its host does not exist (message: why).
        CallbackUnresolved: the host could not be resolved for now (temporary DNS failure).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CallbackRefused("has a malformed host or port") from exc
    host = parts.hostname
    if not host or parts.scheme not in ("https", "http"):
        raise CallbackRefused("must be an https URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise CallbackRefused("must not carry user info")
    if parts.scheme == "http":
        if not (allow_loopback_http and host in LOOPBACK_HOSTS):
            raise CallbackRefused("must be an https URL")
        port = port or 80
        addresses = [ipaddress.ip_address(host)] if _is_ip_literal(host) else _resolve(host, port, resolver)
        if not all(a.is_loopback for a in addresses):
            raise CallbackRefused("must be an https URL")
        return CallbackTarget(url, host, port, tuple(str(a) for a in addresses))
    if port not in (None, 443):
        raise CallbackRefused("must use the default https port (443)")
    if _is_ip_literal(host):
        raise CallbackRefused("must name a host, not an IP address")
    addresses = _resolve(host, 443, resolver)
    if not all(public_address(a) for a in addresses):
        raise CallbackRefused("host resolves to a private, loopback, link-local or reserved address")
    return CallbackTarget(url, host, 443, tuple(str(a) for a in addresses))


def deliverable(url: str, *, allow_loopback_http: bool) -> bool:
    """Whether :func:`check_target` accepts `url` (a temporary DNS failure counts as yes; the host is
    always resolved and checked)."""
    try:
        check_target(url, allow_loopback_http=allow_loopback_http)
    except CallbackRefused:
        return False
    except CallbackUnresolved:
        return True
    return True


# --- the bounded POST ------------------------------------------------------------------------------
def pinned_post(target: CallbackTarget, body: bytes, headers: dict[str, str], deadline_s: float, ssl_context: ssl.SSLContext | None = None) -> int:
    """POST `body` to `target.url`, connecting only to `target.addresses`, within `deadline_s` overall.

    Reads the status and at most :data:`MAX_RESPONSE_BODY_BYTES` of body (socket reads of at most
    :data:`READ_CHUNK_BYTES`), then closes the connection. No redirects, no proxies, no keep-alive,
    HTTP/1.1, content codings not decoded.

    Returns:
        The response status code (a body read that fails after the status arrived is ignored).

    Raises:
        httpx.TimeoutException: the deadline passed before the response status arrived.
        httpx.TransportError: connection, TLS (certificate checked against the URL's hostname) or
            protocol failure.
    """
    import httpcore
    import httpx

    deadline = time.monotonic() + deadline_s
    expected_host = httpx.URL(target.url).raw_host.decode("ascii").lower()

    def left(timeout: float | None, exc_type: type[Exception]) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise exc_type("webhook POST deadline passed")
        return remaining if timeout is None else min(timeout, remaining)

    class DeadlineStream(httpcore.NetworkStream):
        """A network stream whose every operation ends by the POST's deadline."""

        def __init__(self, inner: httpcore.NetworkStream) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._inner.read(min(max_bytes, READ_CHUNK_BYTES), left(timeout, httpcore.ReadTimeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, left(timeout, httpcore.WriteTimeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None) -> httpcore.NetworkStream:
            # The handshake's socket timeout bounds the handshake as a whole (CPython >= 3.5).
            return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left(timeout, httpcore.ConnectTimeout)))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class PinnedBackend(httpcore.NetworkBackend):
        """Connects the URL's origin to the checked addresses only (never resolves the name again)."""

        def __init__(self) -> None:
            self._inner = httpcore.SyncBackend()

        def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
            if host.lower() != expected_host or port != target.port:
                raise httpcore.ConnectError(f"refusing to connect to {host}:{port}, not the checked callback origin")
            failure: Exception = httpcore.ConnectError("no checked address")
            for address in target.addresses:
                try:
                    stream = self._inner.connect_tcp(address, port, left(timeout, httpcore.ConnectTimeout), local_address, socket_options)
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                    failure = exc
                    continue
                return DeadlineStream(stream)
            raise failure

        def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> httpcore.NetworkStream:  # noqa: ARG002 - httpcore's backend interface
            raise httpcore.ConnectError("unix sockets are not callback targets")

        def sleep(self, seconds: float) -> None:
            time.sleep(seconds)

    class PinnedTransport(httpx.HTTPTransport):
        """httpx's transport over an httpcore pool that uses :class:`PinnedBackend` (httpx 0.28 takes no
        ``network_backend`` argument, so the pool it built is replaced by an equivalent public one)."""

        def __init__(self, context: ssl.SSLContext) -> None:
            super().__init__(verify=context, trust_env=False, http1=True, http2=False, retries=0)
            self._pool = httpcore.ConnectionPool(
                ssl_context=context, max_connections=1, max_keepalive_connections=0, http1=True, http2=False, retries=0, network_backend=PinnedBackend()
            )

    context = ssl_context or _default_ssl_context()
    with httpx.Client(transport=PinnedTransport(context), follow_redirects=False, trust_env=False, timeout=httpx.Timeout(deadline_s)) as client:
        with client.stream("POST", target.url, content=body, headers={**headers, "accept-encoding": "identity"}) as response:
            received = 0
            try:
                for chunk in response.iter_raw():
                    received += len(chunk)
                    if received >= MAX_RESPONSE_BODY_BYTES:
                        break
            except httpx.HTTPError:
                pass  # the status is what counts; the body is discarded either way
            return response.status_code


_ssl_context: ssl.SSLContext | None = None
_ssl_context_lock = threading.Lock()


def _default_ssl_context() -> ssl.SSLContext:
    """One shared verifying client context (httpx's defaults: certifi's CAs, hostname check)."""
    global _ssl_context
    with _ssl_context_lock:
        if _ssl_context is None:
            import httpx

            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


def _emit_dropped_metric() -> None:
    """One ``WebhooksDropped`` CloudWatch EMF line (nothing when Powertools metrics are disabled)."""
    try:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric
        from aws_lambda_powertools.metrics.functions import is_metrics_disabled

        from stickers_core import limits

        if not is_metrics_disabled():
            with single_metric(name="WebhooksDropped", unit=MetricUnit.Count, value=1, namespace=limits.METRICS_NAMESPACE):
                pass
    except Exception:  # noqa: BLE001 - a metric never fails a job
        log.debug("WebhooksDropped metric not written", exc_info=True)


class WebhookNotifier:
    """POSTs final status documents to callback URLs: signed, retried, bounded, in the background.

    Args:
        max_tries: POSTs per delivery at most.
        first_backoff_s: wait before the first retry, seconds (doubled each time).
        timeout_s: overall deadline of one POST, seconds (not per read).
        environ: where the master secret and local mode are read, at each delivery, when `settings` is
            None (default ``os.environ``; :meth:`Settings.from_env`).
        post: ``post(target, body, headers, deadline_s) -> status`` (default: the pinned, bounded
            httpx POST); tests replace it.
        max_threads: background delivery threads.
        max_queued: background deliveries waiting for a thread at most; :meth:`deliver_async` drops
            any beyond ``max_threads + max_queued`` in flight.
        resolver: ``resolver(host, port)`` shaped like :func:`socket.getaddrinfo` (default: it).
        ssl_context: the TLS client context (default: a shared one with httpx's CA bundle).
        clock: Unix time in seconds for ``x-sticker-timestamp`` (default :func:`time.time`).
        settings: the master secret's source and local mode, fixed (default: read at each delivery).
    """

    def __init__(
        self,
        *,
        max_tries: int = MAX_TRIES,
        first_backoff_s: float = FIRST_BACKOFF_S,
        timeout_s: float = TIMEOUT_S,
        environ: Mapping[str, str] | None = None,
        post: Callable[[CallbackTarget, bytes, dict[str, str], float], int] | None = None,
        max_threads: int = DELIVERY_THREADS,
        max_queued: int = DELIVERY_QUEUE,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
        settings: Settings | None = None,
    ) -> None:
        self.max_tries, self.first_backoff_s, self.timeout_s = max_tries, first_backoff_s, timeout_s
        self._environ = environ
        self._settings = settings
        self._resolver = resolver
        self._clock = clock
        self._post = post or (lambda target, body, headers, deadline_s: pinned_post(target, body, headers, deadline_s, ssl_context))
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="webhook")
        self._slots = threading.BoundedSemaphore(max_threads + max_queued)
        self._pending: set[Future[bool]] = set()
        self._lock = threading.Lock()
        #: Deliveries :meth:`deliver_async` dropped because the pool and its queue were full.
        self.dropped = 0

    def deliver(self, url: str, document: Mapping[str, Any], api_key_id: str) -> bool:
        """POST `document` to `url` signed with `api_key_id`'s secret(s), retrying; True on a 2xx.

        Each attempt resolves and checks the URL (:func:`check_target`), signs with a fresh timestamp
        and POSTs to the checked addresses within :attr:`timeout_s`. A refused URL is not retried.
        Never raises: refusals, secrets that cannot be read and network errors are logged.
        """
        job_id = document.get("jobId")
        try:
            settings = _settings(self._environ, self._settings)
            secrets = key_secrets(api_key_id, master_secrets(settings=settings))
        except Exception:  # noqa: BLE001 - a notification never fails a job
            log.exception("webhook secret unavailable", extra={"jobId": job_id})
            return False
        body = encode_body(document)
        allow_loopback = local_mode(settings=settings)
        for attempt in range(1, self.max_tries + 1):
            try:
                target = check_target(url, allow_loopback_http=allow_loopback, resolver=self._resolver)
            except CallbackRefused as exc:
                log.warning("callback URL refused", extra={"jobId": job_id, "reason": str(exc)})
                return False
            except CallbackUnresolved as exc:
                status, problem = 0, str(exc)
            else:
                timestamp = int(self._clock())
                headers = {
                    "content-type": "application/json; charset=utf-8",
                    "user-agent": "stickers-webhook/1",
                    TIMESTAMP_HEADER: str(timestamp),
                    SIGNATURE_HEADER: signature_header(body, secrets, timestamp),
                    "x-sticker-job-id": str(job_id),
                    "x-sticker-event": f"job.{document.get('status')}",
                }
                try:
                    status = self._post(target, body, headers, self.timeout_s)
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

    def deliver_async(self, url: str, document: Mapping[str, Any], api_key_id: str) -> Future[bool] | None:
        """:meth:`deliver` on the bounded pool; never blocks the caller.

        Returns:
            The delivery's future (its result is :meth:`deliver`'s), or None when it was dropped
            because ``max_threads + max_queued`` deliveries are already in flight (logged as a
            warning, counted in :attr:`dropped` and as a ``WebhooksDropped`` metric).
        """
        if not self._slots.acquire(blocking=False):
            with self._lock:
                self.dropped += 1
            log.warning("webhook dropped: delivery pool full", extra={"jobId": document.get("jobId")})
            _emit_dropped_metric()
            return None
        try:
            future = self._pool.submit(self.deliver, url, dict(document), api_key_id)
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._settled)
        return future

    def _settled(self, future: Future[bool]) -> None:
        with self._lock:
            self._pending.discard(future)
        self._slots.release()

    def join(self, timeout_s: float = 30.0) -> None:
        """Wait up to `timeout_s` seconds for the background deliveries in flight (shutdown, tests)."""
        with self._lock:
            pending = set(self._pending)
        if pending:
            wait(pending, timeout=timeout_s)
