"""The request models: each field of a JSON request body is read from here, and only here.

:class:`TextJobRequest`, :class:`PromptJobRequest` and :class:`UploadRequest` are route signatures (``Annotated[…, Body()]``), so
Powertools validates the body against them and documents them in the OpenAPI document. The image route
takes multipart/form-data or JSON, which no signature can say: its JSON body is read through
:class:`UploadedImageRequest` and its form through :class:`ImageForm` (documented by
:mod:`stickers_core.api_schema`). Their job options become one :class:`~stickers_core.validation.JobOptions`
(:meth:`JobFields.job_options`).
"""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from stickers_core import limits
from stickers_core.errors import ValidationFailed
from stickers_core.forms import FormPart
from stickers_core.models import DEFAULT_METHOD
from stickers_core.styles import IMAGE_STYLE_NAMES, TEXT_STYLE_NAMES
from stickers_core.validation import FORMATS, METHODS, ROTATE_RANGE, WATERMARK_OPACITY_RANGE, JobOptions

#: The option fields of a job request besides styles, count, preset and callbackUrl (docs/api.md
#: "method" and "Output options"): a multipart form's text fields or a JSON body's members.
OPTION_FIELDS = ("method", "format", "size", "rotate", "watermark", "watermarkOpacity")
#: Every option field a multipart image form may carry.
FORM_FIELDS = ("styles", "count", "callbackUrl", "preset", *OPTION_FIELDS)


def _documented(description: str, **schema: Any) -> Any:
    """A field taken as sent (its rule in stickers_core.validation decides), documented with `schema`."""
    return Field(default=None, description=description, json_schema_extra=schema or None)


class JobFields(BaseModel):
    """The job options every job request may carry (docs/api.md: styles, count, preset, callbackUrl,
    method, format, size, rotate, watermark, watermarkOpacity), as sent; a subclass narrows their types
    where Powertools validates them."""

    model_config = ConfigDict(extra="ignore")
    #: The style catalogue of the job type.
    allowed_styles: ClassVar[tuple[str, ...]] = IMAGE_STYLE_NAMES

    styles: Any = None
    count: Any = None
    callbackUrl: Any = None
    preset: Any = None
    method: Any = None
    format: Any = None
    size: Any = None
    rotate: Any = None
    watermark: Any = None
    watermarkOpacity: Any = None

    def job_options(self, *, allow_loopback_callbacks: bool) -> JobOptions:
        """The validated options (:meth:`JobOptions.parse`: styles, callbackUrl, preset, count, method,
        format, size, rotate, watermark, watermarkOpacity, and the rules between them).

        Raises:
            ValidationFailed: `UNKNOWN_STYLE`, `INVALID_REQUEST`, `UNKNOWN_PRESET`, `BAD_COUNT`,
                `INVALID_OPTION`, `CONFLICTING_OPTIONS`.
        """
        return JobOptions.parse(
            styles=self.styles,
            count=self.count,
            preset=self.preset,
            callback_url=self.callbackUrl,
            method=self.method,
            format=self.format,
            size=self.size,
            rotate=self.rotate,
            watermark=self.watermark,
            watermark_opacity=self.watermarkOpacity,
            allowed_styles=self.allowed_styles,
            allow_loopback_http=allow_loopback_callbacks,
        )


class DocumentedJobFields(JobFields):
    """The job options of the JSON job routes, typed and described for the OpenAPI document."""

    styles: list[str] | None = Field(default=None, description="Text styles: bubble, badge, retro")
    count: Any = Field(default=None, description="Number of stickers, 1–8")
    callbackUrl: str | None = Field(default=None, description="https URL that receives the final status document")
    preset: str | None = Field(default=None, description="Messenger preset: whatsapp or telegram (it decides size and format)")
    method: Any = _documented("Detail level of the drawn and painted styles and cartoon", type="string", enum=list(METHODS), default=DEFAULT_METHOD)
    format: Any = _documented("Sticker encoding (not with preset)", type="string", enum=list(FORMATS), default="png")
    size: Any = _documented("Longest side of every sticker, px (not with preset; default 512)", type="integer", minimum=limits.OUTPUT_SIZE_MIN_PX, maximum=limits.OUTPUT_SIZE_MAX_PX)
    rotate: Any = _documented("Rotation of the subject, degrees counter-clockwise", type="number", minimum=ROTATE_RANGE[0], maximum=ROTATE_RANGE[1], default=0)
    watermark: Any = _documented("Text drawn small in a corner of every sticker", type="string", minLength=1, maxLength=limits.WATERMARK_MAX_CHARS)
    watermarkOpacity: Any = _documented("Opacity of the watermark (only with watermark)", type="number", minimum=WATERMARK_OPACITY_RANGE[0], maximum=WATERMARK_OPACITY_RANGE[1], default=0.5)


