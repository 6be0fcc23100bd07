"""JobOptions.parse: `method` and the output options of docs/api.md (format, size, rotate, watermark,
watermarkOpacity), from a multipart form's strings and from a JSON body's numbers, the preset conflict,
and the error codes and fields."""

from __future__ import annotations

from typing import Any

import pytest

from stickers_core import limits
from stickers_core.errors import ERROR_CODES, ValidationFailed
from stickers_core.models import OutputOptions
from stickers_core.styles import IMAGE_STYLE_NAMES, TEXT_STYLE_NAMES
from stickers_core.validation import JobOptions


def parse(**raw: Any) -> JobOptions:
    return JobOptions.parse(allowed_styles=IMAGE_STYLE_NAMES, allow_loopback_http=False, **raw)


def refused(**raw: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        parse(**raw)
    exc = info.value
    assert ERROR_CODES[exc.code] == exc.status == 400
    assert exc.body()["error"] and exc.body()["code"] == exc.code
    return exc


def test_nothing_asked_is_the_defaults() -> None:
    options = parse()
    assert options == JobOptions()
    assert options.method == "advanced" and options.output == OutputOptions() and options.output.is_default
    assert options.output.format == "png" and options.output.size is None and options.output.rotate == 0.0
    assert options.output.watermark is None and options.output.watermark_opacity == 0.5


def test_empty_form_fields_count_as_absent() -> None:
    assert parse(method="", format="", size="", rotate="", watermark="", watermark_opacity="") == JobOptions()


# --- method ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw,method", [("basic", "basic"), ("advanced", "advanced"), ("artistic", "artistic"), (" Artistic ", "artistic"), ("BASIC", "basic"), (None, "advanced")])
def test_method(raw: Any, method: str) -> None:
    assert parse(method=raw).method == method


@pytest.mark.parametrize("raw", ["fancy", "basic,advanced", 1, True, ["basic"], {"m": 1}, " "])
def test_unknown_method_is_invalid_option(raw: Any) -> None:
    exc = refused(method=raw)
    assert exc.code == "INVALID_OPTION" and exc.details["field"] == "method"
    assert exc.details["allowed"] == ["basic", "advanced", "artistic"]


def test_method_applies_to_text_jobs_too() -> None:
    options = JobOptions.parse(method="basic", allowed_styles=TEXT_STYLE_NAMES, allow_loopback_http=False)
    assert options.method == "basic"


# --- format ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw,fmt", [("png", "png"), ("webp", "webp"), ("WebP", "webp"), (" png ", "png")])
def test_format(raw: str, fmt: str) -> None:
    assert parse(format=raw).output.format == fmt


@pytest.mark.parametrize("raw", ["jpeg", "gif", "image/png", " ", 5, False, ["png"]])
def test_unknown_format_is_invalid_option(raw: Any) -> None:
    exc = refused(format=raw)
    assert exc.code == "INVALID_OPTION" and exc.details["field"] == "format" and exc.details["allowed"] == ["png", "webp"]


# --- size --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw,size",
    [
        ("128", 128), ("1024", 1024), (" 300 ", 300), ("512", 512), ("+256", 256), ("256.0", 256),  # form fields
        (128, 128), (1024, 1024), (640, 640), (256.0, 256),  # JSON numbers
    ],
)  # fmt: skip
def test_size(raw: Any, size: int) -> None:
    assert parse(size=raw).output.size == size
    assert isinstance(parse(size=raw).output.size, int)


@pytest.mark.parametrize(
    "raw",
    ["127", "1025", "0", "-512", "256.5", "abc", "1e3", "nan", "inf", "5 12", "0x100", " ",
     127, 1025, 0, -1, 256.5, float("nan"), float("inf"), True, [512], {"px": 512}],
)  # fmt: skip
def test_size_out_of_range_or_not_an_integer_is_invalid_option(raw: Any) -> None:
    exc = refused(size=raw)
    assert exc.code == "INVALID_OPTION" and exc.details["field"] == "size"
    assert (exc.details["min"], exc.details["max"]) == (limits.OUTPUT_SIZE_MIN_PX, limits.OUTPUT_SIZE_MAX_PX)


# --- rotate ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw,degrees",
    [
        ("90", 90.0), ("-180", -180.0), ("180", 180.0), ("12.5", 12.5), (".5", 0.5), ("-0", 0.0), (" 45 ", 45.0),  # form fields
        (90, 90.0), (-180, -180.0), (180.0, 180.0), (-33.25, -33.25), (0, 0.0),  # JSON numbers
    ],
)  # fmt: skip
def test_rotate(raw: Any, degrees: float) -> None:
    assert parse(rotate=raw).output.rotate == degrees


def test_minus_zero_is_zero() -> None:
    assert str(parse(rotate="-0").output.rotate) == "0.0" and str(parse(rotate=-0.0).output.rotate) == "0.0"


@pytest.mark.parametrize(
    "raw",
    ["181", "-180.5", "360", "ninety", "1e2", "nan", "-inf", "9 0", " ", "90°",
     181, -181, 180.0001, float("nan"), float("-inf"), False, [90], {"deg": 90}],
)  # fmt: skip
def test_rotate_out_of_range_or_not_a_number_is_invalid_option(raw: Any) -> None:
    exc = refused(rotate=raw)
    assert exc.code == "INVALID_OPTION" and exc.details["field"] == "rotate"
    assert (exc.details["min"], exc.details["max"]) == (-180, 180)


