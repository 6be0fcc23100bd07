"""The embedded AWS: moto server lifecycle and the resources `provision` creates."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from local_stack.aws_emulator import (
    IDEMPOTENCY_TABLE_NAME,
    EmbeddedAws,
    aws_environ,
    provision,
)
from stickers_core import limits
from stickers_core.settings import Settings


def test_start_reports_a_loopback_url_and_stop_is_idempotent() -> None:
    emulator = EmbeddedAws()
    with pytest.raises(RuntimeError):
        _ = emulator.endpoint_url
    url = emulator.start()
    assert url.startswith("http://127.0.0.1:") and emulator.start() == url
    assert emulator.client("s3").list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    emulator.stop()
    emulator.stop()
    assert not emulator.running


def test_provision_returns_settings_that_reach_the_resources(aws: EmbeddedAws, settings: Settings) -> None:
    assert settings.table_name == limits.TABLE_NAME
    assert settings.uploads_bucket == limits.UPLOADS_BUCKET_NAME
    assert settings.stickers_bucket == limits.STICKERS_BUCKET_NAME
    assert settings.cdn_base_url == "http://127.0.0.1:1/cdn"
    assert settings.queue_url.startswith(aws.endpoint_url) and settings.queue_url.endswith(limits.QUEUE_NAME)
    assert settings.dlq_url.endswith(limits.DLQ_NAME)
    assert (settings.visibility_timeout_s, settings.max_attempts) == (30, 3)
    again = provision(aws, cdn_base_url="http://127.0.0.1:1/cdn", visibility_timeout_s=30, max_attempts=3)
    assert again == settings


def test_jobs_table_has_owner_index_and_ttl(aws: EmbeddedAws, settings: Settings) -> None:
    dynamodb = aws.client("dynamodb")
    table = dynamodb.describe_table(TableName=settings.table_name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "jobId", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == limits.OWNER_INDEX_NAME
    assert index["KeySchema"] == [
        {"AttributeName": "ownerId", "KeyType": "HASH"},
        {"AttributeName": "createdAt", "KeyType": "RANGE"},
    ]
    assert index["Projection"]["ProjectionType"] == "ALL"
    ttl = dynamodb.describe_time_to_live(TableName=settings.table_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}

    idem = dynamodb.describe_table(TableName=IDEMPOTENCY_TABLE_NAME)["Table"]
    assert idem["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    idem_ttl = dynamodb.describe_time_to_live(TableName=IDEMPOTENCY_TABLE_NAME)["TimeToLiveDescription"]
    assert idem_ttl["AttributeName"] == "expiration"


def test_queues_have_the_redrive_policy(aws: EmbeddedAws, settings: Settings) -> None:
    sqs = aws.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=settings.queue_url, AttributeNames=["All"])["Attributes"]
    dlq_attrs = sqs.get_queue_attributes(QueueUrl=settings.dlq_url, AttributeNames=["All"])["Attributes"]
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_attrs["QueueArn"], "maxReceiveCount": 3}
    assert attrs["VisibilityTimeout"] == "30"
    assert attrs["ReceiveMessageWaitTimeSeconds"] == str(limits.RECEIVE_WAIT_S)
    assert dlq_attrs["MessageRetentionPeriod"] == str(limits.DLQ_RETENTION_DAYS * 86_400)


def test_sqs_moves_a_message_to_the_dlq_after_max_attempts_receives(aws: EmbeddedAws, settings: Settings) -> None:
    sqs = aws.client("sqs")
    sqs.purge_queue(QueueUrl=settings.queue_url)
    sqs.purge_queue(QueueUrl=settings.dlq_url)
    sqs.send_message(QueueUrl=settings.queue_url, MessageBody="poison")
    counts = []
    for _ in range(settings.max_attempts + 2):
        received = sqs.receive_message(
            QueueUrl=settings.queue_url, VisibilityTimeout=0, WaitTimeSeconds=0, AttributeNames=["All"]
        ).get("Messages", [])
        counts.append([m["Attributes"]["ApproximateReceiveCount"] for m in received])
    # Received exactly max_attempts times; the next receive moves it to the DLQ instead of returning it.
    assert counts == [["1"], ["2"], ["3"], [], []]
    (dead,) = sqs.receive_message(QueueUrl=settings.dlq_url, WaitTimeSeconds=0)["Messages"]
    assert dead["Body"] == "poison"


def test_buckets_exist_and_uploads_bucket_allows_browser_posts(aws: EmbeddedAws, settings: Settings) -> None:
    s3 = aws.client("s3")
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {settings.uploads_bucket, settings.stickers_bucket} <= names
    (rule,) = s3.get_bucket_cors(Bucket=settings.uploads_bucket)["CORSRules"]
    assert "POST" in rule["AllowedMethods"] and rule["AllowedOrigins"] == ["*"]


def test_presigned_post_is_accepted_but_content_length_range_is_not_enforced(
    aws: EmbeddedAws, settings: Settings
) -> None:
    """Documents moto's behaviour: the POST works, the policy's conditions are not checked."""
    s3 = aws.client("s3")
    post = s3.generate_presigned_post(
        settings.uploads_bucket,
        "uploads/probe.jpg",
        Fields={"Content-Type": "image/jpeg"},
        Conditions=[{"Content-Type": "image/jpeg"}, ["content-length-range", 1, 100]],
        ExpiresIn=limits.UPLOAD_URL_EXPIRES_S,
    )
    response = httpx.post(post["url"], data=post["fields"], files={"file": ("p.jpg", b"\xff" * 500, "image/jpeg")})
    assert response.status_code == 204
    assert s3.head_object(Bucket=settings.uploads_bucket, Key="uploads/probe.jpg")["ContentLength"] == 500


def test_aws_environ_lets_a_child_process_reach_the_emulator(aws: EmbeddedAws, settings: Settings) -> None:
    env = {**os.environ, **aws_environ(aws.endpoint_url)}
    code = "import boto3; print(sorted(b['Name'] for b in boto3.client('s3').list_buckets()['Buckets']))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert settings.stickers_bucket in out.stdout


def test_a_cancelled_transaction_changes_no_item_and_leaves_no_stream_record(aws: EmbeddedAws, settings: Settings) -> None:
    """TransactWriteItems is all-or-nothing with the emulator's item-level rollback: the Put and the Update
    that passed their conditions are undone when a later ConditionCheck fails, and the jobs table's stream
    (live progress reads it) shows nothing of it; a transaction whose conditions hold writes everything."""
    dynamodb = aws.client("dynamodb")
    table = settings.table_name
    dynamodb.put_item(TableName=table, Item={"jobId": {"S": "tx-kept"}, "status": {"S": "queued"}})
    stream_arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = aws.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def stream_length() -> int:
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return len(streams.get_records(ShardIterator=iterator, Limit=1000)["Records"])

    before = stream_length()
    writes = [
        {"Put": {"TableName": table, "Item": {"jobId": {"S": "tx-new"}, "status": {"S": "queued"}}}},
        {"Update": {"TableName": table, "Key": {"jobId": {"S": "tx-kept"}}, "UpdateExpression": "SET #s = :s",
                    "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":s": {"S": "processing"}}}},
    ]  # fmt: skip
    failing_check = {"ConditionCheck": {"TableName": table, "Key": {"jobId": {"S": "tx-absent"}}, "ConditionExpression": "attribute_exists(jobId)"}}
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(TransactItems=[*writes, failing_check])
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"jobId": {"S": "tx-new"}})
    assert dynamodb.get_item(TableName=table, Key={"jobId": {"S": "tx-kept"}})["Item"]["status"] == {"S": "queued"}
    assert stream_length() == before

    dynamodb.transact_write_items(TransactItems=writes)
    assert dynamodb.get_item(TableName=table, Key={"jobId": {"S": "tx-new"}})["Item"]["status"] == {"S": "queued"}
    assert dynamodb.get_item(TableName=table, Key={"jobId": {"S": "tx-kept"}})["Item"]["status"] == {"S": "processing"}
    assert stream_length() == before + 2
