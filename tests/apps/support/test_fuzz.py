"""Schemathesis against the support app's own OpenAPI schema on a real loopback server (as
tests/serve/test_fuzz.py does for `tuneforge serve`): generated requests, valid and invalid, to every
operation, with the operator's key, with a session's token, with a wrong credential and with none. No answer
may be a 5xx, and every 4xx says why. Bounded: a fixed number of cases per operation, no shrinking."""

from __future__ import annotations

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from .conftest import FAQ_EN, make_assistant, write_faq  # noqa: E402
from .test_server import LoopbackServer  # noqa: E402

KEY = "fuzz-support-key"
CASES = 10


def refusal_says_why(ctx, response, case):
    if 400 <= response.status_code < 500:
        detail = response.json().get("detail")
        assert isinstance(detail, str) and detail.strip(), f"{response.status_code} without a message: {response.text!r}"
    return True


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, tiny_bert):
    from tuneforge.apps.support.server import create_app
    tmp = tmp_path_factory.mktemp("support-fuzz")
    a = make_assistant(write_faq(tmp / "faq.csv", FAQ_EN), tiny_bert, tmp / "s.db", threshold=0.9999)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNEFORGE_FUZZ_SUPPORT_KEY", KEY)
        app = create_app(a, api_key_env="TUNEFORGE_FUZZ_SUPPORT_KEY")
    with LoopbackServer(app) as s:
        first = httpx.post(s.url + "/v1/chat", json={"message": "where does john work"}, timeout=60).json()
        s.session = first["session_id"], first["session_token"]
        yield s


def fuzz(op, mode, headers, path_parameters) -> int:
    sent = []
    kw = {"path_parameters": path_parameters} if path_parameters and "{session_id}" in op.path else {}

    @settings(max_examples=CASES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode, **kw))
    def run(case):
        case.call_and_validate(headers=headers, checks=[not_a_server_error, refusal_says_why], timeout=60)
        sent.append(1)

    run()
    return len(sent)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_generated_requests_get_no_5xx(fuzz_server, mode):
    ops = [r.ok() for r in schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json").get_all_operations()]
    assert {op.path for op in ops} >= {"/v1/chat", "/v1/sessions/{session_id}", "/v1/candidates", "/healthz"}
    sid, token = fuzz_server.session
    credentials = [{"X-API-Key": KEY}, {"Authorization": f"Bearer {token}"}, {"X-API-Key": "wrong"}, None]
    total = 0
    for op in ops:
        if mode == GenerationMode.NEGATIVE and not (len(op.body) or len(op.query)):
            continue  # nothing to make invalid but the credentials, which are sent as given
        for headers in credentials:
            total += fuzz(op, mode, headers, {"session_id": sid} if headers else None)
    assert total >= (60 if mode == GenerationMode.POSITIVE else 40)
    # the fuzzing wrote nothing it should not: the session is still readable with its own token only
    r = httpx.get(f"{fuzz_server.url}/v1/sessions/{sid}", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert r.status_code == 200