# --- watermark ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw,text",
    [("© Ana", "© Ana"), ("  padded  ", "padded"), ("x" * limits.WATERMARK_MAX_CHARS, "x" * limits.WATERMARK_MAX_CHARS),
     ("Cafe\u0301", "Café"), ("😀 emoji", "😀 emoji"), ("a", "a")],
)  # fmt: skip
def test_watermark(raw: str, text: str) -> None:
    assert parse(watermark=raw).output.watermark == text


@pytest.mark.parametrize("raw", ["x" * (limits.WATERMARK_MAX_CHARS + 1), "   ", "two\nlines", "tab\there", "bell\x07", "lone \ud800", 5, True, ["mark"]])
def test_bad_watermark_is_invalid_option(raw: Any) -> None:
    exc = refused(watermark=raw)
    assert exc.code == "INVALID_OPTION" and exc.details["field"] == "watermark" and exc.details["maxLength"] == limits.WATERMARK_MAX_CHARS


# --- watermarkOpacity --------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw,opacity", [("0.1", 0.1), ("1", 1.0), ("1.0", 1.0), (".75", 0.75), (0.1, 0.1), (1, 1.0), (0.3, 0.3), (None, 0.5)])
def test_watermark_opacity(raw: Any, opacity: float) -> None:
    assert parse(watermark="mine", watermark_opacity=raw).output.watermark_opacity == opacity


@pytest.mark.parametrize("raw", ["0.09", "1.01", "0", "-0.5", "half", "nan", " ", 0.05, 1.5, 0, float("nan"), True, [0.5]])
def test_watermark_opacity_out_of_range_is_invalid_option(raw: Any) -> None:
    exc = refused(watermark="mine", watermark_opacity=raw)
    assert exc.code == "INVALID_OPTION" and exc.details["field"] == "watermarkOpacity"
    assert (exc.details["min"], exc.details["max"]) == (0.1, 1.0)


@pytest.mark.parametrize("raw", ["0.5", 0.8])
def test_watermark_opacity_without_a_watermark_is_invalid_option(raw: Any) -> None:
    exc = refused(watermark_opacity=raw)
    assert exc.code == "INVALID_OPTION" and exc.details["field"] == "watermarkOpacity"
    assert "watermark" in exc.message


def test_an_empty_watermark_field_with_an_opacity_is_still_no_watermark() -> None:
    assert refused(watermark="", watermark_opacity="0.5").details["field"] == "watermarkOpacity"


# --- preset ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["whatsapp", "telegram"])
@pytest.mark.parametrize("field,raw", [("size", "256"), ("size", 256), ("format", "webp"), ("format", "png")])
def test_size_or_format_with_a_preset_conflicts(preset: str, field: str, raw: Any) -> None:
    exc = refused(preset=preset, **{field: raw})
    assert exc.code == "CONFLICTING_OPTIONS" and exc.details == {"field": field, "conflictsWith": "preset"}


def test_a_preset_takes_the_other_output_options() -> None:
    options = parse(preset="whatsapp", method="artistic", rotate="-45", watermark="mine", watermark_opacity="0.3")
    assert options.preset == "whatsapp" and options.method == "artistic"
    assert options.output == OutputOptions(rotate=-45.0, watermark="mine", watermark_opacity=0.3)


def test_an_invalid_value_is_reported_before_the_conflict() -> None:
    assert refused(preset="whatsapp", size="9999").code == "INVALID_OPTION"
    assert refused(preset="whatsapp", format="gif").code == "INVALID_OPTION"


def test_empty_size_and_format_fields_do_not_conflict_with_a_preset() -> None:
    assert parse(preset="telegram", size="", format="").preset == "telegram"


# --- all together, and the order of the checks -------------------------------------------------------------
def test_every_option_from_a_form() -> None:
    options = parse(styles="charcoal,cartoon", count="3", method="basic", format="webp", size="768", rotate="-12.5", watermark="@me", watermark_opacity="0.8")
    assert options.styles == ("charcoal", "cartoon") and options.count == 3 and options.method == "basic"
    assert options.output == OutputOptions(format="webp", size=768, rotate=-12.5, watermark="@me", watermark_opacity=0.8)


def test_every_option_from_json() -> None:
    options = parse(styles=["oil"], count=2, method="artistic", format="png", size=200, rotate=30, watermark="x", watermark_opacity=1)
    assert options.output == OutputOptions(format="png", size=200, rotate=30.0, watermark="x", watermark_opacity=1.0)


def test_the_existing_rules_are_checked_first() -> None:
    assert refused(styles="glitter", method="nope").code == "UNKNOWN_STYLE"
    assert refused(preset="nope", method="nope").code == "UNKNOWN_PRESET"
    assert refused(count="9", size="1").code == "BAD_COUNT"
    assert refused(method="nope", size="1").details["field"] == "method"
    assert refused(format="gif", size="1").details["field"] == "format"
    assert refused(size="1", rotate="999").details["field"] == "size"
    assert refused(rotate="999", watermark="x" * 99).details["field"] == "rotate"


def test_the_new_codes_are_in_the_error_table() -> None:
    assert ERROR_CODES["INVALID_OPTION"] == 400 and ERROR_CODES["CONFLICTING_OPTIONS"] == 400
