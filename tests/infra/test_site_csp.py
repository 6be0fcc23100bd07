"""The web page's Content-Security-Policy as deployed: CloudFront's site behaviour sends the same directives
as the local CDN front (local_stack.cdn.site_csp), with the page's inline blocks allowed by hash only."""

from __future__ import annotations

import json

import pytest

from local_stack.cdn import inline_hashes

pytestmark = pytest.mark.cdk


def _resolve(value: object) -> str:
    """A template string value with its Fn::Join/Ref tokens flattened to readable text."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_resolve(p) for p in parts)
    return json.dumps(value)


def test_the_site_behaviour_sends_the_pages_csp(synth) -> None:  # noqa: ANN001
    distribution = next(iter(synth.resources("AWS::CloudFront::Distribution").values()))
    policy_ref = distribution["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]
    policy = synth.json["Resources"][policy_ref["Ref"]]["Properties"]["ResponseHeadersPolicyConfig"]
    security = policy["SecurityHeadersConfig"]
    csp = _resolve(security["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    hashes = inline_hashes()
    assert hashes["script"] and set(hashes["script"]) <= set(directives["script-src"])
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["default-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    connect = " ".join(directives["connect-src"])
    assert ".execute-api." in connect and "RegionalDomainName" in connect  # the API, the presigned-upload bucket
    assert len(csp) <= 1783  # CloudFront's limit on the header value
    assert security["FrameOptions"]["FrameOption"] == "DENY" and security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
