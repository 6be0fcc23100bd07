"""Pictures from a prompt: Amazon Bedrock ``InvokeModel`` with Amazon Nova Canvas, or Stability AI Stable
Image Core / Ultra (prompt jobs).

The worker asks the model for one picture of the prompt as a single subject on a plain background
(sticker-friendly: the segmentation model then cuts it out like a photo), and gets PNG bytes back.

Amazon Nova Canvas, request and response (Amazon Nova user guide, "Request and response structure for image generation",
https://docs.aws.amazon.com/nova/latest/userguide/image-gen-req-resp-structure.html; errors:
"Error handling", https://docs.aws.amazon.com/nova/latest/userguide/image-gen-errors.html):

- Text to image: ``{"taskType": "TEXT_IMAGE", "textToImageParams": {"text": 1–1024 chars,
  "negativeText"?: 1–1024 chars}, "imageGenerationConfig": {"width", "height", "quality":
  "standard" | "premium", "cfgScale": 1.1–10, "seed", "numberOfImages": 1–5}}``.
- With reference images, image variation: ``{"taskType": "IMAGE_VARIATION", "imageVariationParams":
  {"images": [1–5 base64 PNG/JPEG], "similarityStrength": 0.2–1.0, "text"?, "negativeText"?},
  "imageGenerationConfig": {…}}``.
- Response: ``{"images": [base64 PNG…], "error"?: str}``.
- Content filter: a refused *input* (text or image) is a ``ValidationException`` whose message says
  "This request has been blocked by our content filters…"; a refused *output* is a successful
  response whose ``error`` is "All of the generated images have been blocked by our content filters."
  (or "Some of …" when only some were). Both fail the job at once with ``PROMPT_REFUSED``
  (:class:`GenerationRefused`); another ``ValidationException`` fails it without a code (retrying
  the same request cannot help).

Stability AI Stable Image Core / Ultra (``stability.stable-image-core-*``, ``stability.stable-image-ultra-*``;
Amazon Bedrock user guide, "Stable Image Core request and response",
https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-diffusion-stable-image-core-text-image-request-response.html,
and "Stable Image Ultra request and response"): text to image only, ``{"prompt": 0–10,000 chars,
"negative_prompt"?, "mode": "text-to-image", "aspect_ratio": "1:1", "output_format": "png", "seed"?}``;
response ``{"seeds", "finish_reasons": [null | "Filter reason: prompt" | "Filter reason: output image" |
"Filter reason: input image" | "Inference error"], "images": [base64…]}``. A "Filter reason" is a
refusal (``PROMPT_REFUSED``), "Inference error" a transient failure. Reference images need Nova Canvas
(the API refuses them for another model).

Both families:

- Throttling and transient model errors (``ThrottlingException``, ``ServiceUnavailableException``,
  ``ModelTimeoutException``, ``ModelNotReadyException``, ``InternalServerException``) are retried
  here with capped exponential backoff and full jitter (AWS Architecture Blog, "Exponential Backoff
  And Jitter"), :data:`MAX_ATTEMPTS` calls at most; botocore's own retries are off so the two do not
  multiply. Past that, :class:`GenerationFailed`: the attempt fails transiently and SQS redelivers
  the job as usual.

The Bedrock client is the only one that may leave the machine on the embedded local stack: it never
takes ``AWS_ENDPOINT_URL`` (the emulator's) but the regional endpoint, or
:attr:`~stickers_core.settings.Settings.bedrock_endpoint_url` when set (tests' loopback stand-in), and
its credentials come from the session it is given (the real ones the local stack captured at start).
"""

from __future__ import annotations

import base64
import io
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stickers_core.errors import PermanentJobError
from stickers_core.settings import Settings, image_model_family

