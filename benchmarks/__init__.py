"""Benchmarks of the sticker pipeline against its floor (the model's forward pass) and rembg.

Run everything with one command (see ``docs/performance.md``)::

    .venv/bin/python -m benchmarks.run --repeat 5 --out benchmarks/results/latest.json
"""
