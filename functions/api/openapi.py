"""The API's own description: the OpenAPI 3 document generated from the routes (Powertools) and
completed by :func:`stickers_core.api_schema.complete_document`.

``local_stack/static/docs/openapi.json`` is a committed copy (``docs/openapi.json`` links to it), kept in
sync by a test; ``python -m functions.api.app > local_stack/static/docs/openapi.json`` regenerates it.
"""

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from stickers_core import api_schema as schema

API_TITLE = "Sticker API"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Die-cut stickers from a photo or a text. Every /v1 route needs the `x-api-key` header. "
    "Jobs are asynchronous: POST returns 202 with a job id, GET /v1/jobs/{jobId} reports progress and the "
    "sticker URLs. Errors: {success: false, error, code, …}; the codes are listed in `x-error-codes`."
)


def openapi_document(resolver: APIGatewayRestResolver) -> dict[str, Any]:
    """The OpenAPI 3 document of the routes of `resolver`."""
    # Imported here, not at module level: Powertools' OpenAPI models (~40 pydantic models) are built at
    # import (~80 ms of the cold import); only this document needs them, not request validation (docs/performance.md).
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server

    model = resolver.get_openapi_schema(
        title=API_TITLE,
        version=API_VERSION,
        description=API_DESCRIPTION,
        servers=[Server(url="/")],
        security_schemes={"apiKey": APIKey(name="x-api-key", **{"in": APIKeyIn.header})},
        security=[{"apiKey": []}],
    )
    doc = json.loads(model.model_dump_json(by_alias=True, exclude_none=True))
    return schema.complete_document(doc)


def openapi_json(resolver: APIGatewayRestResolver) -> str:
    """:func:`openapi_document` as the exact text served and committed (sorted keys, 2-space indent)."""
    return json.dumps(openapi_document(resolver), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
