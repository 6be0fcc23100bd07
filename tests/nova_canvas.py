"""Amazon Nova Canvas's InvokeModel request and response schema, as AWS documents it, for the tests.

Written from the Amazon Nova user guide, "Request and response structure for image generation"
(https://docs.aws.amazon.com/nova/latest/userguide/image-gen-req-resp-structure.html) and "Error
handling" (https://docs.aws.amazon.com/nova/latest/userguide/image-gen-errors.html): the two tasks
gpu_service.generation sends (TEXT_IMAGE, IMAGE_VARIATION), each task's params object and the shared
imageGenerationConfig, with the documented bounds (text and negativeText 1–1024 characters, 1–5
images of which 1–5 reference images, similarityStrength 0.2–1.0, cfgScale 1.1–10, width and height
320–4096 px, quality standard | premium). Test-only: nothing shipped reads it.
"""

from __future__ import annotations

from typing import Any

import jsonschema

_TEXT = {"type": "string", "minLength": 1, "maxLength": 1024}
_CONFIG = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "width": {"type": "integer", "minimum": 320, "maximum": 4096, "multipleOf": 16},
        "height": {"type": "integer", "minimum": 320, "maximum": 4096, "multipleOf": 16},
        "quality": {"enum": ["standard", "premium"]},
        "cfgScale": {"type": "number", "minimum": 1.1, "maximum": 10},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2_147_483_646},
        "numberOfImages": {"type": "integer", "minimum": 1, "maximum": 5},
    },
}
REQUEST_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["taskType", "textToImageParams"],
            "properties": {
                "taskType": {"const": "TEXT_IMAGE"},
                "textToImageParams": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["text"],
                    "properties": {"text": _TEXT, "negativeText": _TEXT, "style": {"type": "string"}},
                },
                "imageGenerationConfig": _CONFIG,
            },
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["taskType", "imageVariationParams"],
            "properties": {
                "taskType": {"const": "IMAGE_VARIATION"},
                "imageVariationParams": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["images"],
                    "properties": {
                        "images": {"type": "array", "minItems": 1, "maxItems": 5, "items": {"type": "string", "contentEncoding": "base64", "minLength": 1}},
                        "similarityStrength": {"type": "number", "minimum": 0.2, "maximum": 1.0},
                        "text": _TEXT,
                        "negativeText": _TEXT,
                    },
                },
                "imageGenerationConfig": _CONFIG,
            },
        },
    ]
}
RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"images": {"type": "array", "items": {"type": "string"}}, "error": {"type": "string"}},
}
#: The content filter's words (Nova Canvas "Error handling").
INPUT_REFUSED = "This request has been blocked by our content filters. Please adjust your text prompt to submit a new request."
OUTPUT_REFUSED = "All of the generated images have been blocked by our content filters."
SOME_REFUSED = "Some of the generated images have been blocked by our content filters."


def check_request(body: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless `body` is a documented Nova Canvas request."""
    jsonschema.validate(body, REQUEST_SCHEMA)
