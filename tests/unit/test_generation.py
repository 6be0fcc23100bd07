"""gpu_service.generation against botocore's Stubber: the InvokeModel bodies it builds are Amazon Nova
Canvas requests as documented (tests/nova_canvas.py), and its answers — pictures, content-filter
refusals (input and output), other errors, throttling retried with backoff — become what the worker
needs (PNG bytes, PROMPT_REFUSED, a permanent or a transient failure)."""

from __future__ import annotations

import base64
import io
import json

import boto3
import jsonschema
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from PIL import Image

from gpu_service import generation
from gpu_service.generation import BedrockGenerator, GenerationFailed, GenerationRefused, GenerationRequest, nova_canvas_body, parse_nova_canvas_response
from stickers_core.errors import PermanentJobError
from stickers_core.settings import Settings
from tests.nova_canvas import INPUT_REFUSED, OUTPUT_REFUSED, RESPONSE_SCHEMA, SOME_REFUSED, check_request

MODEL = "amazon.nova-canvas-v1:0"


def _png(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _answer(payload: dict) -> dict:
    jsonschema.validate(payload, RESPONSE_SCHEMA)
    raw = json.dumps(payload).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


@pytest.fixture
def stubbed():
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    waits: list[float] = []
    with Stubber(client) as stubber:
        yield BedrockGenerator(client, MODEL, sleep=waits.append), stubber, waits
        stubber.assert_no_pending_responses()


def _expect(stubber: Stubber, *, answer: dict | None = None, error: tuple[str, str, int] | None = None) -> None:
    params = {"modelId": MODEL, "body": ANY, "contentType": "application/json", "accept": "application/json"}
    if error is None:
        stubber.add_response("invoke_model", _answer(answer or {}), params)
    else:
        code, message, status = error
        stubber.add_client_error("invoke_model", service_error_code=code, service_message=message, http_status_code=status, expected_params=params)


def test_text_image_body_is_documented_schema() -> None:
    body = nova_canvas_body(GenerationRequest("a red cat playing guitar", negative_prompt="dogs", seed=42))
    check_request(body)
    assert body["taskType"] == "TEXT_IMAGE"
    params, config = body["textToImageParams"], body["imageGenerationConfig"]
    assert params["text"].startswith("a red cat playing guitar") and "plain flat white background" in params["text"]
    assert params["negativeText"].startswith("dogs, ") and "busy background" in params["negativeText"]
    assert config == {"width": 1024, "height": 1024, "quality": "standard", "cfgScale": 6.5, "numberOfImages": 1, "seed": 42}
    assert "seed" not in nova_canvas_body(GenerationRequest("a cat"))["imageGenerationConfig"]  # None: the model's own
    longest = nova_canvas_body(GenerationRequest("x" * 500, negative_prompt="y" * 500))
    check_request(longest)  # the longest prompts the API accepts stay within the model's 1024 characters


def test_image_variation_body_carries_scaled_references() -> None:
    big, tiny = _png((3000, 1000)), _png((100, 80))
    body = nova_canvas_body(GenerationRequest("a cat", reference_images=[big, tiny]))
    check_request(body)
    assert body["taskType"] == "IMAGE_VARIATION"
    params = body["imageVariationParams"]
    assert params["similarityStrength"] == 0.7 and params["text"].startswith("a cat")
    sizes = [Image.open(io.BytesIO(base64.b64decode(b))).size for b in params["images"]]
    assert sizes == [(1408, 469), (400, 320)]  # scaled down to 1408 px, up to 320 px, aspect kept
    with pytest.raises(PermanentJobError):
        nova_canvas_body(GenerationRequest("a cat", reference_images=[b"not an image"]))


def test_picture_is_returned(stubbed) -> None:
    generator, stubber, waits = stubbed
    picture = _png()
    _expect(stubber, answer={"images": [base64.b64encode(picture).decode()]})
    assert generator.generate(GenerationRequest("a cat")) == picture
    assert waits == []


def test_some_blocked_still_returns_the_picture() -> None:
    picture = _png()
    assert parse_nova_canvas_response(json.dumps({"images": [base64.b64encode(picture).decode()], "error": SOME_REFUSED}).encode()) == picture


@pytest.mark.parametrize(
    ("answer", "error", "raised", "code"),
    [
        (None, ("ValidationException", INPUT_REFUSED, 400), GenerationRefused, "PROMPT_REFUSED"),
        ({"images": [], "error": OUTPUT_REFUSED}, None, GenerationRefused, "PROMPT_REFUSED"),
        (None, ("ValidationException", "The width must be a multiple of 16", 400), PermanentJobError, None),
        (None, ("AccessDeniedException", "You don't have access to the model with the specified model ID.", 403), PermanentJobError, "GENERATION_UNAVAILABLE"),
        (None, ("ResourceNotFoundException", "Could not resolve the foundation model", 404), PermanentJobError, "GENERATION_UNAVAILABLE"),
        (None, ("InternalFailure", "something else", 500), GenerationFailed, None),
        ({"images": []}, None, GenerationFailed, None),
    ],
    ids=["input-refused", "output-refused", "invalid-request", "access-denied", "model-not-found", "other-error", "no-picture"],
)
def test_failures(stubbed, answer, error, raised, code) -> None:
    generator, stubber, waits = stubbed
    _expect(stubber, answer=answer, error=error)
    with pytest.raises(raised) as caught:
        generator.generate(GenerationRequest("a cat"))
    assert getattr(caught.value, "code", None) == code
    assert waits == []  # none of these is retried here


def test_throttling_is_retried_with_backoff(stubbed) -> None:
    generator, stubber, waits = stubbed
    picture = _png()
    _expect(stubber, error=("ThrottlingException", "Too many requests", 429))
    _expect(stubber, error=("ServiceUnavailableException", "busy", 503))
    _expect(stubber, error=("ModelTimeoutException", "timed out", 408))
    _expect(stubber, answer={"images": [base64.b64encode(picture).decode()]})
    assert generator.generate(GenerationRequest("a cat")) == picture
    assert len(waits) == 3
    for retry, wait in enumerate(waits, start=1):  # full jitter within the capped exponential bound
        assert 0 <= wait <= min(generation.BACKOFF_CAP_S, generation.BACKOFF_BASE_S * 2 ** (retry - 1))


def test_throttling_past_the_attempts_fails_transiently(stubbed) -> None:
    generator, stubber, waits = stubbed
    for _ in range(generation.MAX_ATTEMPTS):
        _expect(stubber, error=("ThrottlingException", "Too many requests", 429))
    with pytest.raises(GenerationFailed, match="after 4 tries"):
        generator.generate(GenerationRequest("a cat"))
    assert len(waits) == generation.MAX_ATTEMPTS - 1


def test_client_never_takes_the_emulator_endpoint(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    client = generation.bedrock_client(Settings(generator="bedrock", bedrock_region="eu-west-1"), boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y"))
    assert client.meta.endpoint_url == "https://bedrock-runtime.eu-west-1.amazonaws.com"
    assert client.meta.config.retries["total_max_attempts"] == 1
    stand_in = generation.bedrock_client(Settings(bedrock_endpoint_url="http://127.0.0.1:9"), boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y"))
    assert stand_in.meta.endpoint_url == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="Nova Canvas"):
        BedrockGenerator(client, "stability.sd3-large-v1:0")



STABLE = "stability.stable-image-core-v1:1"


def test_stable_image_body_is_documented_schema() -> None:
    from tests.nova_canvas import STABLE_IMAGE_REQUEST_SCHEMA

    body = generation.stable_image_body(GenerationRequest("a red cat", negative_prompt="dogs", seed=858_993_459))
    jsonschema.validate(body, STABLE_IMAGE_REQUEST_SCHEMA)
    assert body["prompt"].startswith("a red cat") and body["negative_prompt"].startswith("dogs, ") and body["seed"] == 858_993_459
    assert body["output_format"] == "png" and body["aspect_ratio"] == "1:1"
    with pytest.raises(PermanentJobError, match="no reference images"):
        generation.stable_image_body(GenerationRequest("a cat", reference_images=[_png()]))


@pytest.mark.parametrize(
    ("answer", "raised"),
    [
        ({"seeds": [1], "finish_reasons": ["Filter reason: prompt"], "images": []}, GenerationRefused),
        ({"seeds": [1], "finish_reasons": ["Filter reason: output image"], "images": []}, GenerationRefused),
        ({"seeds": [1], "finish_reasons": ["Inference error"], "images": []}, GenerationFailed),
        (None, None),
    ],
    ids=["prompt-filtered", "output-filtered", "inference-error", "picture"],
)
def test_stable_image_answers(answer, raised) -> None:
    from tests.nova_canvas import STABLE_IMAGE_RESPONSE_SCHEMA

    client = boto3.client("bedrock-runtime", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="y")
    picture = _png()
    payload = answer or {"seeds": [7], "finish_reasons": [None], "images": [base64.b64encode(picture).decode()]}
    jsonschema.validate(payload, STABLE_IMAGE_RESPONSE_SCHEMA)
    raw = json.dumps(payload).encode()
    with Stubber(client) as stubber:
        stubber.add_response("invoke_model", {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}, {"modelId": STABLE, "body": ANY, "contentType": "application/json", "accept": "application/json"})
        generator = BedrockGenerator(client, STABLE, sleep=lambda _s: None)
        if raised is None:
            assert generator.generate(GenerationRequest("a cat")) == picture
        else:
            with pytest.raises(raised) as caught:
                generator.generate(GenerationRequest("a cat"))
            assert getattr(caught.value, "code", None) == ("PROMPT_REFUSED" if raised is GenerationRefused else None)


def test_reference_images_need_nova_canvas() -> None:
    import uuid

    from stickers_core.errors import ValidationFailed
    from stickers_core.service import StickerService
    from tests.unit.fakes import FakeJobStore, FakeQueue, FakeStorage

    service = StickerService(Settings(generator="bedrock", bedrock_model_id=STABLE), store=FakeJobStore(), queue=FakeQueue(), storage=FakeStorage())  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed) as caught:
        service.submit_prompt("owner", prompt="a cat", reference_images=[str(uuid.uuid4())])
    assert (caught.value.status, caught.value.code, caught.value.details["field"]) == (400, "INVALID_REQUEST", "referenceImages")
