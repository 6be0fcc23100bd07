"""POST /v1/stickers/prompt: stickers from a text prompt (an image generator draws the picture, the
worker cuts it out like a photo). Validate, count against the key's daily prompt quota, queue a
``prompt`` job, answer 202 — at most once per Idempotency-Key. Where no generator is configured the
route answers 501 ``GENERATION_UNAVAILABLE`` (never a made-up picture)."""

from functools import partial
from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.event_handler.router import Router
from aws_lambda_powertools.metrics import MetricUnit

from functions.api.context import AppContext, app_context, respond_once
from functions.api.idempotency import Answer
from functions.api.models import PromptJobRequest
from functions.api.observability import logger, metrics
from functions.api.web import caller
from stickers_core import api_schema as schema
from stickers_core.service import accepted_body

router = Router()


@router.post(
    "/v1/stickers/prompt",
    summary="Stickers from a prompt",
    description="An image generator (Amazon Bedrock) draws the prompt as one subject on a plain background; the worker then "
    "makes stickers of it with the image styles (default classic, outline, cartoon). With `referenceImages` (upload ids of "
    "POST /v1/uploads) the picture is a variation of those photos. Each key may submit a limited number of prompt jobs per "
    "UTC day (429 PROMPT_QUOTA_EXCEEDED). A generator's refusal fails the job with `code: PROMPT_REFUSED` (not retried).",
    responses={
        202: schema.json_content(schema.AcceptedResponse, "Job queued (data.input echoes the normalised prompt)"),
        400: schema.error("BAD_PROMPT, UNKNOWN_STYLE, BAD_COUNT, UNKNOWN_PRESET, INVALID_OPTION, CONFLICTING_OPTIONS, CORRUPT_IMAGE, BAD_DIMENSIONS, INVALID_JSON, INVALID_REQUEST"),
        404: schema.error("UPLOAD_NOT_FOUND: a reference image is not one of the caller's uploads"),
        413: schema.error("TOO_LARGE: a JSON body over 64 KiB, or a reference upload over 10 MB"),
        415: schema.error("UNSUPPORTED_MEDIA_TYPE: not JSON; UNSUPPORTED_TYPE: a reference upload that is no photo"),
        429: schema.error("PROMPT_QUOTA_EXCEEDED (quota: prompt jobs per key per UTC day); or API Gateway's throttling"),
        501: schema.error("GENERATION_UNAVAILABLE: no image generator is configured in this deployment"),
    },
    tags=["stickers"],
)
def create_prompt_job(
    request: Annotated[PromptJobRequest, Body()],
    http_request: Request,
    app: Annotated[AppContext, Depends(app_context)],
    owner: Annotated[str, Depends(caller)],
):
    return respond_once(http_request, "POST /v1/stickers/prompt", partial(_queue_prompt, app, owner, request))


def _queue_prompt(app: AppContext, owner: str, request: PromptJobRequest) -> Answer:
    """Validate and queue once per Idempotency-Key (:meth:`StickerService.submit_prompt`)."""
    options = request.job_options(allow_loopback_callbacks=app.allow_loopback_callbacks)
    job = app.service.submit_prompt(
        owner, prompt=request.prompt, negative_prompt=request.negativePrompt, reference_images=request.referenceImages, seed=request.seed, options=options
    )
    metrics.add_metric(name="JobsCreated", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="PromptJobsCreated", unit=MetricUnit.Count, value=1)
    logger.info("prompt job queued", extra={"jobId": job.job_id, "styles": job.styles, "references": len(job.reference_keys)})
    return 202, accepted_body(job)
