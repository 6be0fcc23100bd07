"""Regenerate the example pictures: `.venv/bin/python docs/make_examples.py [sheets|styles|all]`.

``sheets`` (the default): the sheets shown in README.md — real stickers rendered with the project's
pipeline from photos that scikit-image ships, and text stickers in three scripts, laid out on a
checkerboard (so transparency shows).

``styles``: one picture per style for docs/styles.md, in ``docs/images/styles/`` — every image style
(the six artistic media included) from scikit-image's cat, every text style from one text, each a
256 px WebP on a checkerboard; ``methods.webp`` (``cartoon`` and the media in ``basic``, ``advanced``,
``artistic``) and ``options.webp`` (classic: plain, rotated 30°, watermarked, both). About 15 s and
0.25 MB in all.
"""

from __future__ import annotations

from pathlib import Path

import skimage.data
from PIL import Image

from gpu_service.pipeline import StickerPipeline
from stickers_core.images import decode_image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images"
PHOTOS = Path(skimage.data.__file__).resolve().parent
TILE = 256


def checkerboard(width: int, height: int, cell: int = 16) -> Image.Image:
    board = Image.new("RGBA", (width, height), (255, 255, 255, 255))
    for y in range(0, height, cell):
        for x in range(0, width, cell):
            if (x // cell + y // cell) % 2:
                board.paste((225, 225, 225, 255), (x, y, x + cell, y + cell))
    return board


def sheet(stickers: list[bytes], columns: int) -> Image.Image:
    import io

    rows = (len(stickers) + columns - 1) // columns
    board = checkerboard(columns * TILE, rows * TILE)
    for i, png in enumerate(stickers):
        img = Image.open(io.BytesIO(png)).convert("RGBA")
        img.thumbnail((TILE - 8, TILE - 8), Image.LANCZOS)
        x = (i % columns) * TILE + (TILE - img.width) // 2
        y = (i // columns) * TILE + (TILE - img.height) // 2
        board.alpha_composite(img, (x, y))
    return board.convert("RGB")


def main() -> None:
    import sys

    what = sys.argv[1] if len(sys.argv) > 1 else "sheets"
    if what not in ("sheets", "styles", "all"):
        raise SystemExit("usage: make_examples.py [sheets|styles|all]")
    if what in ("sheets", "all"):
        sheets()
    if what in ("styles", "all"):
        styles_pictures()


def _on_board(img: Image.Image, side: int) -> Image.Image:
    """``img`` fitted into a side x side checkerboard, centred (RGB)."""
    img = img.convert("RGBA")
    img.thumbnail((side - 8, side - 8), Image.LANCZOS)
    board = checkerboard(side, side)
    board.alpha_composite(img, ((side - img.width) // 2, (side - img.height) // 2))
    return board.convert("RGB")


def _save_webp(img: Image.Image, path: Path) -> None:
    img.save(path, "WEBP", quality=82, method=6)


def styles_pictures() -> None:
    """local_stack/static/styles/<style>.webp for every style (the web page's previews, deployed with it,
    and docs/styles.md's pictures); docs/images/styles/: methods.webp, options.webp."""
    from gpu_service.pipeline import media
    from stickers_core.models import OutputOptions
    from stickers_core.styles import IMAGE_STYLE_NAMES, TEXT_STYLE_NAMES

    folder = OUT / "styles"
    folder.mkdir(parents=True, exist_ok=True)
    previews = ROOT / "local_stack" / "static" / "styles"
    previews.mkdir(parents=True, exist_ok=True)
    pipeline = StickerPipeline()
    image, _ = decode_image((PHOTOS / "chelsea.png").read_bytes())
    for sticker in pipeline.render_image(image, list(IMAGE_STYLE_NAMES)):
        _save_webp(_on_board(sticker.image, TILE), previews / f"{sticker.style}.webp")
    for sticker in pipeline.render_text("Hello!", ["sun"], list(TEXT_STYLE_NAMES)):
        _save_webp(_on_board(sticker.image, TILE), previews / f"{sticker.style}.webp")
    # methods: one row per style that takes one, columns basic | advanced | artistic
    rows = ["cartoon", *media.MEDIA_RENDERERS]
    side = 160
    grid = Image.new("RGB", (3 * side, len(rows) * side), "white")
    for r, style in enumerate(rows):
        for c, method in enumerate(media.METHODS):
            (sticker,) = pipeline.render_image(image, [style], method=method)
            grid.paste(_on_board(sticker.image, side), (c * side, r * side))
    _save_webp(grid, folder / "methods.webp")
    # output options: plain, rotated 30°, watermarked, rotated -20° and watermarked
    cases = [
        OutputOptions(),
        OutputOptions(rotate=30),
        OutputOptions(watermark="© Stickers", watermark_opacity=0.8),
        OutputOptions(rotate=-20, watermark="©me", watermark_opacity=0.5),
    ]
    row = Image.new("RGB", (len(cases) * TILE, TILE), "white")
    for i, options in enumerate(cases):
        (sticker,) = pipeline.render_image(image, ["classic"], output=options)
        row.paste(_on_board(sticker.image, TILE), (i * TILE, 0))
    _save_webp(row, folder / "options.webp")
    total = sum(p.stat().st_size for p in folder.iterdir())
    print(f"wrote {len(list(folder.iterdir()))} files to {folder} ({total / 1024:.0f} KiB)")


def sheets() -> None:
    OUT.mkdir(exist_ok=True)
    pipeline = StickerPipeline()
    styles = ["classic", "outline", "cartoon", "sketch", "pop", "pixel"]
    for name in ("chelsea", "coffee", "astronaut"):
        image, _ = decode_image((PHOTOS / f"{name}.png").read_bytes())
        photo = image.copy()
        photo.thumbnail((TILE - 8, TILE - 8))
        stickers = [s.png for s in pipeline.render_image(image, styles)]
        import io

        buf = io.BytesIO()
        photo.save(buf, "PNG")
        sheet([buf.getvalue(), *stickers], columns=7).save(OUT / f"{name}.jpg", quality=85)
    texts = [("Happy Birthday!", ["party", "cake"]), ("عيد ميلاد سعيد", []), ("🎉🐱☀️", []), ("नमस्ते", ["sun"])]
    rendered = []
    for text, keywords in texts:
        rendered += [s.png for s in pipeline.render_text(text, keywords, ["bubble", "badge", "retro"])]
    sheet(rendered, columns=6).save(OUT / "text.jpg", quality=85)
    print(f"wrote {sorted(p.name for p in OUT.iterdir())}")


if __name__ == "__main__":
    main()
