"""A job's method and output options through the real pipeline (issue 14, worker side): size, rotation,
watermark, WebP, the contact sheet, and the default path kept byte for byte.

Real photos (scikit-image's chelsea and astronaut) cut out by the real model once per session
(``sample_photos``); each test renders through :class:`StickerPipeline` with that matte.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading

import cv2
import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import corners_transparent

from gpu_service.pipeline import media, output
from gpu_service.pipeline.diecut import prepare
from gpu_service.pipeline.output import Output, contact_sheet, rotate_image, rotate_subject, thumbnail_webp
from gpu_service.pipeline.pipeline import STYLE_DECODE_SIDE, RenderedSticker, StickerPipeline, decode_side
from gpu_service.pipeline.refine import despeckle, despeckle_fraction
from gpu_service.pipeline.styles import CARTOON_METHODS, cartoon, classic
from stickers_core import limits
from stickers_core.models import OutputOptions

SIZE_STYLES = ["classic", "outline", "cartoon", "sketch", "pop", "pixel", "oil", "cutout"]


class Fixed:
    """The model's matte of the photo, computed once (the pipeline's model is not what is tested)."""

    def __init__(self, alpha: np.ndarray) -> None:
        self.alpha = alpha

    def predict(self, rgb: np.ndarray) -> np.ndarray:  # noqa: ARG002
        return self.alpha


@pytest.fixture(scope="module")
def photos(sample_photos):
    """{name: (PIL photo, pipeline)} for chelsea and astronaut."""
    return {n: (Image.fromarray(rgb), StickerPipeline(Fixed(a), encode_workers=2)) for n, (rgb, a) in sample_photos.items() if n != "coffee"}


def render(photos, name: str, styles: list[str], **kwargs) -> list[RenderedSticker]:  # noqa: ANN001
    image, pipeline = photos[name]
    return pipeline.render_image(image, styles, **kwargs)


def rgba(sticker: RenderedSticker) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(sticker.data)).convert("RGBA"))


# --- the default path ---------------------------------------------------------------------------------------

#: SHA-256 of the PNGs of a synthetic job (below) as the pipeline wrote them before the output options existed
#: (commit b109f34): the default path must stay byte-identical. Pinned library versions make them stable; a
#: deliberate change of these styles updates them.
GOLDEN = {
    "classic": "41a14e565e840b9036a08ba714540120942a5c71263cf734474d5976126f4304",
    "cartoon": "ec33edfba5c74a8247a813403d18d6183eaccc23025b62d586cbe741b012a818",
}


def test_default_options_are_byte_identical_to_the_stickers_before_them():
    h, w = 300, 400
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.dstack([xs * 0.6, ys * 0.8, 255 - (xs + ys) * 0.3]).clip(0, 255).astype(np.uint8)
    rgb[100:200, 150:260] = (200, 60, 40)
    alpha = ((((xs - 200) / 120) ** 2 + ((ys - 150) / 90) ** 2) < 1).astype(np.uint8) * 255
    pipeline = StickerPipeline(Fixed(alpha), encode_workers=1)
    for kwargs in ({}, {"output": OutputOptions()}, {"output": None, "method": "advanced"}, {"output": Output()}):
        out = pipeline.render_image(Image.fromarray(rgb), ["classic", "cartoon"], **kwargs)
        assert {s.style: hashlib.sha256(s.data).hexdigest() for s in out} == GOLDEN, kwargs
        assert all(s.format == "png" and s.content_type == "image/png" and s.extension == "png" for s in out)


def test_output_of_defaults_is_none_and_of_any_option_is_not():
    assert Output.of(None) is None and Output.of(OutputOptions()) is None and Output.of(Output()) is None
    assert Output.of(OutputOptions(watermark_opacity=0.9)) is None, "an opacity without a watermark changes nothing"
    for change in ({"format": "webp"}, {"size": 256}, {"rotate": 30}, {"watermark": "©me"}):
        got = Output.of(OutputOptions(**change))
        assert got is not None and got.extension == ("webp" if change.get("format") else "png")
    with pytest.raises(ValueError, match="unknown output format 'gif'"):
        Output.of(Output(format="gif"))


def test_rendered_sticker_keeps_png_for_older_callers():
    s = RenderedSticker(index=1, style="classic", png=b"x", width=1, height=1)
    assert s.data == s.png == b"x" and s.format == "png" and s.image is None
    with pytest.raises(TypeError):
        RenderedSticker(index=1, style="classic", width=1, height=1)


# --- method ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["cartoon", *media.MEDIA_RENDERERS])
def test_method_reaches_cartoon_and_the_media_through_the_pipeline(photos, style):
    made = {m: render(photos, "chelsea", [style], method=m)[0].data for m in (None, "basic", "advanced", "artistic")}
    assert made[None] == made["advanced"], "no method = advanced"
    assert len({made["basic"], made["advanced"], made["artistic"]}) == 3, "each method draws its own sticker"


def test_cartoon_methods_go_from_flat_to_detailed(photos, sample_photos):
    rgb, alpha = sample_photos["chelsea"]
    subject = prepare(rgb, despeckle(alpha, despeckle_fraction()))
    inside = subject.alpha >= 0.99
    colours, ink = {}, {}
    for method in CARTOON_METHODS:
        px = np.asarray(cartoon(subject, 0, method))[..., :3][inside]
        dark = (px.astype(int).sum(axis=1) < 3 * 40)
        ink[method] = dark.mean()
        colours[method] = len(np.unique(px[~dark], axis=0))
    assert colours["basic"] < colours["advanced"] < colours["artistic"], colours
    assert ink["basic"] < ink["advanced"] < ink["artistic"], ink
    with pytest.raises(ValueError, match="unknown method 'cubist'"):
        render(photos, "chelsea", ["cartoon"], method="cubist")


# --- size --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [128, 300, 1024])
def test_size_is_the_exact_longest_side_of_every_sticker(photos, size):
    out = render(photos, "chelsea", SIZE_STYLES, output=OutputOptions(size=size))
    for s in out:
        img = Image.open(io.BytesIO(s.data))
        assert max(img.size) == size == max(s.width, s.height), (s.style, img.size)
        assert img.mode == "RGBA" and corners_transparent(np.asarray(img)[..., 3]) or s.style == "cutout"


def test_border_and_margins_scale_with_the_size(photos):
    """A sticker drawn at 128 px and one at 1024 px cover the same share of their canvas (the border,
    margin and shadow scale with the size), and the 1024 px one is sharper than a 512 px one upscaled."""
    styles = ["classic", "outline", "pop"]
    small, big, plain = (render(photos, "astronaut", styles, output=OutputOptions(size=s) if s else None) for s in (128, 1024, None))
    for s, b, p in zip(small, big, plain):
        share = [(rgba(x)[..., 3] > 127).mean() for x in (s, b, p)]
        assert max(share) - min(share) < 0.03, (s.style, share)
    # drawn at 1024 px, not resampled: more edge detail than the 512 px sticker upscaled
    hi = cv2.cvtColor(rgba(big[0])[..., :3], cv2.COLOR_RGB2GRAY)
    up = cv2.cvtColor(np.asarray(Image.fromarray(rgba(plain[0])).resize(big[0].image.size, Image.Resampling.LANCZOS))[..., :3], cv2.COLOR_RGB2GRAY)
    assert cv2.Laplacian(hi, cv2.CV_32F).var() > 1.5 * cv2.Laplacian(up, cv2.CV_32F).var()


def test_cutout_keeps_the_photo_resolution_unless_a_size_is_given(photos):
    image, _ = photos["chelsea"]
    (full,) = render(photos, "chelsea", ["cutout"])
    (sized,) = render(photos, "chelsea", ["cutout"], output=OutputOptions(size=200))
    assert (full.width, full.height) == image.size and max(sized.width, sized.height) == 200


def test_decode_side_grows_with_the_size():
    assert decode_side(["classic"]) == decode_side(["classic"], 300) == STYLE_DECODE_SIDE
    assert decode_side(["classic"], 1024) == 2 * STYLE_DECODE_SIDE
    assert decode_side(["cutout"]) is None and decode_side(["cutout", "pop"], 700) == 700


# --- rotation ----------------------------------------------------------------------------------------------


def _principal_angle(mask: np.ndarray) -> float:
    """Orientation of a region's principal axis, degrees counter-clockwise on screen (0..180)."""
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    theta = 0.5 * math.degrees(math.atan2(2 * m["mu11"], m["mu20"] - m["mu02"]))  # image axes: y down
    return (-theta) % 180.0


