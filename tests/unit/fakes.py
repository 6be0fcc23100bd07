"""In-memory stand-ins for the service's adapters (:class:`~stickers_core.store.JobStore`,
:class:`~stickers_core.queue.JobQueue`, :class:`~stickers_core.storage.Storage`): no moto, no HTTP.

They keep the contracts :class:`~stickers_core.service.StickerService` relies on: owner-scoped reads
(another owner's job is "not found"), newest-first pages with an opaque owner-bound token, per-owner
counters kept by every transition, a refused deletion of an `active` job, and an upload larger than
the limit read as ``ValueError``. ``failing`` makes a method raise a ``ClientError`` as AWS would.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from stickers_core import limits
from stickers_core.errors import JobNotFound
from stickers_core.models import Job, JobStatus, is_job_id
from stickers_core.queue import QueueDepth
from stickers_core.storage import Upload
from stickers_core.store import JobActive


def aws_error(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected"}}, operation)


class _Failing:
    def __init__(self) -> None:
        self.failing: set[str] = set()

    def _maybe_fail(self, method: str) -> None:
        if method in self.failing:
            raise aws_error(method)


class FakeJobStore(_Failing):
    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, Job] = {}
        self.counters: dict[str, Counter[str]] = {}

    def _count(self, owner_id: str, status: JobStatus, delta: int) -> None:
        self.counters.setdefault(owner_id, Counter())[status.value] += delta

    def create(self, job: Job) -> None:
        self._maybe_fail("create")
        if job.job_id in self.jobs:
            raise aws_error("TransactWriteItems")
        self.jobs[job.job_id] = job.model_copy(deep=True)
        self._count(job.owner_id, job.status, +1)

    def get(self, job_id: str, owner_id: str | None = None) -> Job:
        job = self.jobs.get(job_id) if is_job_id(job_id) else None
        if job is None or (owner_id is not None and job.owner_id != owner_id):
            raise JobNotFound()
        return job.model_copy(deep=True)

    def list_for_owner(self, owner_id: str, limit: int, next_token: str | None = None) -> tuple[list[Job], str | None]:
        start = 0
        if next_token:
            try:
                token = json.loads(base64.urlsafe_b64decode(next_token.encode()))
                assert token["owner"] == owner_id and isinstance(token["offset"], int)
            except Exception:  # noqa: BLE001 - any malformed token
                raise ValueError("malformed nextToken") from None
            start = token["offset"]
        mine = sorted((j for j in self.jobs.values() if j.owner_id == owner_id), key=lambda j: (j.created_at, j.job_id), reverse=True)
        page = mine[start : start + limit]
        more = start + limit < len(mine)
        token = base64.urlsafe_b64encode(json.dumps({"owner": owner_id, "offset": start + limit}).encode()).decode() if more else None
        return [j.model_copy(deep=True) for j in page], token

    def count_for_owner(self, owner_id: str) -> Counter[str]:
        self._maybe_fail("count_for_owner")
        counts = self.counters.get(owner_id, Counter())
        return Counter({s.value: max(0, counts[s.value]) for s in JobStatus})

    def probe(self) -> None:
        self._maybe_fail("probe")

    def delete(self, job_id: str, owner_id: str) -> Job:
        job = self.jobs.get(job_id) if is_job_id(job_id) else None
        if job is None or job.owner_id != owner_id:
            raise JobNotFound()
        if job.status is JobStatus.ACTIVE:
            raise JobActive(job_id)
        del self.jobs[job_id]
        self._count(owner_id, job.status, -1)
        return job

    def fail(self, job_id: str, error: str, attempt: int | None = None) -> Job | None:  # noqa: ARG002
        job = self.jobs.get(job_id)
        if job is None or job.status.terminal:
            return None
        self._count(job.owner_id, job.status, -1)
        self._count(job.owner_id, JobStatus.FAILED, +1)
        job.status, job.error = JobStatus.FAILED, error
        return job

    def set_status(self, job_id: str, status: JobStatus) -> None:
        """Move a job to `status` (as a worker would), keeping the counters."""
        job = self.jobs[job_id]
        self._count(job.owner_id, job.status, -1)
        self._count(job.owner_id, status, +1)
        job.status = status


class FakeQueue(_Failing):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, str]] = []
        self.in_flight = 0

    def send(self, job_id: str, job_type: str) -> str:
        self._maybe_fail("send")
        self.sent.append({"jobId": job_id, "type": job_type})
        return f"message-{len(self.sent)}"

    def depth(self) -> QueueDepth:
        self._maybe_fail("depth")
        return QueueDepth(waiting=len(self.sent) - self.in_flight, active=self.in_flight, delayed=0)


class FakeStorage(_Failing):
    def __init__(self) -> None:
        super().__init__()
        self.uploads: dict[str, tuple[bytes, str | None]] = {}
        self.stickers: dict[str, bytes] = {}
        self.posts: list[dict[str, Any]] = []
        #: key → the LastModified S3 would report (absent: none reported)
        self.uploaded_at: dict[str, datetime] = {}

    def put_upload(self, key: str, data: bytes, content_type: str) -> None:
        self._maybe_fail("put_upload")
        self.uploads[key] = (bytes(data), content_type)

    def get_upload(self, key: str, max_bytes: int = limits.UPLOAD_MAX_BYTES) -> bytes | None:
        upload = self.get_upload_object(key, max_bytes)
        return upload.data if upload is not None else None

    def get_upload_object(self, key: str, max_bytes: int = limits.UPLOAD_MAX_BYTES) -> Upload | None:
        self._maybe_fail("get_upload")
        if key not in self.uploads:
            return None
        data = self.uploads[key][0]
        if len(data) > max_bytes:
            raise ValueError(f"upload {key} is larger than {max_bytes} bytes")
        return Upload(data, self.uploaded_at.get(key))

    def probe(self) -> None:
        self._maybe_fail("probe")

    def delete_upload(self, key: str) -> None:
        self.uploads.pop(key, None)

    def delete_stickers(self, job_id: str) -> int:
        keys = [k for k in self.stickers if k.startswith(f"{limits.STICKERS_PREFIX}/{job_id}/")]
        for k in keys:
            del self.stickers[k]
        return len(keys)

    def presigned_post(self, key: str, content_type: str, max_bytes: int, expires_s: int) -> dict[str, Any]:
        self.posts.append({"key": key, "contentType": content_type, "maxBytes": max_bytes, "expiresIn": expires_s})
        return {"url": "https://uploads.example/", "fields": {"key": key, "Content-Type": content_type}}
