"""The per-key daily quota of prompt jobs (POST /v1/stickers/prompt): each is a paid image generation.

One counter item per owner and UTC day in the jobs table (pk ``jobId = "PROMPTS#<ownerId>#<YYYY-MM-DD>"``,
number ``used``), taken with one conditional ``UpdateItem`` (``ADD used 1`` if ``used`` is absent or
below the quota): concurrent submissions can never take more than the quota between them (DynamoDB
applies conditional updates of one item one at a time). The item expires through the table's TTL
(``expiresAt``) a day after its day ends. Like the owner counters (:mod:`stickers_core.store`) it has
no ``ownerId``/``createdAt``, so the ``byOwner`` index never sees it, and the API function's
UpdateItem grant on the table covers it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from stickers_core.models import utc_now


class PromptQuotaExceeded(Exception):
    """The owner has used up today's prompt jobs (:meth:`PromptQuota.take`)."""


#: Partition-key prefix of an owner's prompt counter of one UTC day (``PROMPTS#<ownerId>#<YYYY-MM-DD>``).
PROMPTS_PREFIX = "PROMPTS#"


class PromptQuota:
    """The per-owner daily quota of prompt jobs (module docstring).

    Args:
        table: the boto3 jobs ``Table``.
        daily_quota: prompt jobs per owner per UTC day (≥ 1).
    """

    def __init__(self, table: Any, daily_quota: int) -> None:
        self.table, self.daily_quota = table, daily_quota

    @staticmethod
    def key(owner_id: str, day: str) -> dict[str, str]:
        """The counter item's primary key for `owner_id` on `day` (``YYYY-MM-DD``, UTC)."""
        return {"jobId": f"{PROMPTS_PREFIX}{owner_id}#{day}"}

    def take(self, owner_id: str, now: datetime | None = None) -> int:
        """Count one prompt job against the owner's quota of the current UTC day.

        Returns:
            The number used today, this one included.

        Raises:
            PromptQuotaExceeded: the quota of the day is used up (nothing written).
            ClientError: any other DynamoDB failure.
        """
        now = now or utc_now()
        day = now.strftime("%Y-%m-%d")
        expires = int(now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()) + 2 * 86_400
        try:
            answer = self.table.update_item(
                Key=self.key(owner_id, day),
                UpdateExpression="ADD used :one SET expiresAt = :exp",
                ConditionExpression="attribute_not_exists(used) OR used < :quota",
                ExpressionAttributeValues={":one": 1, ":exp": expires, ":quota": self.daily_quota},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise PromptQuotaExceeded() from None
            raise
        return int(answer["Attributes"]["used"])

    def give_back(self, owner_id: str, now: datetime | None = None) -> None:
        """Return one prompt job to the day's quota (its job could not be queued). Never raises."""
        day = (now or utc_now()).strftime("%Y-%m-%d")
        try:
            self.table.update_item(Key=self.key(owner_id, day), UpdateExpression="ADD used :minus", ConditionExpression="used > :zero", ExpressionAttributeValues={":minus": -1, ":zero": 0})
        except ClientError:
            pass
