"""Schemathesis against the dashboard's own OpenAPI schema (`tuneforge dashboard` on loopback), as
tests/serve/test_fuzz.py does for the server: generated requests, valid and invalid, to every endpoint, with
the dashboard's key, with a wrong one and with none; no answer may be a 5xx, every answer must match the
published schema, a refusal must say why, and nothing may be read without the key.

Bounded: a fixed number of generated cases per operation and mode, no shrinking."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tuneforge.dashboard.app import create_dashboard_app  # noqa: E402

from .conftest import Server  # noqa: E402

KEY = "fuzz-dashboard-key"
CASES = 10  # per operation, mode and credential


def refusal_says_why(ctx, response, case):
    if 400 <= response.status_code < 500:
        detail = response.json().get("detail")
        assert isinstance(detail, str) and detail.strip(), f"{response.status_code} without a message: {response.text!r}"
    return True


def nothing_without_the_key(ctx, response, case):
    """Without the right key, no /api/... answer is a success (a malformed body may be refused first)."""
    if case.path.startswith("/api/") and response.request.headers.get("X-API-Key") != KEY:
        assert response.status_code >= 400, f"{case.path}: {response.status_code} without the key"
    return True


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          refusal_says_why, nothing_without_the_key]


@pytest.fixture(scope="module")
def dash(runs_dir, registry_dir):
    with Server(create_dashboard_app(runs_dir, registry=registry_dir, key=KEY)) as s:
        yield s


def fuzz(op, mode: GenerationMode, headers: dict | None, query: dict | None, checks: list) -> int:
    sent = []
    kw = {"query": query} if query and any(p.name in query for p in op.query) else {}

    @settings(max_examples=CASES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode, **kw))
    def run(case):
        case.call_and_validate(headers=headers, checks=checks, timeout=120)
        sent.append(1)

    run()
    return len(sent)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_generated_requests_to_the_dashboard_get_no_5xx(dash, mode):
    schema = schemathesis.openapi.from_url(dash.url + "/openapi.json")
    ops = [r.ok() for r in schema.get_all_operations()]
    paths = {op.path for op in ops}
    assert {"/", "/api/runs", "/api/run", "/api/run/plot", "/api/run/predict", "/api/registry", "/api/monitor",
            "/api/playground", "/api/info"} <= paths, paths
    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])
    total = 0
    for op in ops:
        if mode == GenerationMode.NEGATIVE and not (len(op.body) or len(op.query)):
            continue  # nothing to make invalid
        for headers in ({"X-API-Key": KEY}, {"X-API-Key": "wrong"}, None):
            total += fuzz(op, mode, headers, None, checks)
            if headers and mode == GenerationMode.POSITIVE:  # a real run, so generated bodies reach the model
                total += fuzz(op, mode, headers, {"id": "runs/sentiment-v1"}, checks)
    assert total >= 100
