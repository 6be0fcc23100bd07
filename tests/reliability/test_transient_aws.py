"""Transient AWS errors are retried with backoff by botocore's standard retry mode
(:data:`stickers_core.aws.CLIENT_CONFIG`), shown at the HTTP level against the emulator.

A loopback proxy in front of the emulator answers the first requests with a 503 or a DynamoDB
throttling error and forwards the rest; boto3 clients built with the service's config go through it.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from stickers_core.aws import CLIENT_CONFIG
from stickers_core.store import ClaimOutcome, JobStore

THROTTLED = (400, b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}')
UNAVAILABLE = (503, b"Service Unavailable")


class FaultyProxy:
    """Answers the first `failures` requests with `fault` (status, body), forwards the rest upstream."""

    def __init__(self, upstream: str, failures: int, fault: tuple[int, bytes]) -> None:
        self.upstream = urlsplit(upstream)
        self.failures, self.fault = failures, fault
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _take(self) -> bool:
        with self._lock:
            self.requests += 1
            return self.requests <= self.failures

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if proxy._take():
                    status, payload = proxy.fault
                    self._reply(status, payload, "application/x-amz-json-1.0")
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                conn.request(self.command, self.path, body, {k: v for k, v in self.headers.items() if k.lower() != "host"})
                upstream = conn.getresponse()
                self._reply(upstream.status, upstream.read(), upstream.getheader("content-type", "application/xml"))
                conn.close()

            do_GET = do_POST  # noqa: N815

            def _reply(self, status: int, payload: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


@pytest.fixture
def proxy_factory(stack) -> Iterator:  # noqa: ANN001
    made: list[FaultyProxy] = []

    def make(failures: int, fault: tuple[int, bytes]) -> FaultyProxy:
        made.append(FaultyProxy(stack.aws.endpoint_url, failures, fault))
        return made[-1]

    yield make
    for p in made:
        p.close()


def client(service: str, url: str, config: Config = CLIENT_CONFIG):  # noqa: ANN201
    return boto3.session.Session().client(service, endpoint_url=url, config=config, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def test_sqs_503s_are_retried_until_the_call_succeeds(stack, proxy_factory) -> None:  # noqa: ANN001
    proxy = proxy_factory(2, UNAVAILABLE)
    sqs = client("sqs", proxy.url)
    attrs = sqs.get_queue_attributes(QueueUrl=stack.settings.queue_url, AttributeNames=["QueueArn"])["Attributes"]
    assert attrs["QueueArn"].endswith(":stickers-jobs")
    assert proxy.requests == 3, "two 503s, then the forwarded request"


def test_dynamodb_throttling_is_retried_and_the_claim_lands(stack, api, proxy_factory) -> None:  # noqa: ANN001
    job_id = api.post("/v1/stickers/text", json={"text": "throttled"}).json()["data"]["jobId"]
    proxy = proxy_factory(3, THROTTLED)
    dynamodb = boto3.session.Session().resource("dynamodb", endpoint_url=proxy.url, config=CLIENT_CONFIG, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    outcome, job = JobStore(stack.settings.table_name, dynamodb).claim(job_id, attempt=1)
    assert outcome is ClaimOutcome.CLAIMED and job.attempts == 1
    assert proxy.requests == 5, "three throttled reads, the read, the claim's transaction (job + counters)"


def test_without_retries_the_same_fault_surfaces(stack, proxy_factory) -> None:  # noqa: ANN001
    """The control: one attempt only, and the 503 reaches the caller (so the tests above can fail)."""
    proxy = proxy_factory(1, UNAVAILABLE)
    sqs = client("sqs", proxy.url, Config(retries={"mode": "standard", "total_max_attempts": 1}))
    with pytest.raises(ClientError) as exc:
        sqs.get_queue_attributes(QueueUrl=stack.settings.queue_url, AttributeNames=["QueueArn"])
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_the_retry_budget_is_bounded(stack, proxy_factory) -> None:  # noqa: ANN001
    """A dependency that stays down fails after CLIENT_CONFIG's 1 + 5 retries (callers answer 503 or
    let SQS retry); botocore's `max_attempts` counts retries, not the first try."""
    proxy = proxy_factory(100, UNAVAILABLE)
    with pytest.raises(ClientError):
        client("sqs", proxy.url).get_queue_attributes(QueueUrl=stack.settings.queue_url, AttributeNames=["QueueArn"])
    assert proxy.requests == 6
