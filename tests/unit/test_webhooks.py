"""Webhook delivery that no receiver can exhaust, timestamped signatures, rotation and DNS pinning.

Every receiver here is a real loopback server (plain TCP or TLS with a throwaway CA); nothing leaves
the machine. Names like ``hook.test`` never reach DNS: the resolver is injected, or the connection is
pinned to an address the test gives.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from stickers_core import webhooks
from stickers_core.webhooks import CallbackTarget, MasterSecrets, WebhookNotifier
from tests.conftest import REPO_ROOT

LOCAL_ENV = {"STICKERS_ALLOW_LOOPBACK_CALLBACKS": "1", "STICKERS_WEBHOOK_SECRET": "test-master"}
DOC = {"jobId": "job-1", "status": "completed", "stickers": []}
MiB = 1024 * 1024


# --- loopback receivers -------------------------------------------------------------------------------
def read_request(conn: socket.socket) -> tuple[str, bytes]:
    """Read one HTTP/1.1 request (head up to the blank line, then Content-Length bytes of body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("client closed before the request head ended")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        body += conn.recv(length - len(body))
    return head.decode("latin-1"), body


def header(head: str, name: str) -> str | None:
    match = re.search(rf"(?im)^{re.escape(name)}:\s*(.*?)\s*$", head)
    return match.group(1) if match else None


class Receiver:
    """A loopback TCP server; each connection is handed to ``respond(conn, server)`` in its own thread.

    ``tls``: a server context (the connection is wrapped first; the SNI name is recorded).
    Records the requests read with :meth:`read` and the bytes sent with :meth:`send`.
    """

    def __init__(self, respond: Callable[[socket.socket, Receiver], None], tls: ssl.SSLContext | None = None) -> None:
        self.respond, self.tls = respond, tls
        self.requests: list[tuple[str, bytes]] = []
        self.sni: list[str | None] = []
        self.sent = 0
        self.errors: list[BaseException] = []
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        if tls is not None:
            tls.sni_callback = lambda sslsock, name, ctx: self.sni.append(name)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            self.respond(conn, self)
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self.errors.append(exc)
        finally:
            conn.close()

    def read(self, conn: socket.socket) -> tuple[str, bytes]:
        request = read_request(conn)
        self.requests.append(request)
        return request

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)

    def close(self) -> None:
        self._sock.close()


def answer(status: int, body: bytes = b"") -> Callable[[socket.socket, Receiver], None]:
    def respond(conn: socket.socket, rx: Receiver) -> None:
        rx.read(conn)
        rx.send(conn, f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)

    return respond


