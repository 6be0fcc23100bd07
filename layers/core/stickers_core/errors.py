"""Errors that end up in front of an API caller, in the contract's shape.

Every 4xx the API answers is an :class:`ApiError` raised somewhere in the core or a handler and turned
into ``{"success": false, "error": <sentence>, "code": <CODE>, ...details}`` in one place (the API
function's exception handler). The codes are stable: they are listed in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request the service refuses, with its HTTP status and stable machine code.

    Args:
        status: HTTP status code (400, 403, 404, 409, 413, 415, 503…).
        code: stable machine-readable code, e.g. ``"UNSUPPORTED_TYPE"``.
        message: one human sentence.
        **details: extra fields merged into the error body (``maxSize``, ``allowed``…).
    """

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The error envelope of docs/api.md: ``{"success": False, "error", "code", **details}``."""
        return {"success": False, "error": self.message, "code": self.code, **self.details}


class ValidationFailed(ApiError):
    """Input that fails validation (400 unless another status is given)."""

    def __init__(self, code: str, message: str, status: int = 400, **details: Any) -> None:
        super().__init__(status, code, message, **details)


class JobNotFound(ApiError):
    """The job does not exist, its id is malformed, or it belongs to another API key (404)."""

    def __init__(self) -> None:
        super().__init__(404, "JOB_NOT_FOUND", "Job not found")


class PermanentJobError(Exception):
    """A job failure that no retry can fix (e.g. the stored upload is not a decodable image).

    The worker fails the job at once instead of burning the remaining attempts.

    Args:
        message: the sentence the failed job's status document shows (``error``).
        code: the failed job's stable machine code (``code`` in the status document, e.g.
            ``PROMPT_REFUSED``), or None for failures without one.
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


#: Every error code the API can answer, with its status, for the OpenAPI schema and the docs.
ERROR_CODES: dict[str, int] = {
    "NO_IMAGE": 400,
    "UNSUPPORTED_TYPE": 415,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "TOO_LARGE": 413,
    "BAD_DIMENSIONS": 400,
    "CORRUPT_IMAGE": 400,
    "UNKNOWN_STYLE": 400,
    "BAD_COUNT": 400,
    "UPLOAD_NOT_FOUND": 404,
    "NO_INPUT": 400,
    "TEXT_TOO_LONG": 400,
    "TOO_MANY_KEYWORDS": 400,
    "BAD_KEYWORD": 400,
    "BAD_TEXT": 400,
    "INVALID_JSON": 400,
    "INVALID_REQUEST": 400,
    "JOB_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "JOB_ACTIVE": 409,
    "IDEMPOTENCY_CONFLICT": 409,
    "IDEMPOTENCY_IN_PROGRESS": 409,
    "UNKNOWN_PRESET": 400,
    "INVALID_OPTION": 400,
    "CONFLICTING_OPTIONS": 400,
    "BAD_PROMPT": 400,
    "PROMPT_QUOTA_EXCEEDED": 429,
    "GENERATION_UNAVAILABLE": 501,
    "SERVICE_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
}

#: Codes a failed job's status document may carry (``code`` beside ``error``): not answers of a route.
JOB_ERROR_CODES: dict[str, str] = {
    "PROMPT_REFUSED": "The image generator's content filter refused the prompt or a reference image (not retried)",
    "GENERATION_UNAVAILABLE": "A prompt job reached a worker that has no image generator configured (not retried)",
}
