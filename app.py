#!/usr/bin/env python3
"""CDK app entry: ``python app.py`` or ``npx cdk synth|deploy`` (see docs/deploy.md)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# Importable without `pip install -e .`: the infra package and the shared core (limits, settings).
for path in (ROOT, ROOT / "layers" / "core"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from infra.main import build_app  # noqa: E402

if __name__ == "__main__":
    app, _ = build_app()
    app.synth()
