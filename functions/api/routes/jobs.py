"""GET /v1/jobs/{jobId}, GET /v1/jobs, DELETE /v1/jobs/{jobId}: the caller's jobs (another key's are 404)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import Router

from functions.api.context import AppContext, app_context
from functions.api.web import caller, json_response
from stickers_core import api_schema as schema

router = Router()


@router.get(
    "/v1/jobs/<jobId>",
    summary="Job status and results",
    tags=["jobs"],
    responses={200: schema.json_content(schema.StatusDocument, "Status document"), 404: schema.error("JOB_NOT_FOUND")},
)
def get_job(
    jobId: Annotated[str, Path(max_length=64)],  # noqa: N803 - the contract's name
    app: Annotated[AppContext, Depends(app_context)],
    owner: Annotated[str, Depends(caller)],
):
    return json_response(200, app.service.status(owner, jobId))


@router.get(
    "/v1/jobs",
    summary="The caller's jobs, newest first",
    tags=["jobs"],
    responses={200: schema.json_content(schema.JobList, "A page of status documents"), 400: schema.error("INVALID_REQUEST: bad limit or nextToken")},
)
def list_jobs(
    app: Annotated[AppContext, Depends(app_context)],
    owner: Annotated[str, Depends(caller)],
    limit: Annotated[str | None, Query(description="Page size 1–100, default 20")] = None,
    nextToken: Annotated[str | None, Query(max_length=2048)] = None,  # noqa: N803
):
    return json_response(200, app.service.list_jobs(owner, limit, nextToken))


@router.delete(
    "/v1/jobs/<jobId>",
    summary="Delete a job, its upload and its stickers",
    tags=["jobs"],
    responses={204: {"description": "Deleted"}, 404: schema.error("JOB_NOT_FOUND"), 409: schema.error("JOB_ACTIVE")},
)
def delete_job(
    jobId: Annotated[str, Path(max_length=64)],  # noqa: N803
    app: Annotated[AppContext, Depends(app_context)],
    owner: Annotated[str, Depends(caller)],
):
    app.service.delete_job(owner, jobId)
    return Response(status_code=204, body="")