def huge_answer(size: int) -> Callable[[socket.socket, Receiver], None]:
    """200 with a `size`-byte body generated on the fly (one 64 KiB block sent over and over)."""
    block = b"x" * (64 * 1024)

    def respond(conn: socket.socket, rx: Receiver) -> None:
        rx.read(conn)
        rx.send(conn, f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n\r\n".encode())
        left = size
        while left > 0:
            rx.send(conn, block[: min(left, len(block))])
            left -= len(block)

    return respond


def trickle(prefix: bytes, every_s: float, read_first: bool = True) -> Callable[[socket.socket, Receiver], None]:
    """Send `prefix`, then one more byte every `every_s` seconds for ever (until the client hangs up)."""

    def respond(conn: socket.socket, rx: Receiver) -> None:
        if read_first:
            rx.read(conn)
        rx.send(conn, prefix)
        while True:
            time.sleep(every_s)
            rx.send(conn, b"a")

    return respond


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(respond: Callable[[socket.socket, Receiver], None], tls: ssl.SSLContext | None = None) -> Receiver:
        made.append(Receiver(respond, tls))
        return made[-1]

    yield make
    for rx in made:
        rx.close()


# --- a throwaway CA and a certificate for hook.test ------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | bytes]:
    """A CA, a leaf for ``hook.test`` and one for ``other.test`` (cryptography; EC P-256, 1 day)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stickers test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out: dict[str, Path | bytes] = {"ca": ca.public_bytes(serialization.Encoding.PEM)}
    directory = tmp_path_factory.mktemp("pki")
    for name in ("hook.test", "other.test"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        path = directory / f"{name}.pem"
        path.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        out[name] = path
    return out


def server_tls(pki: dict, name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki[name])
    return context


def client_tls(pki: dict) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=pki["ca"].decode())


def fake_dns(answers: dict[str, list[list[str]]], calls: list[str] | None = None):  # noqa: ANN201
    """A resolver shaped like socket.getaddrinfo: each lookup of a name takes its next answer."""
    served: dict[str, int] = {}

    def resolve(host: str, port: int) -> list[tuple]:
        if calls is not None:
            calls.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        index = min(served.get(host, 0), len(answers[host]) - 1)
        served[host] = served.get(host, 0) + 1
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host][index]]

    return resolve


# --- 1. bounded delivery ------------------------------------------------------------------------------
RSS_PROBE = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path[:0] = [{root!r}, {core!r}]
    from stickers_core.webhooks import WebhookNotifier

    def status():
        fields = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
        return {{k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM")}}

    notifier = WebhookNotifier(max_tries=1, timeout_s=float(sys.argv[3]))
    warm = notifier.deliver(sys.argv[1], {{"jobId": "warm-up", "status": "completed"}}, "key")  # imports, TLS, …
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak (VmHWM) to the current RSS (Linux >= 4.0)
    except OSError:
        pass
    before = status()
    started = time.monotonic()
    ok = notifier.deliver(sys.argv[2], {{"jobId": "big", "status": "completed"}}, "key")
    elapsed = time.monotonic() - started
    after = status()
    print(json.dumps({{"warm": warm, "ok": ok, "elapsed_s": elapsed, "before": before, "after": after}}))
    """
)


