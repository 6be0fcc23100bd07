"""An idempotent replay of POST /v1/uploads never hands out a presigned form past its expiry (security
review, issue 12): the upload route's idempotency record lives less than the form, a replay reports the
seconds the form has left, and a repeat after the record expired gets a fresh slot."""

from __future__ import annotations

import time

import httpx

from functions.api import app as api_app
from stickers_core import limits

BODY = {"contentType": "image/jpeg", "contentLength": 5_000_000}


def test_a_replayed_upload_slot_never_outlives_its_form(stack, api: httpx.Client) -> None:  # noqa: ANN001
    key = f"upload-{time.time_ns()}"
    first = api.post("/v1/uploads", json=BODY, headers={"Idempotency-Key": key})
    assert first.status_code == 200 and first.headers["x-idempotent-replayed"] == "false"
    assert first.json()["expiresIn"] == limits.UPLOAD_URL_EXPIRES_S
    again = api.post("/v1/uploads", json=BODY, headers={"Idempotency-Key": key})
    assert again.headers["x-idempotent-replayed"] == "true"
    assert again.json()["uploadId"] == first.json()["uploadId"]
    assert 0 < again.json()["expiresIn"] <= limits.UPLOAD_URL_EXPIRES_S

    # the record's expiry (epoch seconds) comes before the form's
    records = stack.aws.client("dynamodb").scan(TableName=stack.settings.idempotency_table)["Items"]
    expirations = [int(r["expiration"]["N"]) for r in records if first.json()["uploadId"] in r.get("data", {}).get("S", "")]
    assert expirations and max(expirations) <= time.time() + api_app.UPLOAD_REPLAY_TTL_S + 5
    assert api_app.UPLOAD_REPLAY_TTL_S < limits.UPLOAD_URL_EXPIRES_S

    # once the record has expired, the same key gets a fresh slot instead of the spent form
    table = stack.aws.client("dynamodb")
    for record in records:
        if first.json()["uploadId"] in record.get("data", {}).get("S", ""):
            table.update_item(
                TableName=stack.settings.idempotency_table, Key={"id": record["id"]},
                UpdateExpression="SET expiration = :past", ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 10)}},
            )  # fmt: skip
    fresh = api.post("/v1/uploads", json=BODY, headers={"Idempotency-Key": key})
    assert fresh.status_code == 200 and fresh.headers["x-idempotent-replayed"] == "false"
    assert fresh.json()["uploadId"] != first.json()["uploadId"] and fresh.json()["expiresIn"] == limits.UPLOAD_URL_EXPIRES_S
