"""Errors in the contract's shape, in one place: ``{"success": false, "error", "code", …}``.

Every 4xx the API answers is an :class:`~stickers_core.errors.ApiError` raised in the core or a route;
Powertools' request validation errors, unknown routes and unexpected exceptions are mapped here too.
"""

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.metrics import MetricUnit

from functions.api.observability import logger, metrics
from functions.api.web import json_response
from stickers_core.errors import ApiError, JobNotFound, ValidationFailed


def on_api_error(exc: ApiError) -> Response:
    if exc.status == 403 and exc.code == "FORBIDDEN":
        return json_response(403, {"message": "Forbidden"})
    logger.info("request refused", extra={"code": exc.code, "status": exc.status})
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    return json_response(exc.status, exc.body())


def on_validation_error(exc: RequestValidationError) -> Response:
    """Powertools' request validation (the route signatures) in the contract's codes."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return json_response(400, ValidationFailed("INVALID_JSON", "The request body is not valid JSON").body())
    if first.get("type") == "unsupported_content_type":
        return json_response(415, ValidationFailed("UNSUPPORTED_MEDIA_TYPE", "Send a JSON body (application/json)", status=415).body())
    loc = [str(p) for p in first.get("loc", ())]
    field = loc[-1] if loc else "body"
    if loc[:1] == ["path"]:
        return json_response(404, {"success": False, "error": "Job not found", "code": "JOB_NOT_FOUND"})
    return json_response(
        400,
        ValidationFailed("INVALID_REQUEST", f'Invalid value for "{field}": {first.get("msg", "invalid")}', field=field).body(),
    )


def install(resolver: APIGatewayRestResolver) -> None:
    """Register the error handlers on `resolver` (the last two read its current event)."""
    resolver.exception_handler(ApiError)(on_api_error)
    resolver.exception_handler(RequestValidationError)(on_validation_error)

    @resolver.not_found
    def on_not_found(exc: Exception) -> Response:  # noqa: ARG001 - Powertools' not-found handler signature
        if resolver.current_event.path.startswith("/v1/jobs/"):  # e.g. an id with encoded slashes: still "no such job"
            return json_response(404, JobNotFound().body())
        return json_response(404, {"success": False, "error": "Route not found", "code": "NOT_FOUND"})

    @resolver.exception_handler(Exception)
    def on_unexpected(exc: Exception) -> Response:  # noqa: ARG001 - logged by logger.exception
        logger.exception("unhandled error")
        request_id = resolver.current_event.request_context.request_id
        return json_response(
            500, {"success": False, "error": "Internal error; quote the request id if you report it", "code": "INTERNAL_ERROR", "requestId": request_id}
        )