@pytest.mark.parametrize("name", ["chelsea", "astronaut"])
def test_rotate_turns_the_subject_before_the_style_and_the_border_follows_it(photos, sample_photos, name):
    (plain,) = render(photos, name, ["classic"])
    (turned,) = render(photos, name, ["classic"], output=OutputOptions(rotate=30))
    turn = (_principal_angle(rgba(turned)[..., 3] > 127) - _principal_angle(rgba(plain)[..., 3] > 127)) % 180
    assert abs(turn - 30) < 4, f"principal axis turned {turn:.1f}°"
    # the same as styling the rotated subject: rotation first, then prepare, border and shadow
    rgb, alpha = sample_photos[name]
    subject = prepare(*rotate_subject(rgb, despeckle(alpha, despeckle_fraction()), 30))
    assert np.array_equal(np.asarray(classic(subject)), rgba(turned))
    a = rgba(turned)[..., 3]
    assert max(a.shape) == 512 and corners_transparent(a)
    # the die-cut ring (12 px, its convex corners rounded) surrounds the rotated subject everywhere:
    # every pixel within 8 px of it is opaque
    ring = (subject.outside > 0) & (subject.outside <= 8)
    assert ring.sum() > 1000 and (a[ring] == 255).all()


def test_rotate_subject_expands_the_canvas_and_keeps_the_whole_subject(sample_photos):
    rgb, alpha = sample_photos["astronaut"]
    for degrees in (30, -90, 180):
        r, a = rotate_subject(rgb, alpha, degrees, crop=False)
        assert r.shape[:2] == a.shape and a.dtype == np.uint8
        assert abs(int((a > 127).sum()) - int((alpha > 127).sum())) < 0.01 * (alpha > 127).sum(), "no subject cut off"
    assert rotate_subject(rgb, alpha, 90, crop=False)[1].shape == alpha.shape[::-1]
    empty = np.zeros_like(alpha)
    r, a = rotate_subject(rgb, empty, 30)  # no subject: the photo as a rounded rectangle, rotated
    assert (a > 127).mean() > 0.4


