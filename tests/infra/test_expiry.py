"""Deleted and expired stickers stop being public (issue 12, item 4), and the stats counters need no
new grant (item 6): CDK assertions on the session's synthesis (the ``synth`` fixture).

- The CDN keeps a sticker at most :data:`stickers_core.limits.STICKER_CACHE_MAX_AGE_S` (5 minutes),
  the ``max-age`` the sticker objects carry: a deleted sticker stops answering within minutes.
- Job records and stickers expire together: the stickers bucket's lifecycle rule and the records' TTL
  (``STICKERS_RETENTION_DAYS`` on every host, which ``Job.new`` turns into ``expiresAt``) are one
  number, ``stickerRetentionDays`` (:data:`stickers_core.limits.RETENTION_DAYS` by default).
- Every transaction a role sends (job item + counters item) is authorised by its existing actions.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from infra.config import StackConfig
from stickers_core import limits, settings
from stickers_core.models import Job, JobMetadata, JobType
from stickers_core.settings import Settings
from stickers_core.storage import STICKER_CACHE_CONTROL
from tests.cdk_synth import ROOT

pytestmark = pytest.mark.cdk


def _props(synth, construct):
    return synth.json["Resources"][synth.logical_id(construct)]["Properties"]


def _stickers_behaviour(synth):
    (dist,) = synth.resources("AWS::CloudFront::Distribution").values()
    (behaviour,) = dist["Properties"]["DistributionConfig"]["CacheBehaviors"]
    assert behaviour["PathPattern"] == f"{limits.STICKERS_PREFIX}/*"
    return behaviour


def test_the_cdn_keeps_a_sticker_five_minutes_at_most(synth):
    behaviour = _stickers_behaviour(synth)
    policy_id = behaviour["CachePolicyId"]["Ref"]
    policy = synth.json["Resources"][policy_id]["Properties"]["CachePolicyConfig"]
    assert limits.STICKER_CACHE_MAX_AGE_S <= 300
    assert policy["MaxTTL"] == policy["DefaultTTL"] == limits.STICKER_CACHE_MAX_AGE_S, "a deleted sticker is gone from the edge within 5 minutes"
    assert policy["MinTTL"] == 0
    assert STICKER_CACHE_CONTROL == f"public, max-age={limits.STICKER_CACHE_MAX_AGE_S}", "browsers: the same bound"
    assert "immutable" not in STICKER_CACHE_CONTROL


def test_records_and_stickers_expire_after_the_same_number_of_days(synth):
    days = synth.stack.config.sticker_retention_days
    assert days == limits.RETENTION_DAYS == json.loads((ROOT / "cdk.json").read_text())["context"]["stickerRetentionDays"]
    assert StackConfig().sticker_retention_days == limits.RETENTION_DAYS
    rules = _props(synth, synth.stack.storage.stickers_bucket)["LifecycleConfiguration"]["Rules"]
    (stickers_rule,) = [r for r in rules if r.get("Prefix") == f"{limits.STICKERS_PREFIX}/"]
    assert stickers_rule["ExpirationInDays"] == days and stickers_rule["Status"] == "Enabled"
    table = _props(synth, synth.stack.jobs.table)
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}

    functions = synth.stack.functions
    for fn in (functions.api_function, functions.dead_letter_function):
        assert _props(synth, fn)["Environment"]["Variables"][settings.ENV_RETENTION_DAYS] == str(days)
    (container,) = _props(synth, synth.stack.inference.task_definition)["ContainerDefinitions"]
    assert {"Name": settings.ENV_RETENTION_DAYS, "Value": str(days)} in container["Environment"]


def test_a_new_record_expires_after_the_configured_retention():
    """What the API function does with ``STICKERS_RETENTION_DAYS``: ``expiresAt`` = creation + N days."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for env, days in (({}, limits.RETENTION_DAYS), ({settings.ENV_RETENTION_DAYS: "7"}, 7)):
        retention = Settings.from_env(env).retention_days
        job = Job.new(owner_id="k", type=JobType.TEXT, styles=["bubble"], metadata=JobMetadata(type=JobType.TEXT), now=now, retention_days=retention)
        assert job.expires_at == int(now.timestamp()) + days * 86_400
    assert Settings.from_env({}).to_env()[settings.ENV_RETENTION_DAYS] == str(limits.RETENTION_DAYS)
    with pytest.raises(ValueError):
        Settings.from_env({settings.ENV_RETENTION_DAYS: "0"})


def _table_actions(synth, role):
    table_id = synth.logical_id(synth.stack.jobs.table)
    actions: set[str] = set()
    for statement in synth.role_statements(role):
        if table_id in json.dumps(statement["Resource"]):
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return actions


def test_counter_transactions_need_no_new_action(synth):
    """A TransactWriteItems is authorised per element as PutItem / UpdateItem / DeleteItem (there is no
    ``dynamodb:TransactWriteItems`` action); each role already holds what its transitions send, plus
    GetItem for the read that precedes them."""
    s = synth.stack
    needs = {
        s.functions.api_function.role: {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},  # create, fail unqueued, delete
        s.functions.dead_letter_function.role: {"dynamodb:GetItem", "dynamodb:UpdateItem"},  # fail a dead-lettered job
        s.inference.task_definition.task_role: {"dynamodb:GetItem", "dynamodb:UpdateItem"},  # claim, complete, retry, fail
    }
    for role, actions in needs.items():
        held = _table_actions(synth, role)
        assert actions <= held, (role, actions - held)
        assert not any("Transact" in a for a in held)
