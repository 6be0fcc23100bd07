"""The CPU inference Lambda (functions/inference/app.py)."""
