"""The job model: types, states, progress milestones and the status document callers see.

State machine (docs/api.md, "Job lifecycle")::

    queued ──claim──▶ active ──complete──▶ completed
       ▲                │
       └──retryable─────┤ (attempts < max: back to queued, the message is redelivered)
                        └──permanent / last attempt──▶ failed

Every transition is a conditional write in :mod:`stickers_core.store`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stickers_core import limits


class JobType(StrEnum):
    """What a job turns into stickers."""

    IMAGE = "image"
    TEXT = "text"
    PROMPT = "prompt"


class JobStatus(StrEnum):
    """Where a job stands. `completed` and `failed` are terminal."""

    QUEUED = "queued"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        """True for `completed` and `failed`."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


class ImageProgress(IntEnum):
    """Progress milestones (percent) of an image job, docs/api.md."""

    QUEUED = 0
    PREPROCESSING = 10
    NORMALISED = 30
    MODEL_RUNNING = 40
    RENDERING = 70
    STORED = 90
    COMPLETED = 100


class TextProgress(IntEnum):
    """Progress milestones (percent) of a text job, docs/api.md."""

    QUEUED = 0
    VALIDATED = 10
    RENDERED = 50
    STORED = 90
    COMPLETED = 100


class PromptProgress(IntEnum):
    """Progress milestones (percent) of a prompt job, docs/api.md: the generator is asked (10), its
    picture has arrived (20), then the image job's milestones from the normalised picture on."""

    QUEUED = 0
    GENERATING = 10
    GENERATED = 20
    NORMALISED = 30
    MODEL_RUNNING = 40
    RENDERING = 70
    STORED = 90
    COMPLETED = 100


def _decimals(value: Any) -> Any:
    """`value` with every float replaced by the `Decimal` of its shortest repr (recursively)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """ISO-8601 UTC with millisecond precision and a `Z`, sortable as a string (the GSI sort key)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def new_job_id() -> str:
    """A fresh job id: a random UUID4 in its canonical 36-character form."""
    return str(uuid.uuid4())


def is_job_id(value: str) -> bool:
    """True when `value` is a canonical lowercase UUID, the only form job ids take."""
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, TypeError, AttributeError):
        return False


class ImageDimensions(BaseModel):
    """Size and format of the submitted photo."""

    width: int
    height: int
    format: str


class JobMetadata(BaseModel):
    """What the status document says about the input.

    Attributes:
        uploaded_at: when the photo reached the service (ISO-8601 UTC; image jobs), as in the original
            Sticker Generation API's status document.
    """

    model_config = ConfigDict(populate_by_name=True)

    type: JobType
    original_name: str | None = Field(default=None, alias="originalName")
    dimensions: ImageDimensions | None = None
    uploaded_at: str | None = Field(default=None, alias="uploadedAt")


#: Detail levels of the drawn and painted styles and of ``cartoon`` (docs/styles.md, per style).
StyleMethod = Literal["basic", "advanced", "artistic"]
DEFAULT_METHOD: StyleMethod = "advanced"
#: Encodings of the stickers: PNG, or lossless WebP with alpha.
OutputFormat = Literal["png", "webp"]


class OutputOptions(BaseModel):
    """How every sticker of a job is delivered (docs/api.md, "Output options"): validated at submit
    (``stickers_core.validation``), applied by the worker after the style.

    Attributes:
        format: ``png`` (default) or ``webp`` (lossless, with alpha).
        size: longest side of every sticker, px, 128–1024 (None: the default 512 px; ``cutout`` keeps
            the photo's resolution unless a size is given).
        rotate: degrees, −180…180, counter-clockwise; the subject is rotated first and the die-cut
            border follows the rotated subject.
        watermark: 1–40 characters drawn small in a corner of every sticker (None: none).
        watermark_opacity: 0.1–1.0, the watermark's opacity.
    """

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    format: OutputFormat = "png"
    size: int | None = Field(default=None, ge=limits.OUTPUT_SIZE_MIN_PX, le=limits.OUTPUT_SIZE_MAX_PX)
    rotate: float = Field(default=0.0, ge=-180.0, le=180.0)
    watermark: str | None = Field(default=None, min_length=1, max_length=limits.WATERMARK_MAX_CHARS)
    watermark_opacity: float = Field(default=0.5, ge=0.1, le=1.0, alias="watermarkOpacity")

    @property
    def is_default(self) -> bool:
        """True when nothing differs from the defaults (the job record then leaves the field out)."""
        return self == OutputOptions()