class TextJobRequest(DocumentedJobFields):
    """Body of POST /v1/stickers/text."""

    allowed_styles: ClassVar[tuple[str, ...]] = TEXT_STYLE_NAMES

    text: str | None = Field(default=None, description="1–200 characters after trimming; emoji allowed")
    keywords: list[str] | None = Field(default=None, description="1–10 keywords of 1–30 characters")


class PromptJobRequest(DocumentedJobFields):
    """Body of POST /v1/stickers/prompt: a prompt, an optional negative prompt, reference uploads and
    seed, and the image styles and output options of the other job routes."""

    # the prompt fields are taken as sent: stickers_core.validation.normalise_prompt_input answers
    # 400 BAD_PROMPT (rather than Powertools' type error) for a prompt that is not 1–500 characters

    allowed_styles: ClassVar[tuple[str, ...]] = IMAGE_STYLE_NAMES

    prompt: Any = _documented("What to draw: 1–500 characters after trimming", type="string", minLength=1, maxLength=limits.PROMPT_MAX_CHARS)
    negativePrompt: Any = _documented("What not to draw: 1–500 characters", type="string", minLength=1, maxLength=limits.PROMPT_MAX_CHARS)
    referenceImages: Any = _documented(
        "Up to 3 upload ids (POST /v1/uploads) of the caller's photos the picture should resemble", type="array", items={"type": "string"}, maxItems=limits.REFERENCE_IMAGES_MAX
    )
    seed: Any = _documented("The generator's seed (same prompt and seed: the same picture)", type="integer", minimum=0, maximum=limits.SEED_MAX)
    styles: list[str] | None = Field(default=None, description="Image styles (default classic, outline, cartoon)")


class UploadedImageRequest(JobFields):
    """JSON body of POST /v1/stickers/image after a presigned upload.

    Not a route signature (the route also takes multipart), so nothing is type-checked here: each value
    goes as sent to the rule that owns it (an `uploadId` that is not a string is an unknown upload, a
    comma-separated `styles` string is accepted as in forms, …). Documented as
    :class:`stickers_core.api_schema.UploadedImageJobRequest`.
    """

    uploadId: Any = None


class ImageForm(JobFields):
    """The multipart/form-data body of POST /v1/stickers/image: the photo, its file name, and the option
    fields' text."""

    image: bytes
    filename: str | None = None
    styles: str | None = None
    count: str | None = None
    callbackUrl: str | None = None
    preset: str | None = None
    method: str | None = None
    format: str | None = None
    size: str | None = None
    rotate: str | None = None
    watermark: str | None = None
    watermarkOpacity: str | None = None

    @classmethod
    def from_parts(cls, parts: dict[str, FormPart]) -> "ImageForm":
        """The form of parsed parts (:func:`stickers_core.forms.parse_multipart`); a text field's bytes
        are decoded as UTF-8 (undecodable bytes replaced).

        Raises:
            ValidationFailed: `NO_IMAGE` without a non-empty `image` part.
        """
        image = parts.get("image")
        if image is None or not image.data:
            raise ValidationFailed("NO_IMAGE", "No image file provided")
        text = {name: bytes(parts[name].data).decode("utf-8", "replace") for name in FORM_FIELDS if name in parts}
        return cls(image=bytes(image.data), filename=image.filename, **text)


class UploadRequest(BaseModel):
    """Body of POST /v1/uploads."""

    contentType: Any = Field(description="image/jpeg, image/png, image/webp or image/gif")
    contentLength: Any = Field(default=None, description="Size in bytes, at most 10485760")
