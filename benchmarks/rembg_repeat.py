"""``rembg.remove`` N times on one photo in one process, writing the cutout once: rembg's
counterpart of ``stickers render --repeat N``, run with the rembg venv's python (from outside)."""

from __future__ import annotations

import sys


def main() -> None:
    """Usage: python rembg_repeat.py IMAGE OUT.png N"""
    from rembg import new_session, remove

    image, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    session = new_session("u2netp")
    with open(image, "rb") as fh:
        data = fh.read()
    for _ in range(n):
        result = remove(data, session=session)
    with open(out, "wb") as fh:
        fh.write(result)


if __name__ == "__main__":
    main()
