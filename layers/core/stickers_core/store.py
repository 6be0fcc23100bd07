"""The DynamoDB job store. Every state transition is a conditional write.

SQS delivers at least once and workers die, so each write states the state it expects: a duplicate
delivery cannot claim a job twice, a late worker cannot overwrite the attempt that replaced it, and a
finished job is never reopened (DESIGN.md, "Principles").
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from enum import Enum
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from stickers_core import aws, limits
from stickers_core.errors import JobNotFound
from stickers_core.models import Job, JobStatus, is_job_id, iso, utc_now


class ClaimOutcome(Enum):
    """What happened when a worker tried to claim a job for an attempt."""

    CLAIMED = "claimed"  #: the attempt owns the job now
    FINISHED = "finished"  #: the job is completed or failed: the message is a late duplicate
    MISSING = "missing"  #: no such job (deleted): nothing to do
    BUSY = "busy"  #: another delivery of the same or a later attempt holds it


class AttemptLost(Exception):
    """The attempt no longer owns the job (it was reclaimed after a visibility timeout, or deleted)."""


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class JobStore:
    """Job records in one DynamoDB table (pk `jobId`; GSI `byOwner`: `ownerId` + `createdAt`).

    Args:
        table_name: the jobs table.
        dynamodb: a boto3 DynamoDB resource (default: :func:`stickers_core.aws.resource`).
    """

    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self.table = (dynamodb or aws.resource("dynamodb")).Table(table_name)

    # --- API side ---------------------------------------------------------------------------------
    def create(self, job: Job) -> None:
        """Write a new job; refuses to overwrite an existing id (ConditionalCheckFailed → ClientError)."""
        self.table.put_item(Item=job.to_item(), ConditionExpression="attribute_not_exists(jobId)")

    def get(self, job_id: str, owner_id: str | None = None) -> Job:
        """Read a job (strongly consistent). With `owner_id`, another key's job is "not found" too.

        Raises:
            JobNotFound: no such job, a malformed id, or a job of another owner.
        """
        if not is_job_id(job_id):
            raise JobNotFound()
        item = self.table.get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item")
        if item is None or (owner_id is not None and item.get("ownerId") != owner_id):
            raise JobNotFound()
        return Job.from_item(item)

    def list_for_owner(self, owner_id: str, limit: int, next_token: str | None = None) -> tuple[list[Job], str | None]:
        """One owner's jobs, newest first, a page at a time.

        Args:
            owner_id: API key id.
            limit: page size (1–100).
            next_token: opaque token from the previous page.

        Returns:
            ``(jobs, next_token or None)``.

        Raises:
            ValueError: a malformed `next_token`.
        """
        kwargs: dict[str, Any] = {
            "IndexName": limits.OWNER_INDEX_NAME,
            "KeyConditionExpression": Key("ownerId").eq(owner_id),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            kwargs["ExclusiveStartKey"] = _decode_token(next_token, owner_id)
        page = self.table.query(**kwargs)
        jobs = [Job.from_item(item) for item in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return jobs, (_encode_token(last) if last else None)

    def count_for_owner(self, owner_id: str) -> Counter[str]:
        """Number of jobs per status for one owner (a paginated query of the owner index)."""
        counts: Counter[str] = Counter()
        kwargs: dict[str, Any] = {
            "IndexName": limits.OWNER_INDEX_NAME,
            "KeyConditionExpression": Key("ownerId").eq(owner_id),
            "ProjectionExpression": "#s",
            "ExpressionAttributeNames": {"#s": "status"},
        }
        while True:
            page = self.table.query(**kwargs)
            counts.update(item["status"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return counts
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete(self, job_id: str, owner_id: str) -> Job:
        """Delete a job record that is not `active`.

        Returns:
            The deleted job (its upload and stickers are the caller's to delete).

        Raises:
            JobNotFound: no such job for this owner.
            ClientError: ConditionalCheckFailed when the job is `active` (or became so meanwhile).
        """
        job = self.get(job_id, owner_id)
        self.table.delete_item(
            Key={"jobId": job_id},
            ConditionExpression="ownerId = :o AND #s <> :active",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":o": owner_id, ":active": JobStatus.ACTIVE.value},
        )
        return job

    # --- worker side ------------------------------------------------------------------------------
    def claim(self, job_id: str, attempt: int) -> tuple[ClaimOutcome, Job | None]:
        """Make `attempt` (the SQS receive count) the owner of a queued or abandoned job.

        A job is claimable when it is `queued`, or `active` under an older attempt whose worker died
        (its message reappeared after the visibility timeout), and its `attempts` is below `attempt`.

        Returns:
            ``(outcome, job)``; `job` is the claimed record for CLAIMED, the current one otherwise
            (None when MISSING).
        """
        if not is_job_id(job_id):
            return ClaimOutcome.MISSING, None
        item = self._conditional_update(
            job_id,
            "SET #s = :active, attempts = :a, progress = :p, startedAt = :now",
            "attribute_exists(jobId) AND #s IN (:queued, :active) AND attempts < :a",
            {
                ":active": JobStatus.ACTIVE.value,
                ":queued": JobStatus.QUEUED.value,
                ":a": attempt,
                ":p": 0,
                ":now": iso(utc_now()),
            },
        )
        if item is not None:
            return ClaimOutcome.CLAIMED, Job.from_item(item)
        item = self.table.get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item")
        if item is None:
            return ClaimOutcome.MISSING, None
        job = Job.from_item(item)
        return (ClaimOutcome.FINISHED if job.status.terminal else ClaimOutcome.BUSY), job

    def _conditional_update(self, job_id: str, update: str, condition: str, values: dict[str, Any]) -> dict[str, Any] | None:
        """Apply `update` when `condition` holds; the new item, or None when the condition failed.

        ``#s`` and ``#e`` in the expressions name the `status` and `error` attributes.
        """
        names = {"#s": "status"} | ({"#e": "error"} if "#e" in update + condition else {})
        try:
            return self.table.update_item(
                Key={"jobId": job_id},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise

    def _owned_update(self, job_id: str, attempt: int, update: str, values: dict[str, Any], extra_condition: str = "") -> dict[str, Any] | None:
        """Apply `update` only while `attempt` owns the job; None when the condition failed."""
        condition = "#s = :active AND attempts = :a" + (f" AND {extra_condition}" if extra_condition else "")
        return self._conditional_update(job_id, update, condition, {":active": JobStatus.ACTIVE.value, ":a": attempt, **values})

    def _still_owned(self, job_id: str, attempt: int) -> bool:
        item = self.table.get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item")
        return bool(item) and item.get("status") == JobStatus.ACTIVE.value and int(item.get("attempts", 0)) == attempt

    def set_progress(self, job_id: str, attempt: int, progress: int) -> None:
        """Raise the progress of the attempt that owns the job (never lowers it).

        Raises:
            AttemptLost: the attempt no longer owns the job.
        """
        done = self._owned_update(job_id, attempt, "SET progress = :p", {":p": progress}, "progress < :p")
        if done is None and not self._still_owned(job_id, attempt):
            raise AttemptLost(job_id)

    def complete(self, job_id: str, attempt: int, sticker_keys: list[str], processing_ms: int) -> Job:
        """Mark the job `completed` with its stickers' S3 keys and the attempt's wall time (ms).

        Raises:
            AttemptLost: the attempt no longer owns the job.
        """
        item = self._owned_update(
            job_id,
            attempt,
            "SET #s = :done, progress = :p, stickerKeys = :k, completedAt = :now, processingMs = :ms REMOVE #e",
            {":done": JobStatus.COMPLETED.value, ":p": 100, ":k": sticker_keys, ":now": iso(utc_now()), ":ms": processing_ms},
        )
        if item is None:
            raise AttemptLost(job_id)
        return Job.from_item(item)

    def release_for_retry(self, job_id: str, attempt: int, error: str) -> bool:
        """Hand a failed attempt's job back to `queued` with its error; SQS redelivers the message.

        Returns:
            False when the attempt no longer owned the job (nothing written).
        """
        update = "SET #s = :queued, progress = :zero, #e = :err"
        values = {":queued": JobStatus.QUEUED.value, ":zero": 0, ":err": error}
        return self._owned_update(job_id, attempt, update, values) is not None

    def fail(self, job_id: str, error: str, attempt: int | None = None) -> Job | None:
        """Mark a job `failed` for good with `error`.

        Args:
            job_id: the job.
            error: the sentence callers will read.
            attempt: when given, only the attempt that owns the job may fail it (worker side); when
                None, any non-terminal job is failed (the dead-letter handler).

        Returns:
            The failed job, or None when the condition did not hold (already terminal, missing, or
            owned by another attempt).
        """
        update = "SET #s = :failed, #e = :err, completedAt = :now"
        values: dict[str, Any] = {":failed": JobStatus.FAILED.value, ":err": error, ":now": iso(utc_now())}
        if attempt is None:
            item = self._conditional_update(
                job_id, update, "#s IN (:queued, :active)", values | {":queued": JobStatus.QUEUED.value, ":active": JobStatus.ACTIVE.value}
            )
        else:
            item = self._owned_update(job_id, attempt, update, values)
        return Job.from_item(item) if item is not None else None


def _encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str, owner_id: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        raise ValueError("malformed nextToken") from None
    if not isinstance(key, dict) or key.get("ownerId") != owner_id or set(key) != {"jobId", "ownerId", "createdAt"}:
        raise ValueError("malformed nextToken")
    if not all(isinstance(v, str) for v in key.values()):
        raise ValueError("malformed nextToken")
    return key
