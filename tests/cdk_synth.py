"""One synthesis of the whole CDK app, shared by the test session (tests/conftest.py's ``synth``
fixture): tests/infra reads its template, tests/artifacts runs the Lambda assets it staged."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "layers" / "core"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

#: Extra context exercising the optional keys (alarm e-mail, spot with a second instance type).
SYNTH_CONTEXT = {"alarmEmail": "ops@example.com", "spot": "true", "instanceType": "g5.xlarge,g4dn.xlarge"}


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

    def asset_dir(self, asset_hash: str) -> Path:
        """The staged folder of a file asset, from the cloud assembly's asset manifest.

        Raises:
            KeyError: no file asset with that hash.
        """
        for manifest in self.outdir.glob("*.assets.json"):
            files = json.loads(manifest.read_text()).get("files", {})
            if asset_hash in files:
                return self.outdir / files[asset_hash]["source"]["path"]
        raise KeyError(f"no file asset {asset_hash} in {self.outdir}")


def synthesize(outdir: Path) -> Synth:
    """Synthesize the app (with :data:`SYNTH_CONTEXT`) into `outdir`; raises if cdk-nag reports an
    unacknowledged finding."""
    from aws_cdk.assertions import Template

    from infra.main import build_app

    app, stack = build_app(context=dict(SYNTH_CONTEXT), outdir=str(outdir))
    assembly = app.synth()
    template_json = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synth(stack=stack, template=Template.from_json(template_json), json=template_json, outdir=outdir, assembly=assembly)
