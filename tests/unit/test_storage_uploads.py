"""Reading uploads when the role may list the bucket only under ``uploads/`` (``s3:prefix`` condition):
S3 then answers a GetObject of a missing key with 403, so "absent" is confirmed by a prefix listing and a
real permission error still surfaces. Driven with botocore's Stubber (the requests S3 would get)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from stickers_core.storage import Storage

KEY = "uploads/owner/0b9f6a36-7c1e-4a39-9d53-2d0c3cc1f1a4"


@pytest.fixture()
def s3():  # noqa: ANN201
    client = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stub:
        yield client, stub


def _listing(stub: Stubber, keys: list[str]) -> None:
    stub.add_response(
        "list_objects_v2",
        {"Contents": [{"Key": k, "Size": 123} for k in keys], "KeyCount": len(keys)},
        {"Bucket": "up", "Prefix": KEY, "MaxKeys": 1},
    )


def test_access_denied_on_a_missing_upload_reads_as_absent(s3) -> None:  # noqa: ANN001
    client, stub = s3
    stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
    _listing(stub, [])
    assert Storage("up", "st", s3=client).get_upload(KEY) is None
    stub.assert_no_pending_responses()


def test_access_denied_on_an_existing_upload_is_a_real_error(s3) -> None:  # noqa: ANN001
    client, stub = s3
    stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
    _listing(stub, [KEY])
    with pytest.raises(ClientError):
        Storage("up", "st", s3=client).get_upload(KEY)


def test_no_such_key_needs_no_listing(s3) -> None:  # noqa: ANN001
    client, stub = s3
    stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
    assert Storage("up", "st", s3=client).get_upload(KEY) is None
    stub.assert_no_pending_responses()


def test_upload_size_lists_under_the_keys_own_prefix(s3) -> None:  # noqa: ANN001
    client, stub = s3
    _listing(stub, [KEY])
    _listing(stub, [KEY + "-other"])
    storage = Storage("up", "st", s3=client)
    assert storage.upload_size(KEY) == 123
    assert storage.upload_size(KEY) is None