#: Side of the generated square picture, px: the largest size of Nova Canvas's lowest price tier
#: ("up to 1024 × 1024"), and twice the default sticker size.
IMAGE_SIDE_PX = 1024
QUALITY = "standard"
#: Classifier-free guidance scale (Nova Canvas accepts 1.1–10; AWS's default is 6.5).
CFG_SCALE = 6.5
#: How closely an image variation follows its reference images (0.2–1.0).
SIMILARITY_STRENGTH = 0.7
#: Reference images are sent with their sides within these bounds, px (Nova Canvas accepts 320–4096).
REFERENCE_MIN_SIDE_PX, REFERENCE_MAX_SIDE_PX = 320, 1408
#: What makes a picture sticker-friendly: one whole subject on a plain background. Nova Canvas's
#: guide asks for no negations in the prompt; what to avoid goes to ``negativeText``.
STICKER_PROMPT = "{prompt}. Sticker illustration: one single subject, centered, whole subject in frame, on a plain flat white background"
STICKER_NEGATIVE = "busy background, scenery, multiple subjects, cropped subject, text, watermark, frame"
#: Calls of one generation at most (the first and the retries), and the backoff's base and cap, seconds.
MAX_ATTEMPTS = 4
BACKOFF_BASE_S, BACKOFF_CAP_S = 1.0, 8.0
#: Bedrock Runtime error codes that no retry of the job fixes: the account has no access to the model
#: (model access not enabled, an SCP, the role's grant) or the model id does not exist in the region. The
#: job fails at once with ``GENERATION_UNAVAILABLE`` (as where no generator is configured) and the log
#: says what ops must fix, instead of three attempts and the dead-letter queue.
UNAVAILABLE_CODES = frozenset({"AccessDeniedException", "ResourceNotFoundException"})
#: Bedrock Runtime error codes that a later call may not meet (throttling, capacity, model timeouts).
RETRYABLE_CODES = frozenset({"ThrottlingException", "ServiceUnavailableException", "ModelTimeoutException", "ModelNotReadyException", "InternalServerException"})
#: How Nova Canvas words a content-filter refusal (input: ValidationException message; output: ``error``).
CONTENT_FILTER_MARK = "blocked by our content filters"
#: The read timeout of one InvokeModel call, seconds (a premium 1024 px picture can take tens of seconds).
READ_TIMEOUT_S = 120


