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
from stickers_core.errors import ERROR_CODES

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
    input: dict[str, Any] | None = Field(default=None, description="Text jobs: the normalised text and keywords")


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

    type: Literal["image", "text"]
    originalName: str | None = None
    dimensions: Dimensions | None = None


class StatusDocument(BaseModel):
    """GET /v1/jobs/{jobId}: where a job stands, and its stickers once completed."""

    model_config = ConfigDict(extra="allow")

    success: Literal[True]
    jobId: str
    type: Literal["image", "text"]
    status: Literal["queued", "active", "completed", "failed"]
    progress: int = Field(ge=0, le=100)
    attempts: int
    stickers: list[str] = Field(description="Public URLs: <cdn>/stickers/<jobId>/<n>-<style>.png (.webp for the WhatsApp preset)")
    styles: list[str]
    count: int
    processingTime: str | None
    createdAt: str
    completedAt: str | None
    metadata: Metadata
    preset: Literal["whatsapp", "telegram"] | None = None
    input: dict[str, Any] | None = None
    error: str | None = None


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
    styles: list[str] | None = Field(default=None, description="Image styles (default: the first five)")
    count: int | None = Field(default=None, ge=limits.COUNT_MIN, le=limits.COUNT_MAX)
    callbackUrl: str | None = Field(default=None, description="https URL that receives the final status document")
    preset: Literal["whatsapp", "telegram"] | None = None


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
        "preset": {"type": "string", "enum": ["whatsapp", "telegram"]},
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
    text = json.dumps(doc)
    for name in [n for n in schemas if f'"#/components/schemas/{n}"' not in text]:
        del schemas[name]  # e.g. Powertools' ResponseValidationError: never answered here
    return doc
