"""The API's documented shapes: request and response models for the OpenAPI document, and the few
things Powertools cannot express from the route signatures.

The API function declares these models on its routes (``responses=…`` and ``Body()`` parameters), so
Powertools generates the document from the handlers; :func:`complete_document` then adds what a
signature cannot say: the image route's two request bodies (multipart *or* JSON), the responses every
``/v1`` route can give (API Gateway's 403/429, 500, 503), the ``x-api-key`` security scheme, and the
list of error codes. Powertools' generic 422 is dropped: validation errors answer 400 here.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stickers_core import limits
from stickers_core.errors import ERROR_CODES, JOB_ERROR_CODES

#: Every error code (the `code` field of error bodies), as an enum in the schema.
ErrorCode = StrEnum("ErrorCode", {code: code for code in ERROR_CODES})  # type: ignore[misc]


class ErrorBody(BaseModel):
    """An error answered by the API function (docs/api.md "Errors")."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    success: Literal[False]
    error: str = Field(description="One human sentence")
    code: ErrorCode = Field(description="Stable machine code")  # type: ignore[valid-type]


class GatewayError(BaseModel):
    """An answer of API Gateway itself (missing/unknown key, throttling)."""

    message: str = Field(examples=["Forbidden"])


class AcceptedData(BaseModel):
    jobId: str
    status: Literal["queued"]
    statusUrl: str
    estimatedTime: str
    styles: list[str]
    count: int
    preset: str | None = None
    input: dict[str, Any] | None = Field(default=None, description="Text jobs: the normalised text and keywords; prompt jobs: the prompt, negativePrompt, referenceImages (count) and seed")


class AcceptedResponse(BaseModel):
    """202: the job is queued."""

    success: Literal[True]
    message: str
    data: AcceptedData


class Dimensions(BaseModel):
    width: int
    height: int
    format: str


class Metadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["image", "text", "prompt"]
    originalName: str | None = None
    dimensions: Dimensions | None = None
    uploadedAt: str | None = Field(
        default=None,
        description="Image jobs: when the photo reached the service (ISO 8601 UTC): the submit time of a direct "
        "upload, the S3 object's LastModified of a presigned one",
    )


class Output(BaseModel):
    """The output options a job was submitted with, defaults filled in (docs/api.md "Output options")."""

    format: Literal["png", "webp"] = Field(description="Sticker encoding (with a preset, the preset's decides)")
    size: int | None = Field(ge=limits.OUTPUT_SIZE_MIN_PX, le=limits.OUTPUT_SIZE_MAX_PX, description="Longest side, px; null: the default (512; cutout: the photo's)")
    rotate: float = Field(ge=-180, le=180, description="Degrees, counter-clockwise")
    watermark: str | None = Field(max_length=limits.WATERMARK_MAX_CHARS)
    watermarkOpacity: float = Field(ge=0.1, le=1.0, description="Applies with a watermark only")


class StatusDocument(BaseModel):
    """GET /v1/jobs/{jobId}: where a job stands, and its stickers once completed."""

    model_config = ConfigDict(extra="allow")

    success: Literal[True]
    jobId: str
    type: Literal["image", "text", "prompt"]
    status: Literal["queued", "active", "completed", "failed"]
    progress: int = Field(ge=0, le=100)
    attempts: int
    stickers: list[str] = Field(description="Public URLs: <cdn>/stickers/<jobId>/<n>-<style>.png (.webp with format webp or the WhatsApp preset)")
    styles: list[str]
    count: int
    processingTime: str | None
    createdAt: str
    completedAt: str | None
    metadata: Metadata
    method: Literal["basic", "advanced", "artistic"] = Field(description="Detail level of the drawn and painted styles and cartoon")
    output: Output
    thumbnail: str | None = Field(description=f"Once completed: <cdn>/stickers/<jobId>/thumbnail.webp, a contact sheet of the stickers (longest side ≤ {limits.THUMBNAIL_MAX_PX} px); null before")
    preset: Literal["whatsapp", "telegram"] | None = None
    input: dict[str, Any] | None = None
    error: str | None = None
    code: str | None = Field(default=None, description="A failed job's machine code where it has one (x-job-error-codes), e.g. PROMPT_REFUSED")