class GenerationRefused(PermanentJobError):
    """The model's content filter refused the prompt, a reference image or every picture it made:
    the job fails at once with ``code: "PROMPT_REFUSED"``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="PROMPT_REFUSED")


class GenerationFailed(Exception):
    """The generator did not answer with a picture after the retries (throttling, model errors, an
    unreadable answer): the attempt fails and is retried like any transient failure."""


@dataclass(frozen=True)
class GenerationRequest:
    """What to draw.

    Attributes:
        prompt: 1–500 characters (validated at submit).
        negative_prompt: what not to draw, or None.
        seed: the model's seed (0–858,993,459), or None for a random one.
        reference_images: encoded photos (JPEG, PNG, WebP, GIF bytes) the picture should resemble (≤ 3).
    """

    prompt: str
    negative_prompt: str | None = None
    seed: int | None = None
    reference_images: Sequence[bytes] = field(default_factory=tuple)


def _reference_b64(data: bytes) -> str:
    """One reference photo as Nova Canvas takes it: RGB PNG, EXIF orientation applied, sides scaled
    into [:data:`REFERENCE_MIN_SIDE_PX`, :data:`REFERENCE_MAX_SIDE_PX`] (aspect kept; a side that
    cannot fit is clamped), base64 text.

    Raises:
        PermanentJobError: the bytes are not a decodable image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        raise PermanentJobError("A reference image could not be decoded") from None
    scale = min(REFERENCE_MAX_SIDE_PX / max(image.size), 1.0)
    scale = max(scale, REFERENCE_MIN_SIDE_PX / min(image.size))
    size = tuple(min(max(round(side * scale), REFERENCE_MIN_SIDE_PX), REFERENCE_MAX_SIDE_PX) for side in image.size)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def nova_canvas_body(request: GenerationRequest, *, width: int = IMAGE_SIDE_PX, height: int = IMAGE_SIDE_PX) -> dict[str, Any]:
    """The InvokeModel body for Amazon Nova Canvas (module docstring): ``TEXT_IMAGE``, or
    ``IMAGE_VARIATION`` with the reference images; one picture of `width` × `height` px, standard
    quality, the sticker prompt around the caller's and the sticker negatives before the caller's.

    Raises:
        PermanentJobError: a reference image could not be decoded.
    """
    text = STICKER_PROMPT.format(prompt=request.prompt)
    negative = f"{request.negative_prompt}, {STICKER_NEGATIVE}" if request.negative_prompt else STICKER_NEGATIVE
    config: dict[str, Any] = {"width": width, "height": height, "quality": QUALITY, "cfgScale": CFG_SCALE, "numberOfImages": 1}
    if request.seed is not None:
        config["seed"] = request.seed
    if request.reference_images:
        params = {"images": [_reference_b64(data) for data in request.reference_images], "similarityStrength": SIMILARITY_STRENGTH, "text": text, "negativeText": negative}
        return {"taskType": "IMAGE_VARIATION", "imageVariationParams": params, "imageGenerationConfig": config}
    return {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": text, "negativeText": negative}, "imageGenerationConfig": config}


def parse_nova_canvas_response(payload: bytes) -> bytes:
    """The first picture of a Nova Canvas answer (``{"images": [base64…], "error"?}``), decoded.

    Returns:
        The picture's encoded bytes (PNG).

    Raises:
        GenerationRefused: no picture and an ``error`` saying the content filters blocked them.
        GenerationFailed: no picture otherwise, or an answer that is not the documented JSON.
    """
    try:
        answer = json.loads(payload)
        images = answer.get("images") or []
        error = answer.get("error")
        picture = base64.b64decode(images[0], validate=True) if images else b""
    except (ValueError, TypeError, AttributeError) as exc:
        raise GenerationFailed(f"The image generator's answer could not be read ({type(exc).__name__})") from None
    if picture:
        return picture
    if isinstance(error, str) and CONTENT_FILTER_MARK in error:
        raise GenerationRefused("The image generator's content filter blocked the picture; try another prompt")
    raise GenerationFailed(f"The image generator answered without a picture ({error or 'no error given'})")


#: How Stable Image reports a refusal in ``finish_reasons`` (its other non-null value is "Inference error").
STABLE_IMAGE_FILTER_MARK = "Filter reason"


def stable_image_body(request: GenerationRequest) -> dict[str, Any]:
    """The InvokeModel body for Stability AI Stable Image Core / Ultra (module docstring): one square PNG
    of the sticker prompt, text to image.

    Raises:
        PermanentJobError: the request has reference images (these models take none).
    """
    if request.reference_images:
        raise PermanentJobError("The configured image model takes no reference images (Amazon Nova Canvas does)")
    negative = f"{request.negative_prompt}, {STICKER_NEGATIVE}" if request.negative_prompt else STICKER_NEGATIVE
    body: dict[str, Any] = {
        "prompt": STICKER_PROMPT.format(prompt=request.prompt),
        "negative_prompt": negative,
        "mode": "text-to-image",
        "aspect_ratio": "1:1",
        "output_format": "png",
    }
    if request.seed is not None:
        body["seed"] = request.seed
    return body


def parse_stable_image_response(payload: bytes) -> bytes:
    """The first picture of a Stable Image answer (``{"seeds", "finish_reasons", "images"}``), decoded.

    Raises:
        GenerationRefused: its finish reason is a "Filter reason: …" (prompt, input or output image).
        GenerationFailed: "Inference error", no picture, or an answer that is not the documented JSON.
    """
    try:
        answer = json.loads(payload)
        reasons = answer.get("finish_reasons") or [None]
        images = answer.get("images") or []
        picture = base64.b64decode(images[0], validate=True) if images else b""
    except (ValueError, TypeError, AttributeError) as exc:
        raise GenerationFailed(f"The image generator's answer could not be read ({type(exc).__name__})") from None
    reason = reasons[0]
    if isinstance(reason, str) and reason.startswith(STABLE_IMAGE_FILTER_MARK):
        raise GenerationRefused(f"The image generator's content filter blocked the request ({reason}); try another prompt")
    if reason is not None or not picture:
        raise GenerationFailed(f"The image generator answered without a picture ({reason or 'no picture'})")
    return picture


def bedrock_client(settings: Settings, session: Any | None = None) -> Any:
    """A Bedrock Runtime client for `settings`' region, from `session` (default: a new boto3 session,
    which reads the environment's or the instance's credentials).

    Its endpoint is :attr:`Settings.bedrock_endpoint_url` when set, else AWS's regional one
    (``https://bedrock-runtime.<region>.amazonaws.com``), given explicitly so that ``AWS_ENDPOINT_URL``
    (the local stack's emulator) never applies. botocore's retries are off (:class:`BedrockGenerator`
    retries).
    """
    import boto3

    session = session or boto3.session.Session()
    endpoint = settings.bedrock_endpoint_url or f"https://bedrock-runtime.{settings.bedrock_region}.amazonaws.com"
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=READ_TIMEOUT_S, connect_timeout=10)
    return session.client("bedrock-runtime", region_name=settings.bedrock_region, endpoint_url=endpoint, config=config)