def test_text_stickers_turn_finished_with_their_border():
    pipeline = StickerPipeline(object(), encode_workers=1)
    (plain,) = pipeline.render_text("Hello", [], ["bubble"])
    (turned,) = pipeline.render_text("Hello", [], ["bubble"], output=OutputOptions(rotate=30))
    assert np.array_equal(np.asarray(rotate_image(plain.image, 30)), np.asarray(turned.image))
    (sized,) = pipeline.render_text("Hello", [], ["badge"], output=OutputOptions(rotate=-20, size=640))
    assert max(sized.width, sized.height) == 640


# --- watermark ---------------------------------------------------------------------------------------------


def test_watermark_changes_only_pixels_near_one_corner_and_opacity_scales_it(photos):
    (plain,) = render(photos, "chelsea", ["classic"], output=OutputOptions(size=512, format="png"))
    diffs = {}
    for opacity in (0.3, 0.9):
        (marked,) = render(photos, "chelsea", ["classic"], output=OutputOptions(watermark="©me", watermark_opacity=opacity))
        a, b = rgba(plain).astype(int), rgba(marked).astype(int)
        assert a.shape == b.shape
        changed = np.nonzero(np.abs(a - b).sum(axis=2))
        h, w = a.shape[:2]
        y0, y1, x0, x1 = changed[0].min(), changed[0].max(), changed[1].min(), changed[1].max()
        near = [(y0 > h / 2 or y1 < h / 2), (x0 > w / 2 or x1 < w / 2)]
        assert all(near), f"changes within one quadrant, got box {(x0, y0, x1, y1)}"
        assert (x1 - x0) * (y1 - y0) < 0.05 * h * w, "a small watermark"
        assert np.array_equal(a[..., 3], b[..., 3]), "inside the opaque area: the outline is unchanged"
        diffs[opacity] = np.abs(a - b)[..., :3].sum()
    assert 2.0 < diffs[0.9] / diffs[0.3] < 4.0, diffs


