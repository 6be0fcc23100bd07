"""Fixtures: one embedded AWS per test module, provisioned like the CDK stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_stack.aws_emulator import EmbeddedAws, provision
from stickers_core.settings import Settings


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def settings(aws: EmbeddedAws) -> Settings:
    return provision(aws, cdn_base_url="http://127.0.0.1:1/cdn", visibility_timeout_s=30, max_attempts=3)
