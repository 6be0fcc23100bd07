"""An API Gateway usage plan for the local API front: a token bucket and a daily quota per API key.

On AWS the stack's usage plan (``infra/api.py``: ``rateLimit``, ``burstLimit``, a ``DAY`` quota, defaults
in :mod:`stickers_core.limits`) limits each key; API Gateway answers ``429 {"message": "Too Many
Requests"}`` past either, before the function runs. :class:`UsagePlan` decides the same thing for
:class:`local_stack.gateway.ApiGatewayEmulator` ("Throttle API requests", token bucket:
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field


@dataclass
class _KeyUsage:
    tokens: float
    refilled_at: float
    day: dt.date
    used_today: int = 0


@dataclass
class UsagePlan:
    """Per-key token bucket and daily quota, like an API Gateway usage plan. Thread-safe.

    Args:
        rate_limit_rps: steady-state requests per second (bucket refill rate, > 0).
        burst_limit: bucket size (≥ 1); a fresh key may send this many requests at once.
        daily_quota: admitted requests per key per UTC day.

    Example::

        plan = UsagePlan(rate_limit_rps=10, burst_limit=20, daily_quota=10_000)
        plan.admit("key-id-1")   # True until the bucket is empty or the day's quota is spent
    """

    rate_limit_rps: float
    burst_limit: int
    daily_quota: int
    _usage: dict[str, _KeyUsage] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, key_id: str, now: float | None = None, today: dt.date | None = None) -> bool:
        """Take one request from ``key_id``'s budget; False when over the rate or the daily quota.

        A refused request consumes nothing.

        Args:
            key_id: the API key's id.
            now: monotonic time, seconds (defaults to :func:`time.monotonic`).
            today: the current UTC day (defaults to today's date in UTC); the quota restarts each day.
        """
        now = time.monotonic() if now is None else now
        today = dt.datetime.now(dt.UTC).date() if today is None else today
        with self._lock:
            usage = self._usage.get(key_id)
            if usage is None:
                usage = self._usage[key_id] = _KeyUsage(float(self.burst_limit), now, today)
            if usage.day != today:
                usage.day, usage.used_today = today, 0
            elapsed = max(0.0, now - usage.refilled_at)
            usage.tokens = min(float(self.burst_limit), usage.tokens + elapsed * self.rate_limit_rps)
            usage.refilled_at = now
            if usage.used_today >= self.daily_quota or usage.tokens < 1.0:
                return False
            usage.tokens -= 1.0
            usage.used_today += 1
            return True