class JobList(BaseModel):
    """GET /v1/jobs: the caller's jobs, newest first."""

    success: Literal[True]
    jobs: list[StatusDocument]
    nextToken: str | None


class UploadSlot(BaseModel):
    """POST /v1/uploads: a presigned S3 POST (send `fields` and then the file as `file`)."""

    success: Literal[True]
    uploadId: str
    url: str
    fields: dict[str, str]
    expiresIn: int
    maxSize: int


class QueueCounts(BaseModel):
    waiting: int
    active: int
    delayed: int


class JobCounts(BaseModel):
    queued: int
    active: int
    completed: int
    failed: int
    total: int


class Stats(BaseModel):
    """GET /v1/stats."""

    success: Literal[True]
    queue: QueueCounts
    jobs: JobCounts
    timestamp: str


class HealthChecks(BaseModel):
    table: Literal["ok", "unavailable"] = Field(description="The jobs table answers a GetItem")
    queue: Literal["ok", "unavailable"] = Field(description="The jobs queue answers GetQueueAttributes")
    bucket: Literal["ok", "unavailable"] = Field(description="The uploads and stickers buckets answer a one-key listing")
    inference: str = Field(description="What consumes the jobs queue (STICKERS_INFERENCE; default `worker`, the GPU service)")


class Health(BaseModel):
    """GET /v1/health, 200: every dependency answers."""

    success: Literal[True]
    status: Literal["ok"]
    checks: HealthChecks
    queue: QueueCounts | None = Field(description="The jobs queue's approximate counts (as in /v1/stats)")
    version: str = Field(description="The service's version")


class HealthDegraded(BaseModel):
    """GET /v1/health, 503: a dependency did not answer (the error envelope, code SERVICE_UNAVAILABLE)."""

    success: Literal[False]
    status: Literal["degraded"]
    error: str
    code: Literal["SERVICE_UNAVAILABLE"]
    checks: HealthChecks
    queue: QueueCounts | None = Field(description="null when the queue did not answer")
    version: str


class StyleInfo(BaseModel):
    name: str
    description: str
    default: bool


class StylesCatalogue(BaseModel):
    """GET /v1/styles."""

    success: Literal[True]
    image: list[StyleInfo]
    text: list[StyleInfo]


class WebhookSecret(BaseModel):
    """GET /v1/webhooks/secret: how to verify the `callbackUrl` POSTs of this API key's jobs."""

    success: Literal[True]
    secret: str = Field(description="HMAC-SHA256 key of this API key's webhook signatures")
    algorithm: Literal["HMAC-SHA256"]
    header: Literal["x-sticker-signature"]
    format: str = Field(description="sha256=<hex HMAC of \"<x-sticker-timestamp>.<raw request body>\">, comma-separated, one per active secret")


class UploadedImageJobRequest(BaseModel):
    """JSON body of POST /v1/stickers/image after a presigned upload (POST /v1/uploads)."""

    uploadId: str = Field(description="From POST /v1/uploads")
    styles: list[str] | None = Field(default=None, description="Image styles (default: the catalogue's default set, GET /v1/styles `default: true`)")
    count: int | None = Field(default=None, ge=limits.COUNT_MIN, le=limits.COUNT_MAX)
    callbackUrl: str | None = Field(default=None, description="https URL that receives the final status document")
    preset: Literal["whatsapp", "telegram"] | None = Field(default=None, description="Messenger preset (it decides size and format)")
    method: Literal["basic", "advanced", "artistic"] | None = Field(default=None, description="Detail level of the drawn and painted styles and cartoon (default advanced)")
    format: Literal["png", "webp"] | None = Field(default=None, description="Sticker encoding (default png; not with preset)")
    size: int | None = Field(default=None, ge=limits.OUTPUT_SIZE_MIN_PX, le=limits.OUTPUT_SIZE_MAX_PX, description="Longest side, px (default 512; not with preset)")
    rotate: float | None = Field(default=None, ge=-180, le=180, description="Degrees, counter-clockwise (default 0)")
    watermark: str | None = Field(default=None, min_length=1, max_length=limits.WATERMARK_MAX_CHARS, description="Text drawn small in a corner")
    watermarkOpacity: float | None = Field(default=None, ge=0.1, le=1.0, description="Opacity of the watermark, default 0.5 (only with watermark)")


