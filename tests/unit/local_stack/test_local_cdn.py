"""The CloudFront front of the local stack: the page, its config.json and the stickers, on their own origin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local_stack.aws_emulator import EmbeddedAws
from local_stack.cdn import SECURITY_HEADERS, CdnEmulator, site_file
from stickers_core.settings import Settings


@pytest.fixture()
def cdn(aws: EmbeddedAws, settings: Settings, tmp_path: Path) -> Iterator[CdnEmulator]:
    (tmp_path / "index.html").write_text("<h1>page</h1>")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("swagger")
    with CdnEmulator(aws.client("s3"), settings.stickers_bucket, api_url="http://127.0.0.1:9/", site_dir=tmp_path) as front:
        yield front


def test_the_page_and_its_config_point_at_the_api(cdn: CdnEmulator) -> None:
    page = httpx.get(cdn.url + "/")
    assert page.status_code == 200 and "page" in page.text and page.headers["content-type"].startswith("text/html")
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    config = httpx.get(cdn.url + "/config.json")
    assert config.status_code == 200 and config.json() == {"apiUrl": "http://127.0.0.1:9/"}
    cdn.api_url = "http://127.0.0.1:10"
    assert json.loads(httpx.get(cdn.url + "/config.json").text) == {"apiUrl": "http://127.0.0.1:10/"}


def test_what_the_site_bucket_lacks_is_access_denied(cdn: CdnEmulator) -> None:
    assert httpx.get(cdn.url + "/docs/index.html").status_code == 200  # the API reference is static content
    for path in ("/docs/", "/nope.html", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd"):
        response = httpx.get(cdn.url + path)
        assert response.status_code == 403 and b"AccessDenied" in response.content, path
    assert httpx.post(cdn.url + "/", content=b"x").status_code == 403


def test_stickers_are_served_with_their_headers_and_cors(cdn: CdnEmulator, aws: EmbeddedAws, settings: Settings) -> None:
    aws.client("s3").put_object(
        Bucket=settings.stickers_bucket, Key="stickers/j1/1-classic.png", Body=b"\x89PNG fake",
        ContentType="image/png", CacheControl="public, max-age=31536000, immutable",
    )  # fmt: skip
    response = httpx.get(cdn.url + "/stickers/j1/1-classic.png", headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200 and response.content == b"\x89PNG fake"
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["access-control-allow-origin"] == "*" and response.headers["etag"]
    preflight = httpx.options(cdn.url + "/stickers/j1/1-classic.png", headers={"Origin": "https://elsewhere.example"})
    assert preflight.status_code == 200 and "GET" in preflight.headers["access-control-allow-methods"]
    missing = httpx.get(cdn.url + "/stickers/j1/9-nope.png")
    assert missing.status_code == 403 and b"AccessDenied" in missing.content


def test_site_file_maps_paths_like_the_deployment(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("x")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.js").write_text("x")
    assert site_file(tmp_path, "/") == (tmp_path / "index.html").resolve()
    assert site_file(tmp_path, "/index.html") == (tmp_path / "index.html").resolve()
    assert site_file(tmp_path, "/docs/a.js") == (tmp_path / "docs" / "a.js").resolve()
    assert site_file(tmp_path, "/docs/") is None
    assert site_file(tmp_path, "/../x") is None


def test_the_page_answers_with_its_content_security_policy(aws: EmbeddedAws, settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<style>b{}</style><script>go()</script><script src='x.js'></script>")
    with CdnEmulator(aws.client("s3"), settings.stickers_bucket, api_url="http://127.0.0.1:9/v", site_dir=tmp_path,
                     connect_src=["http://127.0.0.1:7"]) as front:  # fmt: skip
        csp = httpx.get(front.url + "/").headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["default-src"] == ["'none'"]
    assert len(directives["script-src"]) == 2 and directives["script-src"][1].startswith("'sha256-")  # self + the one inline block
    assert directives["connect-src"] == ["'self'", "http://127.0.0.1:9", "http://127.0.0.1:7"]
    assert "'unsafe-inline'" not in csp
