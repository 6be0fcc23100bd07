"""The job service: what the API routes do, independent of how the request arrived.

The API Lambda parses an API Gateway event and calls one method here; the methods validate, write the
upload to S3, the job to DynamoDB and the message to SQS, and return plain dicts in the contract's
shape (docs/api.md). What every job asks besides its input (styles, count, preset, callback URL,
method, output options) arrives validated, as one :class:`stickers_core.validation.JobOptions`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stickers_core import __version__, limits, styles
from stickers_core.errors import ApiError, ValidationFailed
from stickers_core.images import ImageInfo, inspect_image, unsupported_type
from stickers_core.models import ImageDimensions, Job, JobMetadata, JobStatus, JobType, is_job_id, iso, utc_now
from stickers_core.queue import JobQueue
from stickers_core.quota import PromptQuota, PromptQuotaExceeded
from stickers_core.settings import Settings, image_model_family
from stickers_core.storage import Storage, Upload, upload_key
from stickers_core.store import JobActive, JobStore
from stickers_core.validation import JobOptions, normalise_prompt_input, normalise_text_input, resolve_styles

log = logging.getLogger(__name__)

ESTIMATED_TIME = {JobType.IMAGE: "5-30 seconds", JobType.TEXT: "1-5 seconds", JobType.PROMPT: "10-60 seconds"}
#: Seconds ``GET /v1/health`` waits for its checks (run in parallel); one still running is "unavailable".
HEALTH_TIMEOUT_S = 3.0


class ServiceUnavailable(ApiError):
    """A dependency (DynamoDB, SQS, S3) did not answer: 503, the caller may retry."""

    def __init__(self, what: str) -> None:
        super().__init__(503, "SERVICE_UNAVAILABLE", f"The service is temporarily unavailable ({what}); please retry")


def _clean_filename(name: str | None) -> str | None:
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:255]
    return base or None


class StickerService:
    """Creates, reads, lists and deletes jobs for one API key (the owner) at a time.

    Args:
        settings: where the table, queue and buckets are.
        store, queue, storage: adapters (built from `settings` when omitted).
    """

    def __init__(
        self,
        settings: Settings,
        store: JobStore | None = None,
        queue: JobQueue | None = None,
        storage: Storage | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or JobStore(settings.table_name)
        self.queue = queue or JobQueue(settings.queue_url)
        self.storage = storage or Storage(settings.uploads_bucket, settings.stickers_bucket)

    # --- create ------------------------------------------------------------------------------------
    def _enqueue(self, job: Job) -> None:
        """Write the job record, then the queue message. A message that cannot be sent fails the
        record, so no job waits forever for a message that does not exist."""
        try:
            self.store.create(job)
        except (ClientError, BotoCoreError) as exc:
            log.exception("job record write failed")
            raise ServiceUnavailable("job store") from exc
        try:
            self.queue.send(job.job_id, job.type.value)
        except (ClientError, BotoCoreError) as exc:
            log.exception("queue send failed")
            self.store.fail(job.job_id, "The job could not be queued; please submit it again")
            raise ServiceUnavailable("job queue") from exc

    def submit_image(self, owner_id: str, data: bytes, *, filename: str | None = None, options: JobOptions = JobOptions()) -> Job:
        """Validate a photo sent on the direct path, store it and queue an image job.

        Args:
            owner_id: the caller's API key id.
            data: the photo's bytes.
            filename: the name the caller gave the file (kept, cleaned, in the job's metadata).
            options: the job's validated styles, count, preset and callback URL.

        Raises:
            ValidationFailed: per :func:`stickers_core.images.inspect_image`.
            ServiceUnavailable: a dependency failed.
        """
        info = inspect_image(data)
        job = self._image_job(owner_id, options, info, filename=filename, uploaded_at=utc_now())
        job.upload_key = upload_key(job.job_id)
        try:
            self.storage.put_upload(job.upload_key, data, info.content_type)
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable("upload storage") from exc
        self._enqueue(job)
        return job

    def submit_uploaded_image(self, owner_id: str, upload_id: Any, *, options: JobOptions = JobOptions()) -> Job:
        """Queue an image job for a photo uploaded to S3 through a presigned POST (POST /v1/uploads).

        Only the owner's own uploads are found (their keys lie under the owner, :func:`owner_upload_key`).

        Raises:
            ValidationFailed: `UPLOAD_NOT_FOUND` (404), `TOO_LARGE`, and the photo rules.
        """
        key, upload = self._owner_upload(owner_id, upload_id)
        # uploadedAt: when S3 stored the photo (the GetObject's LastModified), else now
        job = self._image_job(owner_id, options, inspect_image(upload.data), filename=None, uploaded_at=upload.last_modified or utc_now())
        job.upload_key = key
        self._enqueue(job)
        return job

    def submit_text(self, owner_id: str, *, text: Any, keywords: Any = None, options: JobOptions = JobOptions()) -> Job:
        """Validate text and keywords and queue a text job.

        Raises:
            ValidationFailed: per :func:`stickers_core.validation.normalise_text_input`.
        """
        clean_text, clean_keywords = normalise_text_input(text, keywords)
        job = Job.new(
            owner_id=owner_id,
            type=JobType.TEXT,
            styles=resolve_styles(list(options.styles), options.count, styles.TEXT_STYLE_NAMES, styles.DEFAULT_TEXT_STYLES),
            text=clean_text,
            keywords=clean_keywords,
            metadata=JobMetadata(type=JobType.TEXT),
            callback_url=options.callback_url,
            preset=options.preset,
            method=options.method,
            output=options.output,
            retention_days=self.settings.retention_days,
        )
        self._enqueue(job)
        return job

    def submit_prompt(
        self, owner_id: str, *, prompt: Any, negative_prompt: Any = None, reference_images: Any = None, seed: Any = None, options: JobOptions = JobOptions()
    ) -> Job:
        """Validate a prompt, count it against the owner's daily prompt quota and queue a prompt job
        (POST /v1/stickers/prompt); the worker asks the configured image generator for the picture.

        Order: the input is validated first (400s answer even where no generator is configured), then
        the generator (501), the reference uploads (404), the quota (429), and the job is queued; a job
        that cannot be queued gives its quota back.

        Args:
            owner_id: the caller's API key id.
            prompt, negative_prompt, reference_images, seed: as sent (:func:`normalise_prompt_input`).
            options: the job's validated styles (image styles; default classic, outline, cartoon),
                count, preset, callback URL, method and output options.

        Raises:
            ValidationFailed: `BAD_PROMPT`, `INVALID_REQUEST` (also reference images for a model that takes
                none), `INVALID_OPTION`; `UPLOAD_NOT_FOUND` (404)
                for a reference that is not one of the caller's uploads; `TOO_LARGE` and the photo rules.
            ApiError: 501 `GENERATION_UNAVAILABLE` (no generator configured), 429 `PROMPT_QUOTA_EXCEEDED`.
            ServiceUnavailable: a dependency failed.
        """
        given = normalise_prompt_input(prompt, negative_prompt, reference_images, seed)
        if self.settings.generator == "none":
            raise ApiError(501, "GENERATION_UNAVAILABLE", "Stickers from a prompt are not available here: no image generator is configured")
        if given.reference_ids and image_model_family(self.settings.bedrock_model_id) != "nova-canvas":
            raise ValidationFailed("INVALID_REQUEST", "The configured image model takes no reference images", field="referenceImages")
        reference_keys = [self._reference_key(owner_id, upload_id) for upload_id in given.reference_ids]
        quota = PromptQuota(self.store.table, self.settings.prompt_daily_quota)
        try:
            quota.take(owner_id)
        except PromptQuotaExceeded:
            raise ApiError(
                429, "PROMPT_QUOTA_EXCEEDED", f"Daily prompt quota used up ({self.settings.prompt_daily_quota} a day); it resets at 00:00 UTC",
                quota=self.settings.prompt_daily_quota,
            ) from None
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable("prompt quota") from exc
        job = Job.new(
            owner_id=owner_id,
            type=JobType.PROMPT,
            styles=resolve_styles(list(options.styles), options.count, styles.IMAGE_STYLE_NAMES, styles.DEFAULT_PROMPT_STYLES),
            metadata=JobMetadata(type=JobType.PROMPT),
            callback_url=options.callback_url,
            preset=options.preset,
            method=options.method,
            output=options.output,
            prompt=given.prompt,
            negative_prompt=given.negative_prompt,
            seed=given.seed,
            reference_keys=reference_keys,
            retention_days=self.settings.retention_days,
        )
        try:
            self._enqueue(job)
        except ServiceUnavailable:
            quota.give_back(owner_id)
            raise
        return job

    def _reference_key(self, owner_id: str, upload_id: str) -> str:
        """The S3 key of one of the owner's uploads used as a reference image, checked to be a photo.

        Raises:
            ValidationFailed: `UPLOAD_NOT_FOUND` (404), `TOO_LARGE` (413), and the photo rules.
            ServiceUnavailable: S3 did not answer.
        """
        key, upload = self._owner_upload(owner_id, upload_id, uploadId=upload_id[:64])
        inspect_image(upload.data)
        return key

    def _owner_upload(self, owner_id: str, upload_id: Any, **not_found: Any) -> tuple[str, Upload]:
        """One of the owner's uploads (presigned POST): its S3 key and the object read back. Another
        owner's upload is not found (the keys lie under the owner, :func:`owner_upload_key`).

        Args:
            not_found: extra fields of the 404 answer (e.g. which ``uploadId``).

        Raises:
            ValidationFailed: `UPLOAD_NOT_FOUND` (404: not an upload id, or no such upload of the owner),
                `TOO_LARGE` (413: over :data:`limits.UPLOAD_MAX_BYTES`).
            ServiceUnavailable: S3 did not answer.
        """
        if not isinstance(upload_id, str) or not is_job_id(upload_id):
            raise ValidationFailed("UPLOAD_NOT_FOUND", "Upload not found", status=404, **not_found)
        key = owner_upload_key(owner_id, upload_id)
        try:
            upload = self.storage.get_upload_object(key)
        except ValueError:
            raise ValidationFailed("TOO_LARGE", "File too large", status=413, maxSize=limits.UPLOAD_MAX_BYTES) from None
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable("upload storage") from exc
        if upload is None:
            raise ValidationFailed("UPLOAD_NOT_FOUND", "Upload not found", status=404, **not_found)
        return key, upload

    def _image_job(self, owner_id: str, options: JobOptions, info: ImageInfo, *, filename: str | None, uploaded_at: datetime) -> Job:
        """A new queued image job for a validated photo (its upload key is set by the caller), whose
        record expires after the settings' retention days; `uploaded_at` is when the photo reached the
        service (``metadata.uploadedAt``)."""
        return Job.new(
            owner_id=owner_id,
            type=JobType.IMAGE,
            styles=resolve_styles(list(options.styles), options.count, styles.IMAGE_STYLE_NAMES, styles.DEFAULT_IMAGE_STYLES),
            metadata=JobMetadata(
                type=JobType.IMAGE,
                originalName=_clean_filename(filename),
                dimensions=ImageDimensions(width=info.width, height=info.height, format=info.format),
                uploadedAt=iso(uploaded_at),
            ),
            callback_url=options.callback_url,
            preset=options.preset,
            method=options.method,
            output=options.output,
            retention_days=self.settings.retention_days,
        )

    def create_upload(self, owner_id: str, content_type: Any, content_length: Any) -> dict[str, Any]:
        """A presigned S3 POST for one photo up to 10 MB of the declared type (POST /v1/uploads).

        Raises:
            ValidationFailed: `UNSUPPORTED_TYPE` (415), `TOO_LARGE` (413), `INVALID_REQUEST`.
        """
        if content_type not in limits.ALLOWED_IMAGE_TYPES:
            raise unsupported_type()
        if content_length is not None and (isinstance(content_length, bool) or not isinstance(content_length, int) or content_length < 1):
            raise ValidationFailed("INVALID_REQUEST", '"contentLength" must be a positive integer (bytes)', field="contentLength")
        if content_length is not None and content_length > limits.UPLOAD_MAX_BYTES:
            raise ValidationFailed("TOO_LARGE", "File too large", status=413, maxSize=limits.UPLOAD_MAX_BYTES)
        upload_id = str(uuid.uuid4())
        key = owner_upload_key(owner_id, upload_id)
        post = self.storage.presigned_post(key, content_type, limits.UPLOAD_MAX_BYTES, limits.UPLOAD_URL_EXPIRES_S)
        return {
            "success": True,
            "uploadId": upload_id,
            "url": post["url"],
            "fields": post["fields"],
            "expiresIn": limits.UPLOAD_URL_EXPIRES_S,
            "maxSize": limits.UPLOAD_MAX_BYTES,
        }

    # --- read / manage ------------------------------------------------------------------------------
    def status(self, owner_id: str, job_id: str) -> dict[str, Any]:
        """The status document of one of the owner's jobs. Raises :class:`JobNotFound`."""
        return self.store.get(job_id, owner_id).status_document(self.settings.cdn_base_url)

    def list_jobs(self, owner_id: str, limit: Any, next_token: Any) -> dict[str, Any]:
        """The owner's jobs, newest first (GET /v1/jobs).

        Raises:
            ValidationFailed: `INVALID_REQUEST` for a bad `limit` or `nextToken`.
        """
        try:
            n = limits.LIST_LIMIT_DEFAULT if limit in (None, "") else int(limit)
        except (TypeError, ValueError):
            n = 0
        if not 1 <= n <= limits.LIST_LIMIT_MAX:
            raise ValidationFailed("INVALID_REQUEST", f'"limit" must be an integer from 1 to {limits.LIST_LIMIT_MAX}', field="limit")
        try:
            jobs, token = self.store.list_for_owner(owner_id, n, next_token or None)
        except ValueError:
            raise ValidationFailed("INVALID_REQUEST", '"nextToken" is not valid', field="nextToken") from None
        return {"success": True, "jobs": [j.status_document(self.settings.cdn_base_url) for j in jobs], "nextToken": token}

    def delete_job(self, owner_id: str, job_id: str) -> None:
        """Delete a job record, its upload and its stickers (DELETE /v1/jobs/{jobId}).

        The record goes first, with its count in the owner's counters (one transaction), then the
        photo and the stickers' S3 objects. The CDN stops serving the stickers within
        :data:`stickers_core.limits.STICKER_CACHE_MAX_AGE_S` seconds (300): CloudFront and browsers
        may cache a sticker that long and no longer (``Cache-Control: public, max-age=300``, and the
        CloudFront stickers behaviour's maximum TTL), after which the deleted objects answer 403. That
        bound, rather than a CloudFront invalidation per deletion, is the design: it needs no
        ``cloudfront:CreateInvalidation`` grant, costs nothing per deletion (invalidation paths past
        1,000 a month are charged), and covers stickers the bucket's lifecycle rule expires too.

        Raises:
            JobNotFound: no such job for this owner.
            ApiError: 409 `JOB_ACTIVE` while the job is being worked on.
        """
        try:
            job = self.store.delete(job_id, owner_id)
        except JobActive:
            raise ApiError(409, "JOB_ACTIVE", "The job is being processed; delete it once it has finished") from None
        if job.upload_key:
            self.storage.delete_upload(job.upload_key)
        self.storage.delete_stickers(job_id)

    def stats(self, owner_id: str) -> dict[str, Any]:
        """Queue backlog of the whole service and the owner's job counts (GET /v1/stats).

        The counts cost one DynamoDB GetItem, however many jobs the owner has: the owner's counters
        item, which every job transition updates in the same transaction as the job
        (:mod:`stickers_core.store`). They count the owner's jobs created and not deleted through
        ``DELETE /v1/jobs/{jobId}``, by last status, since the counters were introduced; a job whose
        record expired (DynamoDB TTL, after ``retention_days``) stays counted under the status it
        ended in, so ``total`` is "jobs created minus jobs deleted", not "jobs still stored". The
        queue figures are SQS's approximate counts for the whole service.

        Raises:
            ServiceUnavailable: SQS or DynamoDB did not answer (503).
        """
        try:
            depth = self.queue.depth()
            counts = self.store.count_for_owner(owner_id)
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable("queue statistics") from exc
        return {
            "success": True,
            "queue": {"waiting": depth.waiting, "active": depth.active, "delayed": depth.delayed},
            "jobs": {
                "queued": counts.get(JobStatus.QUEUED.value, 0),
                "active": counts.get(JobStatus.ACTIVE.value, 0),
                "completed": counts.get(JobStatus.COMPLETED.value, 0),
                "failed": counts.get(JobStatus.FAILED.value, 0),
                "total": sum(counts.values()),
            },
            "timestamp": iso(utc_now()),
        }

    def health(self) -> tuple[int, dict[str, Any]]:
        """``GET /v1/health``: whether the table, the queue and the buckets answer, what consumes the
        queue, and the version. Cheap: one GetItem (:meth:`JobStore.probe`), one GetQueueAttributes
        (:meth:`JobQueue.depth`, whose counts are reported too) and a one-key listing of each bucket
        under its prefix (:meth:`Storage.probe`), run in parallel for at most :data:`HEALTH_TIMEOUT_S`
        seconds; each only needs what the API function is granted anyway.

        Returns:
            ``(200, {"success": True, "status": "ok", "checks", "queue", "version"})``, or ``(503, …)``
            with ``"status": "degraded"``, the error envelope (`SERVICE_UNAVAILABLE`) and ``"unavailable"``
            for each check that failed or did not answer in time.
        """
        probes: dict[str, Callable[[], Any]] = {"table": self.store.probe, "queue": self.queue.depth, "bucket": self.storage.probe}
        pool = ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="health")
        try:
            futures = {name: pool.submit(probe) for name, probe in probes.items()}
            wait(futures.values(), timeout=HEALTH_TIMEOUT_S)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        checks: dict[str, str] = {}
        depth = None
        for name, future in futures.items():
            if not future.done():
                log.error("health check timed out", extra={"check": name})
                checks[name] = "unavailable"
            elif (exc := future.exception()) is not None:
                log.error("health check failed", extra={"check": name, "error": repr(exc)})
                checks[name] = "unavailable"
            else:
                checks[name] = "ok"
                depth = future.result() if name == "queue" else depth
        failing = [name for name, state in checks.items() if state != "ok"]
        body: dict[str, Any] = {
            "success": not failing,
            "status": "degraded" if failing else "ok",
            "checks": {**checks, "inference": self.settings.inference},
            "queue": {"waiting": depth.waiting, "active": depth.active, "delayed": depth.delayed} if depth is not None else None,
            "version": __version__,
        }
        if not failing:
            return 200, body
        unavailable = ServiceUnavailable(", ".join(failing))
        return 503, {**body, "error": unavailable.message, "code": unavailable.code}


def accepted_body(job: Job) -> dict[str, Any]:
    """The 202 body of docs/api.md for a freshly queued job."""
    data: dict[str, Any] = {
        "jobId": job.job_id,
        "status": job.status.value,
        "statusUrl": f"/v1/jobs/{job.job_id}",
        "estimatedTime": ESTIMATED_TIME[job.type],
        "styles": job.styles,
        "count": len(job.styles),
    }
    if job.preset:
        data["preset"] = job.preset
    if job.type is JobType.TEXT:
        data["input"] = {"text": job.text, "keywords": job.keywords}
        return {"success": True, "message": "Text sticker job queued successfully", "data": data}
    if job.type is JobType.PROMPT:
        data["input"] = job.prompt_input()
        return {"success": True, "message": "Prompt sticker job queued successfully", "data": data}
    return {"success": True, "message": "Job queued successfully", "data": data}


def owner_upload_key(owner_id: str, upload_id: str) -> str:
    """S3 key of a presigned upload, under its owner so one key cannot use another's upload."""
    safe_owner = "".join(ch for ch in owner_id if ch.isalnum() or ch in "-_")[:128] or "anonymous"
    return upload_key(f"{safe_owner}/{upload_id}")
