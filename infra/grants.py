"""The grants of a job consumer: what the GPU worker's task role and the CPU inference Lambda's role both hold."""

from __future__ import annotations

from aws_cdk import aws_iam as iam

from infra.jobs import Jobs
from infra.secrets import WebhookSecret
from infra.storage import Storage
from stickers_core import limits

#: What consuming the jobs queue takes, for the worker's own ReceiveMessage loop and for a Lambda event
#: source mapping alike (the ESM polls, deletes and changes visibility with the function's role:
#: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html#events-sqs-permissions).
CONSUME_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes")


def grant_job_processing(grantee: iam.IGrantable, jobs: Jobs, storage: Storage, webhook_secret: WebhookSecret) -> None:
    """Grant `grantee` exactly what running a job takes, one statement per need (Sids name them):

    - ``ConsumeJobs``: :data:`CONSUME_ACTIONS` on the jobs queue (its KMS key is AWS-managed: no key grant);
    - ``UpdateJobs``: ``dynamodb:GetItem``/``UpdateItem`` on the jobs table (the conditional claim,
      progress, the result; a status change with the owner's counters is a TransactWriteItems, which IAM
      authorises per element as these actions);
    - ``ReadUploads``: ``s3:GetObject`` on ``uploads/*``; ``ListUploads``: ``s3:ListBucket`` on the uploads
      bucket for the ``uploads/`` prefix only (tells a missing upload from a refused one);
    - ``WriteStickers``: ``s3:PutObject`` on ``stickers/*``;
    - ``secretsmanager:GetSecretValue`` on the webhook master secret (signed ``callbackUrl`` POSTs).

    Used for the GPU worker's task role (:class:`infra.inference.Inference`) and the CPU inference Lambda's
    role (:class:`infra.cpu_inference.CpuInference`), so the two consumers of the queue cannot drift apart.
    """
    principal = grantee.grant_principal
    statements = (
        ("ConsumeJobs", list(CONSUME_ACTIONS), [jobs.queue.queue_arn], None),
        ("UpdateJobs", ["dynamodb:GetItem", "dynamodb:UpdateItem"], [jobs.table.table_arn], None),
        ("ReadUploads", ["s3:GetObject"], [storage.uploads_bucket.arn_for_objects(f"{limits.UPLOADS_PREFIX}/*")], None),
        (
            "ListUploads",
            ["s3:ListBucket"],
            [storage.uploads_bucket.bucket_arn],
            {"StringLike": {"s3:prefix": [f"{limits.UPLOADS_PREFIX}/*"]}},
        ),
        ("WriteStickers", ["s3:PutObject"], [storage.stickers_bucket.arn_for_objects(f"{limits.STICKERS_PREFIX}/*")], None),
    )
    for sid, actions, resources, conditions in statements:
        principal.add_to_principal_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources, conditions=conditions))
    webhook_secret.grant_read(grantee)
