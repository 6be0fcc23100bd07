"""Stickers from a prompt on AWS: the image generator's settings and its one IAM grant.

Prompt jobs are drawn by an Amazon Bedrock model (``bedrockModelId``, default Amazon Nova Canvas,
``amazon.nova-canvas-v1:0``; or Stability AI Stable Image Core / Ultra) called with ``bedrock:InvokeModel``
in ``bedrockRegion`` (Nova Canvas is offered in us-east-1, eu-west-1 and ap-northeast-1; the call may
cross regions, the stack need not be there). ``generator: none`` deploys without it: the API answers 501 GENERATION_UNAVAILABLE and nothing
is granted. The API function reads the same settings (whether a generator exists, the daily prompt
quota); only the roles that call the model (the GPU worker's task role, the CPU inference Lambda's role)
get :func:`grant_generation`.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from infra.config import StackConfig
from stickers_core import settings


def model_arn(config: StackConfig, scope: IConstruct | None = None) -> str:
    """The foundation model's ARN: ``arn:<partition>:bedrock:<bedrockRegion>::foundation-model/<bedrockModelId>``
    (foundation models have no account in their ARN). The partition is the stack's when `scope` is given, else ``aws``."""
    partition = Stack.of(scope).partition if scope is not None else "aws"
    return f"arn:{partition}:bedrock:{config.bedrock_region}::foundation-model/{config.bedrock_model_id}"


def generation_environment(config: StackConfig) -> dict[str, str]:
    """The ``STICKERS_*`` variables of the generator for every host (API, GPU worker, CPU inference Lambda):
    ``STICKERS_GENERATOR`` and the daily prompt quota always; the model id and region with a generator."""
    env = {settings.ENV_GENERATOR: config.generator, settings.ENV_PROMPT_DAILY_QUOTA: str(config.prompt_daily_quota)}
    if config.generator != "none":
        env |= {settings.ENV_BEDROCK_MODEL_ID: config.bedrock_model_id, settings.ENV_BEDROCK_REGION: config.bedrock_region}
    return env


def grant_generation(grantee: iam.IGrantable, config: StackConfig) -> None:
    """Let `grantee` call the configured model and nothing else: one statement (Sid ``InvokeImageModel``)
    with ``bedrock:InvokeModel`` on exactly :func:`model_arn` — no wildcard, no other model, no streaming
    or asynchronous invocation. Nothing is granted with ``generator: none``."""
    if config.generator == "none":
        return
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(sid="InvokeImageModel", actions=["bedrock:InvokeModel"], resources=[model_arn(config, grantee.grant_principal)])
    )