def test_watermark_on_a_sticker_without_room_gets_a_plate_in_the_corner():
    tiny = Image.new("RGBA", (200, 120), (0, 0, 0, 0))
    marked = np.asarray(output.watermark(tiny, "a long watermark that cannot fit", 1.0))
    assert marked.shape == (120, 200, 4) and marked[..., 3].max() > 0
    ys, xs = np.nonzero(marked[..., 3])
    assert ys.max() >= 100 and xs.max() >= 180, "bottom-right corner"


def test_watermark_in_any_script_with_emoji():
    img = Image.new("RGBA", (512, 512), (40, 90, 160, 255))
    for text in ("©me", "عيد سعيد", "नमस्ते 🎉", "x" * limits.WATERMARK_MAX_CHARS):
        assert not np.array_equal(np.asarray(output.watermark(img, text, 0.8)), np.asarray(img)), text


# --- format ------------------------------------------------------------------------------------------------


def test_webp_decodes_as_webp_with_alpha_and_round_trips_losslessly(photos):
    opts = {"size": 256, "rotate": 15, "watermark": "©me"}
    png = render(photos, "astronaut", ["classic", "pixel", "oil", "cutout"], output=OutputOptions(**opts))
    webp = render(photos, "astronaut", ["classic", "pixel", "oil", "cutout"], output=OutputOptions(format="webp", **opts))
    for p, w in zip(png, webp):
        img = Image.open(io.BytesIO(w.data))
        assert img.format == "WEBP" and img.mode == "RGBA" and w.content_type == "image/webp" and w.extension == "webp"
        assert np.array_equal(np.asarray(img), rgba(p)), f"{w.style}: lossless"
        assert np.array_equal(np.asarray(img), np.asarray(w.image))


def test_text_stickers_take_every_option():
    pipeline = StickerPipeline(object(), encode_workers=1)
    out = pipeline.render_text("Happy Birthday!", ["party"], ["bubble", "badge", "retro"],
                               output=OutputOptions(format="webp", size=256, rotate=30, watermark="©me"))  # fmt: skip
    for s in out:
        img = Image.open(io.BytesIO(s.data))
        assert img.format == "WEBP" and max(img.size) == 256 and corners_transparent(np.asarray(img.convert("RGBA"))[..., 3])


# --- contact sheet -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 3, 5, 8])
def test_contact_sheet_is_a_webp_grid_of_the_stickers_within_256_px(photos, n):
    styles = (["classic", "outline", "cartoon", "sketch", "pop", "pixel", "oil", "ink"])[:n]
    stickers = render(photos, "chelsea", styles)
    data = thumbnail_webp([s.image for s in stickers], limits.THUMBNAIL_MAX_PX)
    sheet = Image.open(io.BytesIO(data))
    assert sheet.format == "WEBP" and sheet.mode == "RGBA" and max(sheet.size) <= limits.THUMBNAIL_MAX_PX
    a = np.asarray(sheet)[..., 3]
    cols = math.ceil(math.sqrt(n))
    tile = sheet.width // cols
    filled = [bool(a[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile].max() > 200)
              for r in range(sheet.height // tile) for c in range(cols)]  # fmt: skip
    assert filled == [True] * n + [False] * (len(filled) - n), "one tile per sticker, in order"
    assert a[0, 0] == 0, "transparent background"


def test_contact_sheet_needs_a_sticker():
    with pytest.raises(ValueError):
        contact_sheet([])


# --- the worker's start ------------------------------------------------------------------------------------


def test_run_worker_builds_the_media_textures_before_taking_jobs(monkeypatch):
    from gpu_service import entry
    from stickers_core.settings import Settings

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    calls: list[str] = []
    monkeypatch.setattr(media, "warm_up", lambda: calls.append("warm_up"))
    stop = threading.Event()
    stop.set()  # the consumers return at once
    settings = Settings(queue_url="http://127.0.0.1:9/000000000000/jobs", execution_provider="cpu")
    assert entry.run_worker(settings, stop=stop, announce=calls.append) == entry.EXIT_OK
    assert calls[0] == "warm_up" and calls[1].startswith("worker running")