def test_a_300_mib_answer_is_not_read_and_the_worker_barely_grows(receivers) -> None:
    """The real notifier in its own process against a receiver that answers 300 MiB: it returns at
    once with the 2xx, its RSS (and peak RSS) grows by well under 50 MiB, and the receiver could push
    only what the kernel's socket buffers take before the client hung up."""
    small = receivers(answer(204))
    huge = receivers(huge_answer(300 * MiB))
    script = RSS_PROBE.format(root=str(REPO_ROOT), core=str(REPO_ROOT / "layers" / "core"))
    env = {**os.environ, **LOCAL_ENV}
    run = subprocess.run([sys.executable, "-c", script, small.url, huge.url, "10"], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    growth = result["after"]["VmRSS"] - result["before"]["VmRSS"]
    peak_growth = result["after"]["VmHWM"] - result["before"]["VmRSS"]
    print(f"300 MiB answer: elapsed {result['elapsed_s']:.3f} s, RSS growth {growth / MiB:.2f} MiB, "
          f"peak growth {peak_growth / MiB:.2f} MiB, receiver sent {huge.sent / MiB:.2f} MiB")
    assert result["warm"] and result["ok"], "a 200 is a delivery, whatever follows it"
    assert result["elapsed_s"] < 3.0, "the body is not read to its end"
    assert growth < 50 * MiB and peak_growth < 50 * MiB
    time.sleep(0.5)  # let the receiver notice the hang-up
    assert huge.sent < 64 * MiB, f"{huge.sent} bytes left the receiver: the client kept reading"


def test_a_trickled_status_line_is_cut_at_the_overall_deadline(receivers) -> None:
    """A byte every 50 ms never trips a per-read timeout; the 1 s deadline of the whole POST does."""
    rx = receivers(trickle(b"HTTP/1.1 200 OK\r\nX-Slow: ", every_s=0.05))
    notifier = WebhookNotifier(max_tries=1, timeout_s=1.0, environ=LOCAL_ENV)
    started = time.monotonic()
    assert notifier.deliver(rx.url, DOC, "key") is False
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.6, elapsed
    assert rx.sent > 20, "the receiver really was trickling during the wait"


def test_a_trickled_tls_handshake_is_cut_at_the_overall_deadline(receivers, pki) -> None:
    """A server that starts a TLS record and trickles it: the handshake ends with the POST's deadline."""
    rx = receivers(trickle(b"\x16\x03\x03\x40\x00", every_s=0.05, read_first=False))
    target = CallbackTarget(f"https://hook.test:{rx.port}/hook", "hook.test", rx.port, ("127.0.0.1",))
    started = time.monotonic()
    with pytest.raises(httpx.TransportError):
        webhooks.pinned_post(target, b"{}", {}, 1.0, client_tls(pki))
    assert time.monotonic() - started < 1.6


def test_a_trickled_body_after_a_2xx_still_counts_and_ends_by_the_deadline(receivers) -> None:
    rx = receivers(trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", every_s=0.05))
    notifier = WebhookNotifier(max_tries=1, timeout_s=1.0, environ=LOCAL_ENV)
    started = time.monotonic()
    assert notifier.deliver(rx.url, DOC, "key") is True
    assert time.monotonic() - started < 1.6


def test_only_the_first_kib_of_an_answer_is_read(receivers) -> None:
    """The body is read up to 1 KiB and the connection closed: a 64 MiB answer fails to get through
    (more than any loopback socket buffer holds)."""
    rx = receivers(huge_answer(64 * MiB))
    target = webhooks.check_target(rx.url, allow_loopback_http=True)
    assert webhooks.pinned_post(target, b"{}", {}, 5.0) == 200
    deadline = time.monotonic() + 5
    while not rx.errors and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rx.errors and isinstance(rx.errors[0], OSError), "the client hung up with the body unread"
    assert rx.sent < 64 * MiB


def test_redirects_are_not_followed(receivers) -> None:
    second = receivers(answer(204))

    def redirect(conn: socket.socket, rx: Receiver) -> None:
        rx.read(conn)
        rx.send(conn, f"HTTP/1.1 307 X\r\nLocation: {second.url}\r\nContent-Length: 0\r\n\r\n".encode())

    first = receivers(redirect)
    assert WebhookNotifier(max_tries=1, environ=LOCAL_ENV).deliver(first.url, DOC, "key") is False
    assert len(first.requests) == 1 and not second.requests


def test_the_pool_is_bounded_and_overflow_is_dropped_without_blocking(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """1 thread + 1 queued: of 6 deliveries 2 are taken, 4 are dropped at once (each a
    ``WebhooksDropped`` EMF metric line); the caller never waits."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    release = threading.Event()
    posted: list[str] = []

    def slow_post(target: CallbackTarget, body: bytes, headers: dict[str, str], deadline_s: float) -> int:
        posted.append(json.loads(body)["jobId"])
        release.wait(10)
        return 204

    notifier = WebhookNotifier(max_threads=1, max_queued=1, environ=LOCAL_ENV, post=slow_post)
    started = time.monotonic()
    futures = [notifier.deliver_async("http://127.0.0.1:9/hook", {**DOC, "jobId": f"j{i}"}, "key") for i in range(6)]
    assert time.monotonic() - started < 0.5, "deliver_async never blocks the job"
    assert [f is not None for f in futures] == [True, True, False, False, False, False]
    assert notifier.dropped == 4
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"WebhooksDropped"' in line]
    assert len(metrics) == 4 and all(m["WebhooksDropped"] == [1.0] and m["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Stickers" for m in metrics)
    release.set()
    notifier.join(5)
    assert [f.result() for f in futures[:2]] == [True, True] and posted == ["j0", "j1"]
    # The slots are free again once deliveries end.
    again = notifier.deliver_async("http://127.0.0.1:9/hook", {**DOC, "jobId": "later"}, "key")
    assert again is not None and again.result(5) is True


def test_a_refused_url_is_not_posted_nor_retried() -> None:
    calls: list[str] = []

    def post(*args) -> int:  # noqa: ANN002
        calls.append("post")
        return 204

    notifier = WebhookNotifier(environ={"STICKERS_WEBHOOK_SECRET": "m"}, post=post, resolver=fake_dns({"intranet.example": [["10.0.0.7"]]}))
    assert notifier.deliver("https://intranet.example/hook", DOC, "key") is False
    assert notifier.deliver("http://127.0.0.1:9/hook", DOC, "key") is False, "no loopback outside the local stack"
    assert not calls


# --- 2. signatures with a timestamp -----------------------------------------------------------------
def test_a_delivery_is_signed_over_timestamp_dot_body_and_verifies(receivers) -> None:
    rx = receivers(answer(204))
    assert WebhookNotifier(environ=LOCAL_ENV).deliver(rx.url, DOC, "key-1") is True
    head, body = rx.requests[0]
    timestamp, signature = header(head, "x-sticker-timestamp"), header(head, "x-sticker-signature")
    secret = webhooks.key_secret("key-1", "test-master")
    assert abs(int(timestamp) - time.time()) < 5 and re.fullmatch(r"sha256=[0-9a-f]{64}", signature)
    assert webhooks.verify(body, signature, secret, timestamp=timestamp)
    import hashlib
    import hmac

    assert signature == "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert json.loads(body) == DOC
    assert header(head, "x-sticker-event") == "job.completed" and header(head, "x-sticker-job-id") == "job-1"
    assert not webhooks.verify(body, signature, webhooks.key_secret("key-2", "test-master"), timestamp=timestamp), "per-key"


def test_verify_refuses_stale_future_forged_and_malformed_input() -> None:
    body, secret, ts = b'{"jobId":"j"}', "whsec_x", 1_700_000_000
    signature = webhooks.sign(body, secret, ts)
    assert webhooks.verify(body, signature, secret, timestamp=str(ts), now=ts + 299)
    assert not webhooks.verify(body, signature, secret, timestamp=str(ts), now=ts + 301), "stale: outside 5 minutes"
    assert not webhooks.verify(body, signature, secret, timestamp=str(ts), now=ts - 301), "too far in the future"
    assert webhooks.verify(body, signature, secret, timestamp=ts, now=ts + 1000, tolerance_s=1000)
    assert not webhooks.verify(body, signature, secret, timestamp=str(ts + 1), now=ts), "the timestamp is signed"
    assert not webhooks.verify(body + b" ", signature, secret, timestamp=str(ts), now=ts)
    assert not webhooks.verify(body, signature, "whsec_y", timestamp=str(ts), now=ts)
    for bad in (None, "", "-1", "1e9", " 17 00", "١٧٠٠٠٠٠٠٠٠"):
        assert not webhooks.verify(body, signature, secret, timestamp=bad, now=ts)
    assert not webhooks.verify(body, None, secret, timestamp=str(ts), now=ts)
    assert not webhooks.verify(body, "sha256=" + "0" * 64, secret, timestamp=str(ts), now=ts)


def test_retries_are_signed_anew_with_their_own_timestamp(receivers) -> None:
    rx = receivers(answer(500))
    clock = iter([1_700_000_000, 1_700_000_007, 1_700_000_042])
    notifier = WebhookNotifier(first_backoff_s=0.01, environ=LOCAL_ENV, clock=lambda: next(clock))
    assert notifier.deliver(rx.url, DOC, "k") is False
    stamps = [header(head, "x-sticker-timestamp") for head, _ in rx.requests]
    assert stamps == ["1700000000", "1700000007", "1700000042"]
    secret = webhooks.key_secret("k", "test-master")
    for head, body in rx.requests:
        ts = header(head, "x-sticker-timestamp")
        assert webhooks.verify(body, header(head, "x-sticker-signature"), secret, timestamp=ts, now=int(ts))


def test_the_readme_receiver_example_verifies_a_real_delivery(receivers) -> None:
    """The verification function printed in README.md, run as written, accepts a delivery and
    refuses a replay of it 6 minutes later."""
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("secrets = [api.get(\"/v1/webhooks/secret\")")
    code = readme[start : readme.index("```", start)]
    rx = receivers(answer(204))
    assert WebhookNotifier(environ=LOCAL_ENV).deliver(rx.url, DOC, "key-1") is True
    head, body = rx.requests[0]
    headers = httpx.Headers({k: header(head, k) for k in ("x-sticker-timestamp", "x-sticker-signature")})

    class Api:
        def get(self, path: str):  # noqa: ANN201
            return httpx.Response(200, json={"secret": webhooks.key_secret("key-1", "test-master")})

    import hashlib
    import hmac

    space: dict = {"api": Api(), "time": time, "hmac": hmac, "hashlib": hashlib}
    exec(code, space)  # noqa: S102 - the README's own example
    assert space["verified"](body, headers) is True
    assert space["verified"](body + b"x", headers) is False
    later = type("Clock", (), {"time": staticmethod(lambda: time.time() + 360)})
    space["time"] = later
    assert space["verified"](body, headers) is False, "a replay after the 5-minute window"


# --- 3. rotation -------------------------------------------------------------------------------------
def test_during_a_rotation_both_signatures_are_sent_and_each_verifies_with_its_secret(receivers) -> None:
    rx = receivers(answer(204))
    env = {**LOCAL_ENV, "STICKERS_WEBHOOK_SECRET": json.dumps({"current": "master-new", "previous": "master-old"})}
    assert WebhookNotifier(environ=env).deliver(rx.url, DOC, "key-1") is True
    head, body = rx.requests[0]
    timestamp, signature = header(head, "x-sticker-timestamp"), header(head, "x-sticker-signature")
    new, old = webhooks.key_secret("key-1", "master-new"), webhooks.key_secret("key-1", "master-old")
    entries = signature.split(",")
    assert entries == [webhooks.sign(body, new, int(timestamp)), webhooks.sign(body, old, int(timestamp))], "current first"
    assert webhooks.verify(body, signature, new, timestamp=timestamp)
    assert webhooks.verify(body, signature, old, timestamp=timestamp)
    assert not webhooks.verify(body, signature, webhooks.key_secret("key-1", "master-other"), timestamp=timestamp)
    # GET /v1/webhooks/secret's value: the current per-key secret.
    assert webhooks.key_secret("key-1", webhooks.master_secret(env)) == new


def test_master_secret_values() -> None:
    assert webhooks.parse_master_secret("plain") == MasterSecrets("plain", None)
    assert webhooks.parse_master_secret("[]") == MasterSecrets("[]"), "only a JSON object is the rotation form"
    assert webhooks.parse_master_secret('{"current": "a", "previous": "b"}') == MasterSecrets("a", "b")
    assert webhooks.parse_master_secret('{"current": "a", "previous": null}') == MasterSecrets("a", None)
    assert webhooks.parse_master_secret('{"current": "a", "previous": "a"}') == MasterSecrets("a", None)
    for bad in ('{"previous": "b"}', '{"current": ""}', '{"current": 5}', '{"current": "a", "previous": ""}', "{not json", '{"current": "a"'):
        with pytest.raises(webhooks.WebhookSecretUnavailable):
            webhooks.parse_master_secret(bad)
    with pytest.raises(webhooks.WebhookSecretUnavailable):
        webhooks.master_secrets({})
    assert webhooks.master_secrets({"STICKERS_ALLOW_LOOPBACK_CALLBACKS": "1"}).current == webhooks.LOCAL_DEV_MASTER_SECRET


def test_a_rotation_in_secrets_manager_is_read_through_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ARN path (moto in-process): the JSON form is read; a value is reused until its cache entry
    (SECRET_CACHE_TTL_S) expires, then the rotated value is read."""
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(webhooks, "_secrets_provider", None)
    from stickers_core import aws as core_aws

    core_aws.reset()  # a session cached by an earlier test would bypass moto's in-process mock
    with mock_aws():
        import boto3

        sm = boto3.client("secretsmanager", region_name="us-east-1")
        arn = sm.create_secret(Name="hooks", SecretString="first")["ARN"]
        assert webhooks.master_secrets({"STICKERS_WEBHOOK_SECRET_ARN": arn}) == MasterSecrets("first")
        sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"current": "second", "previous": "first"}))
        assert webhooks.master_secrets({"STICKERS_WEBHOOK_SECRET_ARN": arn}) == MasterSecrets("first"), "cached"
        webhooks._secrets_provider.clear_cache()  # what the TTL's expiry does
        assert webhooks.master_secrets({"STICKERS_WEBHOOK_SECRET_ARN": arn}) == MasterSecrets("second", "first")
    monkeypatch.setattr(webhooks, "_secrets_provider", None)
    core_aws.reset()


