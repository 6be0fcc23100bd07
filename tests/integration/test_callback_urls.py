"""Bad `callbackUrl`s are refused at submit, over HTTP on the local stack, on every job route; the
local stack's loopback exception stays; ``GET /v1/webhooks/secret`` returns the current secret while
a rotation overlaps.

Host names are answered by a stand-in for :func:`socket.getaddrinfo` (the API handler runs in this
process), so "resolves to a private address" is tested without DNS.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from stickers_core import webhooks
from tests.integration.conftest import KEY_A

pytestmark = pytest.mark.usefixtures("drained")

#: name → the addresses the stand-in resolver answers.
DNS = {
    "public.example": ["93.184.215.14"],
    "intranet.example": ["10.20.30.40"],
    "metadata.example": ["169.254.169.254"],
    "v6-private.example": ["fd00:ec2::254"],
    "half-private.example": ["93.184.215.14", "192.168.0.10"],
    "reserved.example": ["240.0.0.1"],
}

#: (callbackUrl, words the refusal's message must contain)
REFUSED = [
    ("https://public.example:8443/hook", "port"),
    ("https://public.example:80/hook", "port"),
    ("https://93.184.215.14/hook", "IP address"),
    ("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook", "IP address"),
    ("https://127.0.0.1/hook", "IP address"),
    ("https://user:secret@public.example/hook", "user info"),
    ("https://user@public.example/hook", "user info"),
    ("https://localhost/hook", "private, loopback"),
    ("https://intranet.example/hook", "private, loopback"),
    ("https://metadata.example/hook", "private, loopback"),
    ("https://v6-private.example/hook", "private, loopback"),
    ("https://half-private.example/hook", "private, loopback"),
    ("https://reserved.example/hook", "private, loopback"),
    ("https://no-such-host.example/hook", "does not resolve"),
    ("http://public.example/hook", "https"),
    ("http://10.20.30.40:8080/hook", "https"),
]


@pytest.fixture(autouse=True)
def stand_in_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if isinstance(host, str) and host.endswith(".example"):
            if host not in DNS:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in DNS[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _newest_job(api: httpx.Client) -> str | None:
    jobs = api.get("/v1/jobs", params={"limit": 1}).json()["jobs"]
    return jobs[0]["jobId"] if jobs else None


def _refused(response: httpx.Response, words: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "INVALID_REQUEST" and body["field"] == "callbackUrl", body
    assert words in body["error"], body


@pytest.mark.parametrize("url,words", REFUSED)
def test_a_bad_callback_url_is_refused_at_submit_on_every_job_route(api: httpx.Client, cat_photo: bytes, url: str, words: str) -> None:
    before = _newest_job(api)
    _refused(api.post("/v1/stickers/text", json={"text": "hook", "callbackUrl": url}), words)
    _refused(api.post("/v1/stickers/image", files={"image": ("cat.jpg", cat_photo)}, data={"callbackUrl": url}), words)
    _refused(api.post("/v1/stickers/image", json={"uploadId": "0" * 32, "callbackUrl": url}), words)
    assert _newest_job(api) == before, "no job was made: the URL is refused, not dropped later"


def test_good_callback_urls_and_the_local_loopback_exception_are_accepted(api: httpx.Client) -> None:
    for url in ("https://public.example/hook", "https://public.example:443/hook?x=1", "http://127.0.0.1:9/hook", "http://localhost:9/hook"):
        r = api.post("/v1/stickers/text", json={"text": "hook", "callbackUrl": url})
        assert r.status_code == 202, (url, r.text)
        assert api.get(f"/v1/jobs/{r.json()['data']['jobId']}").status_code == 200


def test_the_secret_route_returns_the_current_secret_during_a_rotation(api: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from local_stack.stack import api_key_id

    monkeypatch.setenv("STICKERS_WEBHOOK_SECRET", json.dumps({"current": "master-new", "previous": "master-old"}))
    doc = api.get("/v1/webhooks/secret").json()
    assert doc["secret"] == webhooks.key_secret(api_key_id(KEY_A), "master-new")
    assert doc["header"] == "x-sticker-signature" and "x-sticker-timestamp" in doc["format"]
