"""Presigned upload forms are SigV4 for the regional virtual-hosted S3 URL (issue 11).

botocore presigns S3 POSTs with SigV2 (``AWSAccessKeyId`` / ``signature``) in us-east-1 and other
regions, for the global ``<bucket>.s3.amazonaws.com`` host, unless told otherwise; buckets created
since mid-2020 refuse SigV2. Presigning is computed locally: these tests use dummy credentials, no
endpoint override and no network.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from stickers_core import aws, limits
from stickers_core.storage import Storage

BUCKET = "dev-stickers-uploads-123456789012"
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture
def no_endpoint_override(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:  # noqa: ANN001
    """Plain AWS: no AWS_ENDPOINT_URL*, dummy static credentials, no config files, no IMDS."""
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.reset()
    yield
    aws.reset()


def _post_in(region: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_REGION", region)
    aws.reset()
    storage = Storage(BUCKET, "dev-stickers-stickers")  # the default client: stickers_core.aws.client("s3")
    return storage.presigned_post("uploads/owner/abc", "image/jpeg", limits.UPLOAD_MAX_BYTES, limits.UPLOAD_URL_EXPIRES_S)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
def test_presigned_post_is_sigv4_for_the_regional_virtual_hosted_url(
    region: str, no_endpoint_override: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    post = _post_in(region, monkeypatch)
    url = urlsplit(post["url"])
    assert url.scheme == "https"
    assert url.hostname == f"{BUCKET}.s3.{region}.amazonaws.com", post["url"]
    assert url.path in ("", "/")
    fields = post["fields"]
    assert "AWSAccessKeyId" not in fields and "signature" not in fields, "a SigV2 form: new buckets refuse it"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    credential = fields["x-amz-credential"].split("/")
    assert credential[0] == ACCESS_KEY and credential[2:] == [region, "s3", "aws4_request"]
    assert len(credential[1]) == 8 and credential[1].isdigit()  # yyyymmdd
    assert fields["x-amz-date"].startswith(credential[1]) and fields["x-amz-date"].endswith("Z")
    assert len(fields["x-amz-signature"]) == 64 and int(fields["x-amz-signature"], 16) >= 0
    assert fields["key"] == "uploads/owner/abc" and fields["Content-Type"] == "image/jpeg"
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert {"bucket": BUCKET} in conditions
    assert {"x-amz-algorithm": "AWS4-HMAC-SHA256"} in conditions
    assert {"x-amz-credential": fields["x-amz-credential"]} in conditions
    assert ["content-length-range", 1, limits.UPLOAD_MAX_BYTES] in conditions
    assert {"Content-Type": "image/jpeg"} in conditions


def test_every_s3_client_signs_v4_and_uses_the_regional_endpoint(no_endpoint_override: None, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.reset()
    s3 = aws.client("s3")
    assert s3.meta.config.signature_version == "s3v4"
    assert s3.meta.endpoint_url == "https://s3.us-east-1.amazonaws.com"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "k"}, ExpiresIn=60)
    assert url.startswith(f"https://{BUCKET}.s3.us-east-1.amazonaws.com/k?") and "X-Amz-Signature=" in url
    assert aws.config_for("sqs") is aws.CLIENT_CONFIG, "other services keep the plain retry/timeout config"


def test_with_an_endpoint_override_the_form_points_at_the_emulator(no_endpoint_override: None, monkeypatch) -> None:  # noqa: ANN001
    """The embedded stack sets AWS_ENDPOINT_URL to moto on 127.0.0.1: the form goes there, path-style."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4567")
    post = _post_in("us-east-1", monkeypatch)
    assert post["url"] == f"http://127.0.0.1:4567/{BUCKET}"
    assert post["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256" and "signature" not in post["fields"]