# --- 5. no DNS-rebinding window -------------------------------------------------------------------------
def test_the_connection_goes_to_the_checked_address_with_the_hostname_for_host_sni_and_certificate(
    receivers, pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS on loopback, certificate for hook.test only: the POST connects to the pinned 127.0.0.1, sends
    ``Host: hook.test:<port>`` and SNI ``hook.test``, verifies the certificate against hook.test, and
    never asks DNS about hook.test (a second lookup would answer something else)."""
    lookups: list[str] = []
    real = socket.getaddrinfo

    def dns(host, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        lookups.append(host)
        if host == "hook.test":
            return real("192.0.2.1", *args, **kwargs)  # where a rebinding answer would send it
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dns)
    rx = receivers(answer(204), tls=server_tls(pki, "hook.test"))
    target = CallbackTarget(f"https://hook.test:{rx.port}/hook", "hook.test", rx.port, ("127.0.0.1",))
    assert webhooks.pinned_post(target, b'{"a":1}', {"x-test": "1"}, 5.0, client_tls(pki)) == 204
    head, body = rx.requests[0]
    assert header(head, "host") == f"hook.test:{rx.port}" and body == b'{"a":1}'
    assert rx.sni == ["hook.test"]
    assert "hook.test" not in lookups


def test_the_certificate_is_checked_against_the_hostname_not_the_ip(receivers, pki) -> None:
    rx = receivers(answer(204), tls=server_tls(pki, "other.test"))
    target = CallbackTarget(f"https://hook.test:{rx.port}/hook", "hook.test", rx.port, ("127.0.0.1",))
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        webhooks.pinned_post(target, b"{}", {}, 5.0, client_tls(pki))
    assert not rx.requests


def test_each_attempt_posts_to_the_addresses_it_checked_and_a_rebound_answer_is_refused() -> None:
    """Attempt 1: hook.test → a public address, checked, handed to the POST (which fails with 503).
    Attempt 2: hook.test now answers 10.0.0.5 (rebinding) → refused; nothing is posted there."""
    lookups: list[str] = []
    targets: list[CallbackTarget] = []

    def post(target: CallbackTarget, body: bytes, headers: dict[str, str], deadline_s: float) -> int:
        targets.append(target)
        return 503

    dns = fake_dns({"hook.test": [["93.184.215.14"], ["10.0.0.5"]]}, lookups)
    notifier = WebhookNotifier(first_backoff_s=0.01, environ={"STICKERS_WEBHOOK_SECRET": "m"}, post=post, resolver=dns)
    assert notifier.deliver("https://hook.test/hook", DOC, "key") is False
    assert targets == [CallbackTarget("https://hook.test/hook", "hook.test", 443, ("93.184.215.14",))]
    assert lookups == ["hook.test", "hook.test"], "one lookup per attempt, none by the HTTP client"


def test_a_connection_to_any_other_origin_is_refused_by_the_pinned_backend(receivers) -> None:
    """The pinned transport serves exactly the checked origin (a URL that disagrees is not dialled)."""
    rx = receivers(answer(204))
    target = CallbackTarget(f"http://127.0.0.1:{rx.port + 1 if rx.port < 65535 else 1}/hook", "127.0.0.1", rx.port, ("127.0.0.1",))
    with pytest.raises(httpx.ConnectError, match="not the checked callback origin"):
        webhooks.pinned_post(target, b"{}", {}, 2.0)
    assert rx.connections == 0
