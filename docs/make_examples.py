"""Regenerate the example sheets shown in README.md: `.venv/bin/python docs/make_examples.py`.

Renders real stickers with the project's pipeline from photos that scikit-image ships, and text
stickers in three scripts, then lays them out on a checkerboard (so transparency shows).
"""

from __future__ import annotations

from pathlib import Path

import skimage.data
from PIL import Image

from gpu_service.pipeline import StickerPipeline
from stickers_core.images import decode_image

OUT = Path(__file__).resolve().parent / "images"
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
