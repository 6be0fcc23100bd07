"""CORS as deployed: the API function gets the same origins as API Gateway's preflight, and the preflight
allows exactly the headers and methods the local stack's front (stickers_core.gateway_contract) allows."""

from __future__ import annotations

import pytest

from stickers_core import gateway_contract
from stickers_core.settings import ENV_CORS_ORIGINS

pytestmark = pytest.mark.cdk


def test_the_api_function_answers_cors_for_the_configured_origins(synth) -> None:  # noqa: ANN001
    expected = ",".join(synth.stack.config.cors_origins)
    function = synth.json["Resources"][synth.logical_id(synth.stack.functions.api_function)]
    assert function["Properties"]["Environment"]["Variables"][ENV_CORS_ORIGINS] == expected


def test_the_preflight_is_the_contracts(synth) -> None:  # noqa: ANN001
    options = [
        r for r in synth.resources("AWS::ApiGateway::Method").values() if r["Properties"]["HttpMethod"] == "OPTIONS"
    ]
    assert options, "CORS preflight methods"
    for method in options:
        params = method["Properties"]["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
        headers = params["method.response.header.Access-Control-Allow-Headers"].strip("'").split(",")
        assert headers == list(gateway_contract.CORS_ALLOW_HEADERS)
        methods = params["method.response.header.Access-Control-Allow-Methods"].strip("'").split(",")
        assert methods == list(gateway_contract.CORS_ALLOW_METHODS)
        assert params["method.response.header.Access-Control-Max-Age"].strip("'") == str(gateway_contract.CORS_MAX_AGE_S)


def test_traces_do_not_capture_responses(synth) -> None:  # noqa: ANN001
    for function in synth.stack.functions.functions:
        variables = synth.json["Resources"][synth.logical_id(function)]["Properties"]["Environment"]["Variables"]
        assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
