"""One synthesis of the whole stack per test session (synth takes ~10-40 s on 2 cores)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, ROOT / "layers" / "core"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


@dataclass
class Synth:
    """The synthesized app: stack object, template (dict and assertions object), cloud assembly dir."""

    stack: Any
    template: Any  # aws_cdk.assertions.Template
    json: dict[str, Any]
    outdir: Path
    assembly: Any

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.json["Resources"].items() if v["Type"] == cfn_type}

    def logical_id(self, construct: Any) -> str:
        child = construct.node.default_child or construct
        return self.stack.get_logical_id(child)

    def role_statements(self, role: Any) -> list[dict[str, Any]]:
        """Every statement of every inline policy attached to `role` (a CDK IRole)."""
        role_id = self.logical_id(role)
        out: list[dict[str, Any]] = []
        for policy in self.resources("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"].get("Roles", []):
                out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        inline = self.json["Resources"][role_id]["Properties"].get("Policies", [])
        for pol in inline:
            out.extend(pol["PolicyDocument"]["Statement"])
        return out

    def role_actions(self, role: Any) -> set[str]:
        actions: set[str] = set()
        for st in self.role_statements(role):
            a = st["Action"]
            actions.update([a] if isinstance(a, str) else a)
        return actions


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    from aws_cdk.assertions import Template

    from infra.main import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    # Extra context exercising the optional keys (alarm e-mail, spot with a second instance type).
    app, stack = build_app(
        context={"alarmEmail": "ops@example.com", "spot": "true", "instanceType": "g5.xlarge,g4dn.xlarge"},
        outdir=str(outdir),
    )
    assembly = app.synth()  # raises if cdk-nag reports an unacknowledged finding
    template_json = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synth(
        stack=stack,
        template=Template.from_json(template_json),
        json=template_json,
        outdir=outdir,
        assembly=assembly,
    )
