"""Schemathesis against the OpenAPI schema of a real server on loopback: generated requests, valid
(positive) and invalid (negative), to every operation; no answer may be a 5xx, every answer must match
the schema the server publishes, and invalid input must be refused with a 4xx.

Bounded: a fixed number of generated cases per operation and mode, no shrinking (the file runs in ~30 s)."""

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

from tuneforge.serve.app import ServeOptions  # noqa: E402
from tuneforge.store.registry import Registry  # noqa: E402

from .conftest import ThreadServer  # noqa: E402

KEY = "fuzz-admin-key"
CASES = 12  # per operation and mode: enough to reach every validation branch, small enough for seconds


def refusal_says_why(ctx, response, case):
    """A 4xx carries a message a person can act on, not an empty body (the house rule for bad input)."""
    if 400 <= response.status_code < 500:
        detail = response.json().get("detail")
        assert isinstance(detail, str) and detail.strip(), f"{response.status_code} without a message: {response.text!r}"
    return True


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          refusal_says_why]


@pytest.fixture(scope="module")
def fuzz_server(tiny_runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-registry")
    reg = Registry(root)
    reg.add("sentiment", tiny_runs[0], stage="production")
    reg.add("sentiment", tiny_runs[1])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNEFORGE_FUZZ_ADMIN_KEY", KEY)
        opts = ServeOptions(registry=str(root), api_key_env="TUNEFORGE_FUZZ_ADMIN_KEY", max_texts=8, max_chars=200,
                            max_wait_ms=2, poll_s=0)
        with ThreadServer(opts) as s:
            yield s


def operations(server):
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 9, [op.label for op in ops]  # predict, models, health, ready, metrics, 4 admin
    return ops


def fuzz(op, mode: GenerationMode, headers: dict | None, path_parameters: dict | None, checks: list) -> int:
    """Run CASES generated cases of one operation; returns how many were sent (Hypothesis may stop early
    when an operation has few distinct inputs, e.g. GET /healthz)."""
    sent = []
    kw = {"path_parameters": path_parameters} if path_parameters and "{name}" in op.path else {}

    # No shrinking: against a live server it can take minutes; the failure report already shows the request.
    @settings(max_examples=CASES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode, **kw))
    def run(case):
        case.call_and_validate(headers=headers, checks=checks, timeout=60)
        sent.append(1)

    run()
    return len(sent)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_generated_requests_get_no_5xx_and_conform_to_the_schema(fuzz_server, mode):
    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])
    total = 0
    for op in operations(fuzz_server):
        if mode == GenerationMode.NEGATIVE and not (len(op.body) or len(op.query)):
            continue  # nothing to make invalid: any string is a valid {name}, and the API key is sent right
        # The served name and the right API key, so generated bodies reach the model and the admin code.
        total += fuzz(op, mode, headers={"X-API-Key": KEY}, path_parameters={"name": "sentiment"}, checks=checks)
        if op.path == "/v1/models/{name}/predict":  # and any generated name (404 before the model)
            total += fuzz(op, mode, headers=None, path_parameters=None, checks=checks)
    assert total >= 50
