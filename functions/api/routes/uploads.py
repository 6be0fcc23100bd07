"""POST /v1/uploads: a presigned S3 POST for a photo up to 10 MB, replayed (Idempotency-Key) only while
its form is still valid."""

from functools import partial
from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.event_handler.router import Router

from functions.api.context import AppContext, app_context, respond_once
from functions.api.idempotency import UPLOAD_REPLAY_TTL_S, Answer
from functions.api.models import UploadRequest
from functions.api.web import caller
from stickers_core import api_schema as schema

router = Router()


@router.post(
    "/v1/uploads",
    summary="A presigned S3 POST for photos up to 10 MB",
    tags=["stickers"],
    responses={
        200: schema.json_content(schema.UploadSlot, "Upload slot: POST `fields` + the file (`file`) to `url`"),
        413: schema.error("TOO_LARGE"),
        415: schema.error("UNSUPPORTED_TYPE"),
    },
)
def create_upload(
    request: Annotated[UploadRequest, Body()],
    http_request: Request,
    app: Annotated[AppContext, Depends(app_context)],
    owner: Annotated[str, Depends(caller)],
):
    return respond_once(http_request, "POST /v1/uploads", partial(_upload_slot, app, owner, request), ttl_s=UPLOAD_REPLAY_TTL_S)


def _upload_slot(app: AppContext, owner: str, request: UploadRequest) -> Answer:
    return 200, app.service.create_upload(owner, request.contentType, request.contentLength)