def json_content(model: type[BaseModel], description: str) -> dict[str, Any]:
    """A Powertools ``responses`` entry with a JSON body described by `model`."""
    return {"description": description, "content": {"application/json": {"model": model}}}


def error(description: str) -> dict[str, Any]:
    """A Powertools ``responses`` entry with the error envelope."""
    return json_content(ErrorBody, description)


_MULTIPART_IMAGE = {
    "type": "object",
    "required": ["image"],
    "properties": {
        "image": {"type": "string", "format": "binary", "description": f"JPEG, PNG, WebP or GIF, at most {limits.DIRECT_UPLOAD_MAX_BYTES} bytes"},
        "styles": {"type": "string", "description": "Comma-separated image styles", "example": "classic,outline,pop"},
        "count": {"type": "string", "pattern": "^[1-8]$", "description": "Number of stickers, 1–8 (default 5)"},
        "callbackUrl": {"type": "string", "description": "https URL that receives the final status document"},
        "preset": {"type": "string", "enum": ["whatsapp", "telegram"], "description": "Messenger preset (it decides size and format)"},
        "method": {"type": "string", "enum": ["basic", "advanced", "artistic"], "description": "Detail level of the drawn and painted styles and cartoon (default advanced)"},
        "format": {"type": "string", "enum": ["png", "webp"], "description": "Sticker encoding (default png; not with preset)"},
        "size": {"type": "string", "pattern": "^[0-9]{3,4}$", "description": f"Longest side, px, {limits.OUTPUT_SIZE_MIN_PX}–{limits.OUTPUT_SIZE_MAX_PX} (default 512; not with preset)"},
        "rotate": {"type": "string", "pattern": "^[+-]?[0-9]{1,3}(\\.[0-9]+)?$", "description": "Degrees, −180…180, counter-clockwise (default 0)"},
        "watermark": {"type": "string", "minLength": 1, "maxLength": limits.WATERMARK_MAX_CHARS, "description": "Text drawn small in a corner"},
        "watermarkOpacity": {"type": "string", "pattern": "^(0?\\.[0-9]+|1(\\.0*)?)$", "description": "0.1–1.0, default 0.5 (only with watermark)"},
    },
}
_IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeat the same request safely for 24 h: the first response comes back and no second job is "
    "made; the same key with another body is 409 IDEMPOTENCY_CONFLICT. Scoped to the API key.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def complete_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Add to Powertools' document what the route signatures cannot express (see the module doc).

    Args:
        doc: ``app.get_openapi_schema(...)`` dumped to a dict (by alias, None left out).

    Returns:
        The same dict, completed.
    """
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.setdefault("UploadedImageJobRequest", UploadedImageJobRequest.model_json_schema(ref_template="#/components/schemas/{model}"))
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            if not path.startswith("/v1/"):
                continue
            responses.setdefault("403", {"description": "Missing or unknown API key (API Gateway)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayError"}}}})
            responses.setdefault("429", {"description": "Over the key's rate or quota (API Gateway)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayError"}}}})
            for status, text in (("400", "Invalid input"), ("500", "Internal error (with requestId)"), ("503", "A dependency is unavailable; retry")):
                responses.setdefault(status, {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
            if method == "post":
                op.setdefault("parameters", []).append(dict(_IDEMPOTENCY_PARAMETER))
                responses.setdefault("409", {"description": "Idempotency-Key reused with another body, or still in progress", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
            if path == "/v1/stickers/image" and method == "post":
                op["requestBody"] = {
                    "required": True,
                    "content": {
                        "multipart/form-data": {"schema": _MULTIPART_IMAGE},
                        "application/json": {"schema": {"$ref": "#/components/schemas/UploadedImageJobRequest"}},
                    },
                }
    schemas.setdefault("GatewayError", GatewayError.model_json_schema())
    doc["x-error-codes"] = dict(ERROR_CODES)
    doc["x-job-error-codes"] = dict(JOB_ERROR_CODES)
    text = json.dumps(doc)
    for name in [n for n in schemas if f'"#/components/schemas/{n}"' not in text]:
        del schemas[name]  # e.g. Powertools' ResponseValidationError: never answered here
    return doc
