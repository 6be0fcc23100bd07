"""The DynamoDB job store. Every state transition is a conditional write.

SQS delivers at least once and workers die, so each write states the state it expects: a duplicate
delivery cannot claim a job twice, a late worker cannot overwrite the attempt that replaced it, and a
finished job is never reopened (docs/design.md, "Principles").

Per-owner job counts (``GET /v1/stats``) are kept in one counters item per owner in the same table
(pk ``jobId = "COUNTERS#<ownerId>"``, numbers ``queued``, ``active``, ``completed``, ``failed``). Each
transition that changes a job's status writes the job item and ``ADD``s to its owner's counters in one
``TransactWriteItems``: the job item's condition (the status it expects) decides for both, so a
transition that a duplicate delivery, a late attempt or a concurrent delete loses is counted nowhere,
and one that happens is counted exactly once. botocore fills the transaction's ``ClientRequestToken``
once per call, so its own retries of a transaction whose answer was lost are idempotent too.

Why the jobs table and not a table of its own: the table's only key is ``jobId`` (a string), a key
that is never a UUID cannot collide with a job, and the counters item has no ``ownerId`` or
``createdAt``, so the sparse ``byOwner`` index (the job listing) never sees it; the local stack and
the CDK stack need nothing new, and the functions' existing grants cover it (a transaction's Put,
Update and Delete are authorised as PutItem, UpdateItem and DeleteItem).

What the counters mean: the owner's jobs created since the counters exist and not deleted through
``DELETE /v1/jobs/{jobId}``, by their last status. DynamoDB's TTL removes expired records (after
:data:`stickers_core.limits.RETENTION_DAYS`) without telling anyone (short of a DynamoDB stream), so an
expired job stays counted under the status it ended in. Jobs that predate the counters are not in them;
their later transitions could drive a counter below zero, which :meth:`JobStore.count_for_owner`
reports as 0.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
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


class JobActive(Exception):
    """The job is `active` (a worker holds it), so it cannot be deleted now."""


#: Partition-key prefix of an owner's counters item (job ids are UUIDs, so no job can have it).
COUNTERS_PREFIX = "COUNTERS#"
#: The key the health check reads (never written: job ids are UUIDs).
HEALTH_KEY = "HEALTH#probe"
#: Times a transition re-reads the job and tries again when its conditional write lost a race.
_RACES = 5
#: Times a transaction cancelled by a conflicting one on the same item (``TransactionConflict``:
#: two transitions of one owner's jobs meeting on the counters item) is sent again, with jittered
#: exponential backoff from :data:`_CONFLICT_BACKOFF_S` seconds.
_CONFLICTS = 6
_CONFLICT_BACKOFF_S = 0.02


def counters_key(owner_id: str) -> dict[str, str]:
    """The primary key of `owner_id`'s counters item in the jobs table."""
    return {"jobId": f"{COUNTERS_PREFIX}{owner_id}"}


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _cancellation_codes(exc: ClientError) -> list[str]:
    """The per-item reason codes of a ``TransactionCanceledException`` (empty for other errors)."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    return [str(reason.get("Code", "None")) for reason in exc.response.get("CancellationReasons", [])]


class JobStore:
    """Job records in one DynamoDB table (pk `jobId`; GSI `byOwner`: `ownerId` + `createdAt`).

    Args:
        table_name: the jobs table.
        dynamodb: a boto3 DynamoDB resource (default: :func:`stickers_core.aws.resource`).
    """

    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self.table = (dynamodb or aws.resource("dynamodb")).Table(table_name)

    # --- transactions -----------------------------------------------------------------------------
    def _counters_update(self, owner_id: str, delta: Mapping[JobStatus, int]) -> dict[str, Any] | None:
        """The transaction element that ``ADD``s `delta` to the owner's counters (None: nothing to add)."""
        changes = [(status, n) for status, n in delta.items() if n]
        if not changes:
            return None
        return {
            "Update": {
                "TableName": self.table.name,
                "Key": counters_key(owner_id),
                "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(changes))),
                "ExpressionAttributeNames": {f"#c{i}": status.value for i, (status, _) in enumerate(changes)},
                "ExpressionAttributeValues": {f":c{i}": n for i, (_, n) in enumerate(changes)},
            }
        }

    def _transact(self, job_write: dict[str, Any], owner_id: str, delta: Mapping[JobStatus, int]) -> bool:
        """Write the job item (`job_write`, one conditional ``Put``/``Update``/``Delete`` element) and
        add `delta` to its owner's counters, atomically.

        Returns:
            False when the job item's condition failed (nothing was written).

        Raises:
            ClientError: any other failure, including a ``TransactionConflict`` that outlasted
                :data:`_CONFLICTS` tries.
        """
        items = [job_write]
        counters = self._counters_update(owner_id, delta)
        if counters is not None:
            items.append(counters)
        client = self.table.meta.client
        for attempt in range(_CONFLICTS):
            try:
                client.transact_write_items(TransactItems=items)
                return True
            except ClientError as exc:
                codes = _cancellation_codes(exc)
                if codes and codes[0] == "ConditionalCheckFailed":
                    return False
                if "TransactionConflict" in codes and attempt + 1 < _CONFLICTS:
                    time.sleep(random.uniform(0.5, 1.0) * _CONFLICT_BACKOFF_S * 2**attempt)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, job_id: str) -> Job | None:
        item = self.table.get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item")
        return Job.from_item(item) if item is not None else None

    def _transition(
        self,
        job_id: str,
        accepts: Callable[[Job], bool],
        to: JobStatus | None,
        sets: Mapping[str, Any] | Callable[[Job], Mapping[str, Any]] | None = None,
        removes: tuple[str, ...] = (),
        condition: str = "",
        values: Mapping[str, Any] | None = None,
    ) -> tuple[Job | None, Job | None]:
        """Move a job from the status it has now to `to` (None: delete it), counted in its owner's
        counters in the same transaction.

        Reads the job (strongly consistent); when `accepts` approves it, writes it under the condition
        that its status is still the one read (and `condition`, which must say in DynamoDB terms what
        `accepts` checks beyond the status; ``#s`` names `status`), and moves one count from that status
        to `to`. A condition lost to a concurrent write is retried from a fresh read (:data:`_RACES` times).

        Args:
            job_id: the job.
            accepts: whether the job as read may make this transition.
            to: the new status, or None to delete the record.
            sets: attribute name → new value (the item's names: ``progress``, ``completedAt``…), or a
                function of the job as read that gives them (values that depend on its current state).
            removes: attributes to remove.
            condition, values: the extra condition and its ``:placeholders``.

        Returns:
            ``(before, after)``: the job as last read (None when missing) and the job after the
            transition (None when it did not happen; the deleted job's last state for a delete).
        """
        sets_of = sets if callable(sets) else (lambda _job, fixed=dict(sets or {}): fixed)
        for _ in range(_RACES):
            current = self._read(job_id)
            if current is None or not accepts(current):
                return current, None
            sets = dict(sets_of(current))
            names = {"#s": "status"}
            expr_values: dict[str, Any] = {":from": current.status.value, **(values or {})}
            body: dict[str, Any] = {
                "TableName": self.table.name,
                "Key": {"jobId": job_id},
                "ConditionExpression": "#s = :from" + (f" AND ({condition})" if condition else ""),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": expr_values,
            }
            if to is None:
                write = {"Delete": body}
                delta = {current.status: -1}
            else:
                assignments = ["#s = :to"]
                expr_values[":to"] = to.value
                for i, (name, value) in enumerate(sets.items()):
                    names[f"#a{i}"] = name
                    expr_values[f":a{i}"] = value
                    assignments.append(f"#a{i} = :a{i}")
                body["UpdateExpression"] = "SET " + ", ".join(assignments)
                if removes:
                    names |= {f"#r{i}": name for i, name in enumerate(removes)}
                    body["UpdateExpression"] += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removes)))
                write = {"Update": body}
                delta = {current.status: -1, to: 1} if current.status is not to else {}
            if self._transact(write, current.owner_id, delta):
                if to is None:
                    return current, current
                item = current.to_item() | sets | {"status": to.value}
                for name in removes:
                    item.pop(name, None)
                return current, Job.from_item(item)
        return current, None

    # --- API side ---------------------------------------------------------------------------------
    def create(self, job: Job) -> None:
        """Write a new `queued` job and count it in its owner's counters (one transaction).

        Raises:
            ClientError: ``ConditionalCheckFailedException`` when a job with this id exists (nothing
                written, nothing counted); any other DynamoDB error.
        """
        put = {
            "Put": {
                "TableName": self.table.name,
                "Item": job.to_item(),
                "ConditionExpression": "attribute_not_exists(jobId)",
            }
        }
        if not self._transact(put, job.owner_id, {job.status: 1}):
            error = {"Code": "ConditionalCheckFailedException", "Message": f"job {job.job_id} already exists"}
            raise ClientError({"Error": error}, "TransactWriteItems")

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
        """Number of the owner's jobs per status (``queued``, ``active``, ``completed``, ``failed``):
        one strongly consistent GetItem of the owner's counters item, whatever the number of jobs.

        What the counts mean (module docstring): jobs created since the counters exist and not deleted
        by the owner, by their last status; expired (TTL-removed) records stay counted. A counter below
        zero (a job older than the counters changed status) reads 0.
        """
        item = self.table.get_item(Key=counters_key(owner_id), ConsistentRead=True).get("Item") or {}
        counts: Counter[str] = Counter()
        for status in JobStatus:
            counts[status.value] = max(0, int(item.get(status.value, 0)))
        return counts

    def probe(self) -> None:
        """Raise unless the table answers: one eventually consistent GetItem of a key no job can have
        (:data:`HEALTH_KEY`; half a read unit, within the functions' GetItem grants; ``GET /v1/health``).

        Raises:
            botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError: the table did not answer.
        """
        self.table.meta.client.get_item(TableName=self.table.name, Key={"jobId": HEALTH_KEY})

    def delete(self, job_id: str, owner_id: str) -> Job:
        """Delete a job record that is not `active`, and take it out of its owner's counters (one
        transaction).

        Returns:
            The deleted job (its upload and stickers are the caller's to delete).

        Raises:
            JobNotFound: no such job for this owner (a malformed id too).
            JobActive: the job is `active` (or became so meanwhile).
        """
        if not is_job_id(job_id):
            raise JobNotFound()
        before, deleted = self._transition(
            job_id,
            lambda job: job.owner_id == owner_id and job.status is not JobStatus.ACTIVE,
            None,
            condition="ownerId = :o",
            values={":o": owner_id},
        )
        if before is None or before.owner_id != owner_id:
            raise JobNotFound()
        if deleted is None:
            raise JobActive(job_id)
        return deleted

    # --- worker side ------------------------------------------------------------------------------
    def claim(self, job_id: str, attempt: int) -> tuple[ClaimOutcome, Job | None]:
        """Make `attempt` (the SQS receive count) the owner of a queued or abandoned job.

        A job is claimable when it is `queued`, or `active` under an older attempt whose worker died
        (its message reappeared after the visibility timeout), and its `attempts` is below `attempt`.
        Claiming a `queued` job moves one count from ``queued`` to ``active``; re-claiming an
        abandoned `active` one changes no count.

        Returns:
            ``(outcome, job)``; `job` is the claimed record for CLAIMED, the current one otherwise
            (None when MISSING).
        """
        if not is_job_id(job_id):
            return ClaimOutcome.MISSING, None
        current, claimed = self._transition(
            job_id,
            lambda job: job.status in (JobStatus.QUEUED, JobStatus.ACTIVE) and job.attempts < attempt,
            JobStatus.ACTIVE,
            {"attempts": attempt, "progress": 0, "startedAt": iso(utc_now())},
            condition="attempts < :a",
            values={":a": attempt},
        )
        if claimed is not None:
            return ClaimOutcome.CLAIMED, claimed
        if current is None:
            return ClaimOutcome.MISSING, None
        return (ClaimOutcome.FINISHED if current.status.terminal else ClaimOutcome.BUSY), current

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

    def _owned_transition(
        self, job_id: str, attempt: int, to: JobStatus, sets: Mapping[str, Any] | Callable[[Job], Mapping[str, Any]], removes: tuple[str, ...] = ()
    ) -> Job | None:
        """Move the job to `to` only while `attempt` owns it (`active`, ``attempts == attempt``); the
        new job, or None when the attempt no longer owns it (nothing written or counted)."""
        _, after = self._transition(
            job_id,
            lambda job: job.status is JobStatus.ACTIVE and job.attempts == attempt,
            to,
            sets,
            removes,
            condition="attempts = :a",
            values={":a": attempt},
        )
        return after

    def complete(
        self, job_id: str, attempt: int, sticker_keys: list[str], processing_ms: int, thumbnail_key: str | None = None
    ) -> Job:
        """Mark the job `completed` with its stickers' S3 keys, its contact sheet's key when it has one
        (``thumbnailKey``, in the same conditional write as the sticker keys) and the attempt's wall
        time (ms); one count moves from ``active`` to ``completed``.

        Raises:
            AttemptLost: the attempt no longer owns the job (nothing written).
        """
        sets = {"progress": 100, "stickerKeys": sticker_keys, "completedAt": iso(utc_now()), "processingMs": processing_ms}
        if thumbnail_key is not None:
            sets["thumbnailKey"] = thumbnail_key
        done = self._owned_transition(job_id, attempt, JobStatus.COMPLETED, sets, removes=("error",))
        if done is None:
            raise AttemptLost(job_id)
        return done

    def release_for_retry(self, job_id: str, attempt: int, error: str) -> bool:
        """Hand a failed attempt's job back to `queued` with its error (one count from ``active`` back
        to ``queued``); SQS redelivers the message. Its `progress` goes back to 0 and the progress the
        attempt had reached is kept as ``progressReached``, which the job shows if it fails for good
        before another attempt claims it (:meth:`fail`).

        Returns:
            False when the attempt no longer owned the job (nothing written).
        """
        sets = lambda job: {"progress": 0, "error": error, "progressReached": job.progress}  # noqa: E731
        return self._owned_transition(job_id, attempt, JobStatus.QUEUED, sets) is not None

    def fail(self, job_id: str, error: str, attempt: int | None = None, code: str | None = None) -> Job | None:
        """Mark a job `failed` for good with `error` (one count from its status to ``failed``).

        Args:
            job_id: the job.
            error: the sentence callers will read.
            attempt: when given, only the attempt that owns the job may fail it (worker side); when
                None, any non-terminal job is failed (the dead-letter handler).
            code: the failure's machine code (``errorCode``, the status document's ``code``), if any.

        A job failed for good keeps the progress it had reached (docs/api.md, "Job lifecycle"): an
        `active` job its attempt's `progress`; a `queued` one that a failed attempt handed back (its
        `progress` reset to 0) the progress that attempt reached (``progressReached``).

        Returns:
            The failed job, or None when the condition did not hold (already terminal, missing, or
            owned by another attempt).
        """
        completed_at = iso(utc_now())

        def sets(job: Job) -> dict[str, Any]:
            changes = {"error": error, "completedAt": completed_at, "progress": reached_progress(job)}
            return changes | {"errorCode": code} if code else changes

        if attempt is not None:
            return self._owned_transition(job_id, attempt, JobStatus.FAILED, sets)
        _, failed = self._transition(job_id, lambda job: not job.status.terminal, JobStatus.FAILED, sets)
        return failed


def reached_progress(job: Job) -> int:
    """The progress a job failed now keeps: its own (an attempt is running or none ran), or, for a job
    handed back for a retry, the larger of that and what the handed-back attempt reached."""
    if job.status is JobStatus.ACTIVE:
        return job.progress
    return max(job.progress, job.progress_reached or 0)


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