class BedrockGenerator:
    """Draws a prompt with a Bedrock text-to-image model (Amazon Nova Canvas, or Stable Image Core/Ultra).

    Args:
        client: a ``bedrock-runtime`` client (:func:`bedrock_client`).
        model_id: the model, e.g. ``amazon.nova-canvas-v1:0`` or ``stability.stable-image-core-v1:1``.
        sleep: how to wait between attempts (tests pass a recorder).
        rng: the jitter's random source.

    Raises:
        ValueError: a model id this module cannot speak to.
    """

    def __init__(self, client: Any, model_id: str, *, sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> None:
        self.family = image_model_family(model_id)
        if self.family is None:
            raise ValueError(f"unsupported image model {model_id!r}: Amazon Nova Canvas (amazon.nova-canvas-*) or Stable Image Core/Ultra (stability.stable-image-core-*, -ultra-*)")
        self.client, self.model_id = client, model_id
        self._sleep, self._rng = sleep, rng or random.Random()

    @classmethod
    def from_settings(cls, settings: Settings, session: Any | None = None) -> BedrockGenerator:
        """The generator of `settings` (model id, region, endpoint), on `session`'s credentials."""
        return cls(bedrock_client(settings, session), settings.bedrock_model_id)

    def backoff_s(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1, 2, …): full jitter, uniform in
        [0, min(cap, base × 2^(retry−1))]."""
        return self._rng.uniform(0.0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (retry - 1)))

    def generate(self, request: GenerationRequest) -> bytes:
        """One picture of `request`, encoded (PNG as the model returns it).

        Raises:
            GenerationRefused: the content filter refused (``PROMPT_REFUSED``, not retried).
            PermanentJobError: the model refused the request as invalid, or a reference did not decode;
                with ``code="GENERATION_UNAVAILABLE"``: the account may not invoke the model or it does
                not exist in the region (:data:`UNAVAILABLE_CODES`).
            GenerationFailed: throttling or model errors outlasted :data:`MAX_ATTEMPTS` calls, or
                another failure (network): the attempt is retried later.
        """
        nova = self.family == "nova-canvas"
        body = json.dumps(nova_canvas_body(request) if nova else stable_image_body(request))
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                answer = self.client.invoke_model(modelId=self.model_id, body=body, contentType="application/json", accept="application/json")
                payload = answer["body"].read()
                return parse_nova_canvas_response(payload) if nova else parse_stable_image_response(payload)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code, message = str(error.get("Code", "")), str(error.get("Message", ""))
                if code == "ValidationException" and CONTENT_FILTER_MARK in message:
                    raise GenerationRefused("The image generator's content filter blocked the request; try another prompt or reference image") from None
                if code == "ValidationException":
                    raise PermanentJobError(f"The image generator refused the request: {message[:200]}") from None
                if code in UNAVAILABLE_CODES:
                    raise PermanentJobError(
                        f"The image generator is not available to this deployment ({code}: {message[:200]}); "
                        "enable access to the model in the Bedrock console or check bedrockModelId / bedrockRegion",
                        code="GENERATION_UNAVAILABLE",
                    ) from None
                if code not in RETRYABLE_CODES:
                    raise GenerationFailed(f"The image generator failed ({code})") from exc
                if attempt == MAX_ATTEMPTS:
                    raise GenerationFailed(f"The image generator was unavailable after {MAX_ATTEMPTS} tries ({code})") from exc
                self._sleep(self.backoff_s(attempt))
            except BotoCoreError as exc:
                raise GenerationFailed(f"The image generator could not be reached ({type(exc).__name__})") from exc
        raise AssertionError("unreachable")  # pragma: no cover