class Job(BaseModel):
    """One job record, as stored in the DynamoDB jobs table (one item per job, pk `jobId`).

    Attributes:
        job_id: UUID4 string.
        owner_id: the API key id that created the job (tenant; GSI `byOwner` partition key).
        type: image or text.
        status: lifecycle state.
        progress: 0–100, grows within an attempt.
        attempts: attempts started so far (the SQS receive count of the attempt that claimed it last).
        styles: the style of each sticker, in order (length = count).
        text, keywords: the normalised input of a text job.
        upload_key: S3 key of the photo in the uploads bucket (image jobs).
        sticker_keys: S3 keys of the finished stickers in the stickers bucket.
        error: the last error sentence (failed jobs, or retried ones).
        error_code: a failed job's machine code where it has one (``PROMPT_REFUSED``), shown as ``code``.
        prompt, negative_prompt, seed: a prompt job's normalised input (seed None: the generator's choice).
        reference_keys: S3 keys (uploads bucket) of a prompt job's reference images, in order.
        created_at, started_at, completed_at: ISO-8601 UTC strings.
        processing_ms: wall time of the successful attempt, milliseconds.
        expires_at: epoch seconds when DynamoDB's TTL deletes the record.
        callback_url: optional https URL notified when the job ends.
        preset: optional messenger preset (``whatsapp``, ``telegram``) applied to every sticker.
        method: detail level of the drawn/painted styles and ``cartoon`` (ignored by the others).
        output: format, size, rotation and watermark of every sticker.
        thumbnail_key: S3 key of the job's contact sheet (``stickers/<jobId>/thumbnail.webp``, ≤ 256 px),
            set when the job completes.
        progress_reached: the progress the last attempt handed back for a retry had reached (its
            `progress` goes back to 0): a job failed for good afterwards (dead-letter queue) shows it.
    """

    model_config = ConfigDict(populate_by_name=True)

    job_id: str = Field(alias="jobId")
    owner_id: str = Field(alias="ownerId")
    type: JobType
    status: JobStatus = JobStatus.QUEUED
    progress: int = 0
    attempts: int = 0
    styles: list[str]
    text: str | None = None
    keywords: list[str] = Field(default_factory=list)
    upload_key: str | None = Field(default=None, alias="uploadKey")
    sticker_keys: list[str] = Field(default_factory=list, alias="stickerKeys")
    error: str | None = None
    error_code: str | None = Field(default=None, alias="errorCode")
    prompt: str | None = None
    negative_prompt: str | None = Field(default=None, alias="negativePrompt")
    seed: int | None = None
    reference_keys: list[str] = Field(default_factory=list, alias="referenceKeys")
    created_at: str = Field(alias="createdAt")
    started_at: str | None = Field(default=None, alias="startedAt")
    completed_at: str | None = Field(default=None, alias="completedAt")
    processing_ms: int | None = Field(default=None, alias="processingMs")
    expires_at: int = Field(alias="expiresAt")
    metadata: JobMetadata
    callback_url: str | None = Field(default=None, alias="callbackUrl")
    preset: str | None = None
    method: StyleMethod = DEFAULT_METHOD
    output: OutputOptions = Field(default_factory=OutputOptions)
    thumbnail_key: str | None = Field(default=None, alias="thumbnailKey")
    progress_reached: int | None = Field(default=None, alias="progressReached")

    @classmethod
    def new(
        cls,
        *,
        owner_id: str,
        type: JobType,  # noqa: A002 - the contract's field name
        styles: list[str],
        metadata: JobMetadata,
        text: str | None = None,
        keywords: list[str] | None = None,
        upload_key: str | None = None,
        job_id: str | None = None,
        callback_url: str | None = None,
        preset: str | None = None,
        method: StyleMethod = DEFAULT_METHOD,
        output: OutputOptions | None = None,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        seed: int | None = None,
        reference_keys: list[str] | None = None,
        now: datetime | None = None,
        retention_days: int = limits.RETENTION_DAYS,
    ) -> Job:
        """A fresh `queued` job whose record DynamoDB's TTL removes `retention_days` days after `now`
        (``expiresAt``, epoch seconds): the stickers bucket's lifecycle expires its stickers after the
        same number of days (:data:`stickers_core.limits.RETENTION_DAYS`, or the deployment's
        ``stickerRetentionDays`` through :attr:`stickers_core.settings.Settings.retention_days`).

        Raises:
            ValueError: `retention_days` below 1.
        """
        if retention_days < 1:
            raise ValueError(f"retention_days must be at least 1, not {retention_days}")
        now = now or utc_now()
        return cls(
            jobId=job_id or new_job_id(),
            ownerId=owner_id,
            type=type,
            styles=styles,
            text=text,
            keywords=keywords or [],
            uploadKey=upload_key,
            createdAt=iso(now),
            expiresAt=int(now.timestamp()) + retention_days * 86_400,
            metadata=metadata,
            callbackUrl=callback_url,
            preset=preset,
            method=method,
            output=output or OutputOptions(),
            prompt=prompt,
            negativePrompt=negative_prompt,
            seed=seed,
            referenceKeys=reference_keys or [],
        )

    def to_item(self) -> dict[str, Any]:
        """The DynamoDB item (plain Python values for boto3's resource layer), None fields left out (and
        ``referenceKeys`` unless the job has reference images, so other jobs' items are as before);
        floats (the output options' rotation and opacity) as `Decimal`, which DynamoDB's number type needs."""
        exclude = None if self.reference_keys else {"reference_keys"}
        return _decimals(self.model_dump(by_alias=True, exclude_none=True, exclude=exclude, mode="json"))

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Job:
        """Parse a DynamoDB item (numbers arrive as `Decimal`; pydantic coerces them)."""
        return cls.model_validate({k: (int(v) if type(v).__name__ == "Decimal" else v) for k, v in item.items()})

    def sticker_urls(self, cdn_base_url: str) -> list[str]:
        """Public URLs of the stickers: ``<cdn>/<key>`` with key ``stickers/<jobId>/<n>-<style>.png``
        (``.webp`` for the WhatsApp preset)."""
        return [f"{cdn_base_url.rstrip('/')}/{key}" for key in self.sticker_keys]

    def thumbnail_url(self, cdn_base_url: str) -> str | None:
        """Public URL of the job's contact sheet (``<cdn>/stickers/<jobId>/thumbnail.webp``) once the
        job is completed with one, else None."""
        if self.status is not JobStatus.COMPLETED or not self.thumbnail_key:
            return None
        return f"{cdn_base_url.rstrip('/')}/{self.thumbnail_key}"

    def status_document(self, cdn_base_url: str) -> dict[str, Any]:
        """The body of `GET /v1/jobs/{jobId}` (docs/api.md), camelCase, with the `success` envelope.

        Always carries `method`, `output` (every output option, defaults filled in; ``size: null`` is
        the default size) and `thumbnail` (None until the job is completed with a contact sheet)."""
        doc: dict[str, Any] = {
            "success": True,
            "jobId": self.job_id,
            "type": self.type.value,
            "status": self.status.value,
            "progress": self.progress,
            "attempts": self.attempts,
            "stickers": self.sticker_urls(cdn_base_url),
            "styles": self.styles,
            "count": len(self.styles),
            "processingTime": f"{self.processing_ms / 1000:.2f}s" if self.processing_ms is not None else None,
            "createdAt": self.created_at,
            "completedAt": self.completed_at,
            "metadata": self.metadata.model_dump(by_alias=True, exclude_none=True, mode="json"),
        }
        doc["method"] = self.method
        doc["output"] = self.output.model_dump(by_alias=True, mode="json")
        doc["thumbnail"] = self.thumbnail_url(cdn_base_url)
        if self.preset:
            doc["preset"] = self.preset
        if self.type is JobType.TEXT:
            doc["input"] = {"text": self.text, "keywords": self.keywords}
        elif self.type is JobType.PROMPT:
            doc["input"] = self.prompt_input()
        if self.error and self.status is not JobStatus.COMPLETED:
            doc["error"] = self.error
            if self.error_code:
                doc["code"] = self.error_code
        return doc

    def prompt_input(self) -> dict[str, Any]:
        """A prompt job's normalised input as callers see it: prompt, negativePrompt, the number of
        reference images (their upload ids are not echoed) and seed (None: the generator's choice)."""
        return {"prompt": self.prompt, "negativePrompt": self.negative_prompt, "referenceImages": len(self.reference_keys), "seed": self.seed}
