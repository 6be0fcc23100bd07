"""Builds the CDK app: context from ``cdk.json`` (+ overrides), the stack, and the cdk-nag checks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import StackConfig
from infra.stack import StickersStack

REPO_ROOT = Path(__file__).resolve().parent.parent


def cdk_json_context() -> dict[str, Any]:
    """The ``context`` block of ``cdk.json`` (defaults and feature flags)."""
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> tuple[App, StickersStack]:
    """Create the app and its stack, with cdk-nag's AwsSolutions checks applied.

    ``cdk.json``'s context is loaded here too, so ``python app.py`` synthesizes the same stack as
    ``npx cdk synth``; context given by the CDK CLI (``-c key=value``) still wins, and `context`
    (tests) overrides both.
    """
    app = App(
        context=cdk_json_context(),
        post_cli_context=context or None,
        # `python app.py` writes cdk.out/ like `cdk synth` does (the CLI passes CDK_OUTDIR itself).
        outdir=outdir or os.environ.get("CDK_OUTDIR") or str(REPO_ROOT / "cdk.out"),
    )
    config = StackConfig.from_node(app.node)
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if (account and region) else None
    stack = StickersStack(
        app,
        f"Stickers-{config.stage}",
        config=config,
        env=env,
        description=f"Sticker generation service ({config.stage}): API Gateway, Lambda, SQS, DynamoDB, ECS GPU, S3, CloudFront",
    )
    Tags.of(stack).add("service", "stickers")
    Tags.of(stack).add("stage", config.stage)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack
