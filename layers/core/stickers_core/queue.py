"""The SQS jobs queue: one message per job, at-least-once delivery.

The message body is ``{"jobId": …, "type": …}``; the job record in DynamoDB holds everything else.
SQS's ``ApproximateReceiveCount`` is the attempt number: after ``maxReceiveCount`` (3) receives the
queue's redrive policy moves the message to the dead-letter queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from stickers_core import aws


@dataclass(frozen=True, slots=True)
class JobMessage:
    """One received message.

    Attributes:
        job_id: the job it is about.
        receipt_handle: handle for delete / change-visibility of this receive.
        attempt: SQS ApproximateReceiveCount (1 on first delivery).
        message_id: SQS message id.
    """

    job_id: str
    receipt_handle: str
    attempt: int
    message_id: str


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Approximate message counts of a queue (SQS attributes; eventually consistent)."""

    waiting: int
    active: int
    delayed: int


class JobQueue:
    """Send, receive and settle job messages on one SQS queue.

    Args:
        queue_url: the queue's URL.
        sqs: a boto3 SQS client (default: :func:`stickers_core.aws.client`).
    """

    def __init__(self, queue_url: str, sqs: Any | None = None) -> None:
        self.queue_url = queue_url
        self._sqs = sqs or aws.client("sqs")

    def send(self, job_id: str, job_type: str) -> str:
        """Queue a job; returns the SQS message id."""
        body = json.dumps({"jobId": job_id, "type": job_type})
        return self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"]

    def receive(self, *, max_messages: int = 1, wait_s: int = 20, visibility_timeout_s: int | None = None) -> list[JobMessage]:
        """Long-poll for up to `max_messages` (1–10) messages, waiting up to `wait_s` seconds.

        Messages whose body is not a job message are returned with ``job_id = ""`` so the caller can
        delete them (they can never succeed).
        """
        kwargs: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_s,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if visibility_timeout_s is not None:
            kwargs["VisibilityTimeout"] = visibility_timeout_s
        out = []
        for m in self._sqs.receive_message(**kwargs).get("Messages", []):
            out.append(
                JobMessage(
                    job_id=parse_job_id(m.get("Body", "")),
                    receipt_handle=m["ReceiptHandle"],
                    attempt=int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
                    message_id=m["MessageId"],
                )
            )
        return out

    def delete(self, message: JobMessage) -> None:
        """Delete a settled message (the job is completed, failed for good, or gone)."""
        self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle)

    def set_visibility(self, message: JobMessage, seconds: int) -> None:
        """Change the message's visibility timeout: extend it (heartbeat) or hand it back (0)."""
        self._sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=seconds
        )

    def depth(self) -> QueueDepth:
        """Approximate visible, in-flight and delayed message counts."""
        attrs = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return QueueDepth(
            waiting=int(attrs.get("ApproximateNumberOfMessages", 0)),
            active=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
        )


def parse_job_id(body: str) -> str:
    """The `jobId` of a message body, or ``""`` when the body is not a job message."""
    try:
        value = json.loads(body).get("jobId", "")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""
