"""POST /v1/stickers/image (a photo: multipart, or JSON after a presigned upload) and POST
/v1/stickers/text: validate, queue a job, answer 202 — at most once per Idempotency-Key."""

import hashlib
from functools import partial
from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.event_handler.router import Router
from aws_lambda_powertools.metrics import MetricUnit

from functions.api.context import AppContext, app_context, respond_once
from functions.api.idempotency import Answer, fingerprint
from functions.api.models import ImageForm, TextJobRequest, UploadedImageRequest
from functions.api.observability import logger, metrics
from functions.api.web import caller, event_of, header, json_body, raw_body
from stickers_core import api_schema as schema
from stickers_core import limits
from stickers_core.errors import ValidationFailed
from stickers_core.forms import FormPart, parse_multipart
from stickers_core.models import Job, JobType
from stickers_core.service import accepted_body

router = Router()

_COMMON_IMAGE_ERRORS = {
    400: schema.error("NO_IMAGE, CORRUPT_IMAGE, BAD_DIMENSIONS, UNKNOWN_STYLE, BAD_COUNT, UNKNOWN_PRESET, INVALID_OPTION, CONFLICTING_OPTIONS, INVALID_JSON, INVALID_REQUEST"),
    404: schema.error("UPLOAD_NOT_FOUND"),
    413: schema.error("TOO_LARGE (maxSize; uploadUrl on the direct path)"),
    415: schema.error("UNSUPPORTED_TYPE, UNSUPPORTED_MEDIA_TYPE"),
}


@router.post(
    "/v1/stickers/image",
    summary="Stickers from a photo",
    description="multipart/form-data with `image` (file, ≤ 4 MB) and optional `styles`, `count`, `callbackUrl`, "
    "`preset`, `method`, `format`, `size`, `rotate`, `watermark`, `watermarkOpacity`; or JSON `{uploadId, styles, count, "
    "callbackUrl, preset, method, format, size, rotate, watermark, watermarkOpacity}` after POST /v1/uploads (≤ 10 MB). "
    "With `preset`, `size` and `format` are the preset's (sending them is CONFLICTING_OPTIONS).",
    responses={202: schema.json_content(schema.AcceptedResponse, "Job queued"), **_COMMON_IMAGE_ERRORS},
    tags=["stickers"],
)
def create_image_job(
    http_request: Request,
    app: Annotated[AppContext, Depends(app_context)],
    owner: Annotated[str, Depends(caller)],
):
    event = event_of(http_request)
    content_type = header(event, "content-type") or ""  # the multipart boundary is case-sensitive
    if content_type.lower().startswith("application/json"):
        body = json_body(event)
        create = partial(_queue_uploaded_image, app, owner, UploadedImageRequest.model_validate(body))
        body_hash = fingerprint(body)
    elif content_type.lower().startswith("multipart/form-data"):
        parts = _form_parts(raw_body(event), content_type)
        create = partial(_queue_direct_image, app, owner, ImageForm.from_parts(parts))
        body_hash = fingerprint({name: [part.filename, hashlib.sha256(bytes(part.data)).hexdigest()] for name, part in parts.items()})
    elif not raw_body(event):
        raise ValidationFailed("NO_IMAGE", "No image file provided")
    else:
        raise ValidationFailed(
            "UNSUPPORTED_MEDIA_TYPE",
            "Send multipart/form-data with an `image` file, or JSON with an `uploadId`",
            status=415,
        )
    return respond_once(http_request, "POST /v1/stickers/image", create, body_hash=body_hash)


@router.post(
    "/v1/stickers/text",
    summary="Stickers from text or keywords",
    responses={
        202: schema.json_content(schema.AcceptedResponse, "Job queued (data.input echoes the normalised input)"),
        400: schema.error("NO_INPUT, TEXT_TOO_LONG, TOO_MANY_KEYWORDS, BAD_KEYWORD, BAD_TEXT, INVALID_JSON, UNKNOWN_STYLE, BAD_COUNT, UNKNOWN_PRESET, INVALID_OPTION, CONFLICTING_OPTIONS, INVALID_REQUEST"),
        413: schema.error("TOO_LARGE: a JSON body over 64 KiB"),
        415: schema.error("UNSUPPORTED_MEDIA_TYPE: not JSON"),
    },
    tags=["stickers"],
)
def create_text_job(
    request: Annotated[TextJobRequest, Body()],
    http_request: Request,
    app: Annotated[AppContext, Depends(app_context)],
    owner: Annotated[str, Depends(caller)],
):
    return respond_once(http_request, "POST /v1/stickers/text", partial(_queue_text, app, owner, request))


# --- what runs once per Idempotency-Key --------------------------------------------------------------
def _queue_uploaded_image(app: AppContext, owner: str, form: UploadedImageRequest) -> Answer:
    options = form.job_options(allow_loopback_callbacks=app.allow_loopback_callbacks)
    return _accepted(app.service.submit_uploaded_image(owner, form.uploadId, options=options), "image job queued")


def _queue_direct_image(app: AppContext, owner: str, form: ImageForm) -> Answer:
    options = form.job_options(allow_loopback_callbacks=app.allow_loopback_callbacks)
    return _accepted(app.service.submit_image(owner, form.image, filename=form.filename, options=options), "image job queued")


def _queue_text(app: AppContext, owner: str, request: TextJobRequest) -> Answer:
    options = request.job_options(allow_loopback_callbacks=app.allow_loopback_callbacks)
    return _accepted(app.service.submit_text(owner, text=request.text, keywords=request.keywords, options=options), "text job queued")


def _accepted(job: Job, message: str) -> Answer:
    metrics.add_metric(name="JobsCreated", unit=MetricUnit.Count, value=1)
    logged = {"jobId": job.job_id, "styles": job.styles} if job.type is JobType.IMAGE else {"jobId": job.job_id}
    logger.info(message, extra=logged)
    return 202, accepted_body(job)


def _form_parts(body: bytes, content_type: str) -> dict[str, FormPart]:
    """The parts of a direct upload; a part over 4 MB is refused pointing to the presigned route."""
    try:
        return parse_multipart(body, content_type, max_part_bytes=limits.DIRECT_UPLOAD_MAX_BYTES)
    except ValidationFailed as exc:
        if exc.code == "TOO_LARGE":
            raise ValidationFailed(
                "TOO_LARGE",
                f"File too large for a direct upload (max {limits.DIRECT_UPLOAD_MAX_BYTES} bytes); "
                "use POST /v1/uploads for photos up to 10 MB",
                status=413,
                maxSize=limits.DIRECT_UPLOAD_MAX_BYTES,
                uploadUrl="/v1/uploads",
            ) from None
        raise
