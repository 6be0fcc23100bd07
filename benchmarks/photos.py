"""The benchmark photos: rembg's published examples (peer data) and scikit-image's sample photos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["PEER", "Photo", "find_photos"]

#: Peer reference data lives next to the repository: ``../shared/peer``.
PEER = Path(__file__).resolve().parents[2] / "shared" / "peer"
_SKIMAGE_SAMPLES = ("chelsea.png", "coffee.png", "astronaut.png")


@dataclass(frozen=True)
class Photo:
    """One benchmark photo.

    Attributes:
        name: short name (file stem).
        path: the file.
        reference: rembg's published cutout (RGBA PNG) for the IoU table, or None.
    """

    name: str
    path: Path
    reference: Path | None = None


def find_photos(limit: int | None = None, log=print) -> list[Photo]:  # noqa: ANN001
    """Peer example photos (with their references) first, then the skimage samples.

    Missing sources are skipped with a message, never an error.

    Args:
        limit: keep at most this many.
    """
    photos: list[Photo] = []
    examples = PEER / "rembg" / "examples"
    if examples.is_dir():
        for jpg in sorted(examples.glob("*.jpg")):
            ref = jpg.with_name(jpg.stem + ".out.png")
            photos.append(Photo(jpg.stem, jpg, ref if ref.exists() else None))
    else:
        log(f"peer photos absent at {examples}: skipped")
    try:
        import skimage.data

        folder = Path(skimage.data.__file__).resolve().parent
        photos += [Photo(Path(n).stem, folder / n) for n in _SKIMAGE_SAMPLES if (folder / n).exists()]
    except ImportError:
        log("scikit-image absent: its sample photos skipped")
    return photos[:limit] if limit else photos
