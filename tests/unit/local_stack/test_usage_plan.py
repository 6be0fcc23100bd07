"""The local usage plan (local_stack.usage_plan): token bucket and daily quota per API key, on a fake clock."""

from __future__ import annotations

import datetime as dt

import pytest

from local_stack.usage_plan import UsagePlan

DAY = dt.date(2024, 5, 1)


def test_burst_then_refill_at_the_rate() -> None:
    plan = UsagePlan(rate_limit_rps=2.0, burst_limit=3, daily_quota=100)
    assert [plan.admit("k", now=0.0, today=DAY) for _ in range(4)] == [True, True, True, False]
    assert not plan.admit("k", now=0.4, today=DAY)  # 0.8 token: not yet
    assert plan.admit("k", now=0.5, today=DAY)  # one token after 0.5 s at 2 rps
    assert [plan.admit("k", now=100.0, today=DAY) for _ in range(4)] == [True, True, True, False]  # capped at the burst


def test_keys_are_independent() -> None:
    plan = UsagePlan(rate_limit_rps=1.0, burst_limit=1, daily_quota=10)
    assert plan.admit("a", now=0.0, today=DAY) and plan.admit("b", now=0.0, today=DAY)
    assert not plan.admit("a", now=0.0, today=DAY)


def test_daily_quota_restarts_on_the_next_utc_day() -> None:
    plan = UsagePlan(rate_limit_rps=1000.0, burst_limit=1000, daily_quota=2)
    assert [plan.admit("k", now=float(i), today=DAY) for i in range(3)] == [True, True, False]
    assert plan.admit("k", now=10.0, today=DAY + dt.timedelta(days=1))


def test_a_refused_request_consumes_nothing() -> None:
    plan = UsagePlan(rate_limit_rps=1.0, burst_limit=1, daily_quota=2)
    assert plan.admit("k", now=0.0, today=DAY)
    assert not plan.admit("k", now=0.1, today=DAY)  # throttled: does not count against the quota
    assert plan.admit("k", now=1.0, today=DAY)
    assert not plan.admit("k", now=10.0, today=DAY)  # quota of 2 spent


def test_defaults_read_the_clocks() -> None:
    plan = UsagePlan(rate_limit_rps=1.0, burst_limit=1, daily_quota=1)
    assert plan.admit("k") and not plan.admit("k")


@pytest.mark.parametrize("quota", [0])
def test_zero_quota_admits_nothing(quota: int) -> None:
    assert not UsagePlan(rate_limit_rps=1.0, burst_limit=5, daily_quota=quota).admit("k", now=0.0, today=DAY)
