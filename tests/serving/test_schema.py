"""Property-based: requests generated from the OpenAPI schema never get a 5xx and match the documented responses.

Drives schemathesis' Hypothesis strategies directly: its pytest loader does not support pytest 9.
"""

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode

from serving.app import create_app

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def api_schema(published):
    cfg, _ = published
    app = create_app(cfg)
    with TestClient(app):  # runs the lifespan: the registry and fallback cache are loaded
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_operation_is_generated(api_schema):
    paths = {result.ok().path for result in api_schema.get_all_operations()}
    assert {"/v1/users/{user_id}/recommendations", "/v1/movies/{movie_id}/similar", "/v1/movies/{movie_id}"} <= paths


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_responses_match_the_schema(api_schema, mode):
    calls = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if mode == GenerationMode.NEGATIVE and not operation.path.startswith("/v1/"):
            continue  # the ops routes take no input to get wrong

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call_and_validate()
            assert response.status_code < 500, (case.path, response.text)
            calls.append(response.status_code)

        check()
    expected = 200 if mode == GenerationMode.POSITIVE else 422
    assert calls.count(expected) > len(calls) / 2, f"mostly {expected}s for {mode} inputs"
