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


#: Stability AI Stable Image Core / Ultra on Bedrock (Amazon Bedrock user guide, "Stable Image Core request
#: and response"; "Stable Image Ultra request and response"): text to image; prompt and negative_prompt up
#: to 10,000 characters, seed 0–4,294,967,294, aspect_ratio and output_format from their enums.
STABLE_IMAGE_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "maxLength": 10_000},
        "negative_prompt": {"type": "string", "maxLength": 10_000},
        "mode": {"const": "text-to-image"},
        "aspect_ratio": {"enum": ["16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"]},
        "output_format": {"enum": ["jpeg", "png", "webp"]},
        "seed": {"type": "integer", "minimum": 0, "maximum": 4_294_967_294},
    },
}
STABLE_IMAGE_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "seeds": {"type": "array", "items": {"type": "integer"}},
        "finish_reasons": {
            "type": "array",
            "items": {"enum": [None, "Filter reason: prompt", "Filter reason: output image", "Filter reason: input image", "Inference error"]},
        },
        "images": {"type": "array", "items": {"type": "string"}},
    },
}
