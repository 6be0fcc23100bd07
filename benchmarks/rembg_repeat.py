"""``rembg.remove`` N times on one photo in one process, writing the cutout once: rembg's
counterpart of ``stickers render --repeat N``, run with the rembg venv's python (from outside). Prints
``{"loop_ms_each": ms}``: the loop's time per photo, as ``stickers render`` reports its own."""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    """Usage: python rembg_repeat.py IMAGE OUT.png N"""
    from rembg import new_session, remove

    image, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    session = new_session("u2netp")
    with open(image, "rb") as fh:
        data = fh.read()
    t0 = time.perf_counter()
    for _ in range(n):
        result = remove(data, session=session)
    elapsed = time.perf_counter() - t0
    with open(out, "wb") as fh:
        fh.write(result)
    print(json.dumps({"loop_ms_each": round(elapsed / n * 1000, 2)}))


if __name__ == "__main__":
    main()
