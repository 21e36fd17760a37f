"""Against a real uvicorn server on loopback: predictions, every kind of bad request (4xx with a message,
never 5xx), metrics, admin auth, the v1 → 90/10 → promote v2 → roll back to v1 rollout, shadow traffic
with `tuneforge ab report`, and a request in flight surviving SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tuneforge.errors import TuneforgeError
from tuneforge.serve.ab import Route
from tuneforge.serve.app import ServeOptions
from tuneforge.serve.backends import load_backend
from tuneforge.store.db import open_database
from tuneforge.store.registry import Registry
from tuneforge.store.requestlog import read_rows

from .conftest import ThreadServer, free_port

KEY = "test-admin-key"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def server(tiny_runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    reg = Registry(root)
    reg.add("sentiment", tiny_runs[0], stage="production")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNEFORGE_TEST_ADMIN_KEY", KEY)
        # a tiny image allowance: the body limit is the larger of the text and image budgets, and the
        # "over the limit" case below tests the text budget
        opts = ServeOptions(registry=str(root), api_key_env="TUNEFORGE_TEST_ADMIN_KEY", max_texts=8, max_chars=200,
                            max_wait_ms=20, poll_s=0.3, max_images=1, max_image_mb=0.001)
        with ThreadServer(opts) as s:
            s.registry, s.root = reg, root
            yield s


def post(server, path: str, body, key: str | None = None, **kw) -> httpx.Response:
    headers = {**JSON, **({"X-API-Key": key} if key else {})}
    return httpx.post(server.url + path, json=body, headers=headers, timeout=60, **kw)


def predict(server, name: str, texts: list[str], caller_id: str | None = None) -> dict:
    r = post(server, f"/v1/models/{name}/predict", {"texts": texts, **({"caller_id": caller_id} if caller_id else {})})
    assert r.status_code == 200, r.text
    return r.json()


def metrics(server) -> dict:
    text = httpx.get(server.url + "/metrics", timeout=30).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_health_ready_openapi_and_model_list(server):
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 200 and "sentiment:v1" in ready.json()["loaded"]
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert {"/v1/models/{name}/predict", "/v1/models", "/v1/admin/models/{name}/traffic"} <= set(paths)
    models = {m["name"]: m for m in httpx.get(server.url + "/v1/models").json()["models"]}
    assert models["sentiment"]["serving"] and models["sentiment"]["weights"] == {"1": 1.0}


def test_predictions_are_the_runs_predictions(server, tiny_runs):
    texts = ["the plot was awful", "the cast was lovely", "the movie was great and it is great"]
    got = predict(server, "sentiment", texts)
    assert got["model"] == "sentiment" and got["version"] == 1
    want = load_backend(tiny_runs[0]).predict(texts)
    assert [p["label"] for p in got["predictions"]] == [p["label"] for p in want]
    assert [p["text"] for p in got["predictions"]] == texts


BAD = [  # (body bytes, headers, status, words the message must hold)
    (b'{"texts": ["a"', JSON, 422, "not valid JSON"),
    (b'[1, 2]', JSON, 422, "JSON object"),
    (b'{"texts": ["good"]}', {"content-type": "application/x-www-form-urlencoded"}, 422, "Content-Type: application/json"),
    (b'{}', JSON, 422, "either texts"),
    (b'{"texts": "a single string"}', JSON, 422, "texts"),
    (b'{"texts": [1, 2]}', JSON, 422, "texts.0"),
    (b'{"texts": []}', JSON, 422, "at least one text"),
    (b'{"texts": ["   "]}', JSON, 422, "whitespace"),
    (b'{"texts": ["\\ud800 half a character"]}', JSON, 422, "not valid Unicode"),
    (b'{"texts": ["good"], "colour": "red"}', JSON, 422, "colour"),
    (json.dumps({"texts": ["good"], "caller_id": "c" * 300}).encode(), JSON, 422, "caller_id"),
    (json.dumps({"texts": ["good"] * 9}).encode(), JSON, 413, "limit is 8"),
    (json.dumps({"texts": ["good", "a" * 201]}).encode(), JSON, 413, "texts[1] has 201 characters"),
    (json.dumps({"texts": ["a" * 150] * 100}).encode(), JSON, 413, "over the limit"),
    # a lone surrogate escape anywhere in the body: the 422 must not echo it (it cannot be encoded as UTF-8)
    (b'{"texts": ["a"], "x": "\\ud800"}', JSON, 422, "x: Extra inputs"),
    (b'{"texts": ["a"], "\\udc00": 1}', JSON, 422, "unicode string"),
    (b'{"texts": ["good"], "caller_id": "\\ud800"}', JSON, 422, "caller_id"),
]


@pytest.mark.parametrize("body,headers,status,needle", BAD, ids=[b[3] for b in BAD])
def test_bad_requests_get_a_4xx_with_a_message(server, body, headers, status, needle):
    r = httpx.post(server.url + "/v1/models/sentiment/predict", content=body, headers=headers, timeout=30)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]


def test_unknown_model_and_wrong_method(server):
    r = post(server, "/v1/models/nope/predict", {"texts": ["good"]})
    assert r.status_code == 404 and "no model named 'nope'" in r.json()["detail"]
    assert httpx.get(server.url + "/v1/models/sentiment/predict").status_code == 405


def test_concurrent_requests_are_batched_and_metrics_count_them(server):
    async def burst():
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            rs = await asyncio.gather(*(c.post("/v1/models/sentiment/predict", json={"texts": [f"the cast was good {i}"]})
                                        for i in range(24)))
        return [r.status_code for r in rs]

    assert asyncio.run(burst()) == [200] * 24
    post(server, "/v1/models/sentiment/predict", {"texts": []})
    m = metrics(server)
    labels = (("model", "sentiment"), ("version", "1"))
    assert m[("tuneforge_requests_total", (("model", "sentiment"), ("role", "primary"), ("status", "200"),
                                           ("version", "1")))] >= 24
    assert m[("tuneforge_requests_total", (("model", "sentiment"), ("role", "primary"), ("status", "422"),
                                           ("version", "")))] >= 1
    assert m[("tuneforge_request_latency_seconds_count", (("model", "sentiment"), ("role", "primary"),
                                                          ("version", "1")))] >= 24
    assert ("tuneforge_queue_depth", labels) in m
    single = m[("tuneforge_batch_size_bucket", (("le", "1.0"),) + labels)]
    assert m[("tuneforge_batch_size_count", labels)] > single  # some batch held more than one request's text


def test_admin_endpoints_need_the_key(server, tmp_path):
    url = "/v1/admin/models/sentiment/rollback"
    r = post(server, url, {})
    assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]
    r = post(server, url, {}, key="not-the-key")
    assert r.status_code == 403 and "wrong API key" in r.json()["detail"]
    r = httpx.put(server.url + "/v1/admin/models/sentiment/traffic", json={"weights": {"1": 1}}, headers=JSON)
    assert r.status_code == 401
    # with the key's environment variable unset, admin is switched off, whatever key is sent
    opts = ServeOptions(registry=str(tmp_path / "empty"), api_key_env="TUNEFORGE_TEST_UNSET_KEY", poll_s=0)
    os.environ.pop("TUNEFORGE_TEST_UNSET_KEY", None)
    with ThreadServer(opts, ready_status=503) as off:  # an empty registry: alive, never ready
        r = post(off, url, {}, key="anything")
        assert r.status_code == 403 and "disabled" in r.json()["detail"] and "TUNEFORGE_TEST_UNSET_KEY" in r.json()["detail"]


def test_admin_refuses_bad_changes_with_4xx(server):
    base = "/v1/admin/models/sentiment"
    r = post(server, base + "/promote", {"version": 42, "stage": "production"}, key=KEY)
    assert r.status_code == 404 and "no version 42" in r.json()["detail"]
    r = post(server, base + "/promote", {"version": 1, "stage": "live"}, key=KEY)
    assert r.status_code == 422 and "unknown stage" in r.json()["detail"]
    r = httpx.put(server.url + base + "/traffic", json={"weights": {"1": 50, "7": 50}}, headers={"X-API-Key": KEY})
    assert r.status_code == 404 and "no version 7" in r.json()["detail"]
    r = httpx.put(server.url + base + "/traffic", json={"weights": {"1": "lots"}}, headers={"X-API-Key": KEY})
    assert r.status_code == 422
    r = post(server, "/v1/admin/models/nope/rollback", {}, key=KEY)
    assert r.status_code == 404
    r = post(server, base + "/rollback", {}, key=KEY)
    assert r.status_code == 409 and "no earlier production version" in r.json()["detail"]
    assert predict(server, "sentiment", ["good"])["version"] == 1  # nothing changed


def test_rollout_v1_then_90_10_then_promote_v2_then_roll_back(server, tiny_runs):
    reg = server.registry
    reg.add("rollout", tiny_runs[0])
    reg.add("rollout", tiny_runs[1])
    r = post(server, "/v1/admin/models/rollout/promote", {"version": 1, "stage": "production"}, key=KEY)
    assert r.status_code == 200 and r.json() == {"model": "rollout", "version": 1, "stage": "production"}
    assert {predict(server, "rollout", ["good"], f"c{i}")["version"] for i in range(5)} == {1}

    r = httpx.put(server.url + "/v1/admin/models/rollout/traffic", json={"weights": {"1": 90, "2": 10}},
                  headers={"X-API-Key": KEY}, timeout=60)
    assert r.status_code == 200 and r.json()["weights"] == {"1": 90.0, "2": 10.0}
    route = Route.make("rollout", {1: 90, 2: 10})
    for i in range(20):  # sticky: a caller keeps its version, the one the documented sha256 bucket gives
        versions = {predict(server, "rollout", ["the plot was good"], f"sticky-{i}")["version"] for _ in range(3)}
        assert versions == {route.choose(f"sticky-{i}")}

    async def spread(n: int) -> list[int]:
        limit = asyncio.Semaphore(32)
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as c:
            async def one(i):
                async with limit:
                    r = await c.post("/v1/models/rollout/predict", json={"texts": ["the cast was great"],
                                                                         "caller_id": f"user-{i}"})
                    return r.json()["version"]
            return await asyncio.gather(*(one(i) for i in range(n)))

    versions = asyncio.run(spread(2000))
    on_v2 = versions.count(2)
    assert versions.count(1) + on_v2 == 2000
    assert 140 <= on_v2 <= 260, on_v2  # 10% of 2000 = 200, binomial sd ~13
    assert versions == [route.choose(f"user-{i}") for i in range(2000)]

    r = post(server, "/v1/admin/models/rollout/promote", {"version": 2, "stage": "production"}, key=KEY)
    assert r.status_code == 200
    assert {predict(server, "rollout", ["good"], f"user-{i}")["version"] for i in range(20)} == {2}
    models = {m["name"]: m for m in httpx.get(server.url + "/v1/models").json()["models"]}
    assert models["rollout"]["weights"] == {"2": 1.0}  # the promotion ended the split

    r = post(server, "/v1/admin/models/rollout/rollback", {}, key=KEY)
    assert r.status_code == 200 and r.json() == {"model": "rollout", "version": 1, "stage": "production"}
    assert {predict(server, "rollout", ["good"], f"user-{i}")["version"] for i in range(20)} == {1}
    assert {v.version: v.stage for v in reg.list("rollout")} == {1: "production", 2: "archived"}


def test_shadow_answers_are_logged_never_returned_and_reported(server, tiny_runs):
    reg = server.registry
    reg.add("shadowed", tiny_runs[0], stage="production")
    reg.add("shadowed", tiny_runs[1])
    r = httpx.put(server.url + "/v1/admin/models/shadowed/traffic", json={"weights": {"1": 1}, "shadow": 2},
                  headers={"X-API-Key": KEY}, timeout=60)
    assert r.status_code == 200 and r.json()["shadow"] == 2
    texts = [f"the {w} was {a} {i}" for i, (w, a) in enumerate(
        (w, a) for w in ("movie", "plot", "cast", "music") for a in ("fine", "not very good", "john", "awful", "it"))]
    answered = [predict(server, "shadowed", [t], f"c{i}") for i, t in enumerate(texts)]
    assert {a["version"] for a in answered} == {1}

    db = open_database(server.root / "registry.db")
    deadline = time.time() + 60
    while time.time() < deadline and sum(r.shadow for r in read_rows(db, "shadowed")) < len(texts):
        time.sleep(0.1)
    rows = read_rows(db, "shadowed")
    assert sum(r.shadow for r in rows) == len(texts) and sum(1 - r.shadow for r in rows) == len(texts)
    assert not any(t in json.dumps([r.__dict__ for r in rows]) for t in texts)  # hashes only, never the text

    v2 = load_backend(tiny_runs[1]).predict(texts)
    agree = sum(a["predictions"][0]["label"] == b["label"] for a, b in zip(answered, v2)) / len(texts)
    out = subprocess.run([sys.executable, "-m", "tuneforge.cli", "ab", "report", "shadowed", "--registry",
                          str(server.root), "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["shadow_agreement"] == [{"primary": 1, "shadow": 2, "n": len(texts), "agreement": round(agree, 4)}]
    assert {(v["version"], v["role"]) for v in rep["versions"]} == {(1, "primary"), (2, "shadow")}
    m = metrics(server)
    assert m[("tuneforge_requests_total", (("model", "shadowed"), ("role", "shadow"), ("status", "200"),
                                           ("version", "2")))] == len(texts)


def test_a_change_made_with_the_cli_is_picked_up(server, tiny_runs):
    server.registry.add("polled", tiny_runs[0], stage="production")  # not through the server
    deadline = time.time() + 60
    while time.time() < deadline:
        r = post(server, "/v1/models/polled/predict", {"texts": ["good"]})
        if r.status_code == 200:
            break
        assert r.status_code in (404, 503), r.text
        time.sleep(0.1)
    assert r.status_code == 200 and r.json()["version"] == 1


def test_a_broken_version_does_not_take_the_other_models_down(tmp_path, tiny_runs):
    reg = Registry(tmp_path / "reg")
    reg.add("good", tiny_runs[0], stage="production")
    (reg.add("fragile", tiny_runs[1], stage="production").path / "model.safetensors").unlink()  # a damaged disk
    with ThreadServer(ServeOptions(registry=str(tmp_path / "reg"), poll_s=0), ready_status=503) as s:
        ready = httpx.get(s.url + "/readyz").json()
        assert not ready["ready"] and "fragile" in ready["broken"] and "good:v1" in ready["loaded"]
        r = post(s, "/v1/models/fragile/predict", {"texts": ["good"]})
        assert r.status_code == 503 and "fragile v1 could not be loaded" in r.json()["detail"]
        assert predict(s, "good", ["the cast was lovely"])["version"] == 1


def test_sigterm_lets_the_request_in_flight_finish(tmp_path, tiny_runs):
    root = tmp_path / "reg"
    Registry(root).add("sentiment", tiny_runs[0], stage="production")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # --max-wait-ms 4000: after a batch of two, a lone request waits 4 s in the batcher for company, so it is
    # surely in flight
    proc = subprocess.Popen([sys.executable, "-m", "tuneforge.cli", "serve", "--registry", str(root), "--port",
                             str(port), "--max-wait-ms", "4000", "--poll-s", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 600  # a second on an idle machine; far more on one busy with other work
        while True:
            assert time.time() < deadline, "the server did not become ready"
            try:
                if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
        first = httpx.post(url + "/v1/models/sentiment/predict", json={"texts": ["a warm-up", "of two texts"]})
        assert first.status_code == 200
        answer = {}
        t = threading.Thread(target=lambda: answer.update(r=httpx.post(
            url + "/v1/models/sentiment/predict", json={"texts": ["the plot was awful"]}, timeout=120)))
        t.start()
        while 'tuneforge_queue_depth{model="sentiment",version="1"} 1.0' not in httpx.get(url + "/metrics").text:
            assert time.time() < deadline and t.is_alive(), "the request never reached the batcher"
            time.sleep(0.02)  # wait until the request sits in the batcher's queue
        proc.send_signal(signal.SIGTERM)
        t.join(120)
        assert answer["r"].status_code == 200 and answer["r"].json()["predictions"][0]["label"] == "neg"
        # uvicorn re-raises the signal after its graceful shutdown: the conventional "ended by SIGTERM" status
        assert proc.wait(60) in (0, -signal.SIGTERM), proc.stdout.read()
        log = proc.stdout.read()
        assert "Waiting for application shutdown" in log and "Application shutdown complete" in log
        with pytest.raises(httpx.TransportError):  # and it is gone
            httpx.get(url + "/healthz", timeout=2)
        # the request log was flushed on the way out
        assert len(read_rows(open_database(root / "registry.db"), "sentiment")) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_readyz_is_503_until_a_model_is_served(tmp_path):
    # an empty registry: the server answers /healthz, but it has nothing to serve, so it is not ready
    with ThreadServer(ServeOptions(registry=str(tmp_path / "empty"), poll_s=0), ready_status=503) as s:
        assert httpx.get(s.url + "/healthz").status_code == 200
        r = httpx.get(s.url + "/readyz")
        assert r.status_code == 503 and r.json()["ready"] is False
        assert "no model is being served" in r.json()["detail"] and "tuneforge registry" in r.json()["detail"]


def test_a_chunked_body_is_refused_while_it_streams(tmp_path):
    """No Content-Length: the body limit is counted as the chunks arrive, and the rest is never read."""
    from tuneforge.server import create_app
    app = create_app(ServeOptions(registry=str(tmp_path / "reg"), max_texts=2, max_chars=10, max_images=1,
                                  max_image_mb=0.001, poll_s=0))  # a body limit of a few kB
    pulled = []

    async def body():
        yield b'{"texts": ["'
        for _ in range(10_000):  # 10 MB if it were all read
            pulled.append(1)
            yield b"a" * 1024
        yield b'"]}'

    async def send():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return await c.post("/v1/models/m/predict", content=body(), headers=JSON)

    r = asyncio.run(send())
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413 and "over the limit" in r.json()["detail"], r.text
    assert len(pulled) < 100, f"{len(pulled)} kB were read before the refusal"


def test_a_chunked_body_over_the_limit_gets_413_from_a_real_server(server):
    pulled = []

    def body():
        yield b'{"texts": ["'
        for _ in range(100_000):  # 100 MB if it were all sent
            pulled.append(1)
            yield b"a" * 1024
        yield b'"]}'

    r = httpx.post(server.url + "/v1/models/sentiment/predict", content=body(), headers=JSON, timeout=60)
    assert r.status_code == 413 and "over the limit" in r.json()["detail"], r.text
    assert r.headers["connection"] == "close"  # the server hangs up instead of reading the rest
    assert len(pulled) < 100_000


def test_request_log_hashes_are_keyed_with_a_server_secret(server):
    import hashlib
    text = "+1 415 555 2671"  # short inputs are the ones a plain sha256 gives away to guessing
    predict(server, "sentiment", [text])
    server.app.state.serve.requestlog.flush()
    stored = {r.input_sha256 for r in read_rows(open_database(server.root / "registry.db"), "sentiment")}
    assert hashlib.sha256(text.encode()).hexdigest() not in stored
    from tuneforge.server import create_app
    from tuneforge.store.requestlog import SECRET_FILE, input_hmac
    secret = server.app.state.serve.log_secret
    assert input_hmac(secret, text) in stored
    assert (server.root / SECRET_FILE).stat().st_mode & 0o777 == 0o600  # created once, readable by its owner only
    # another replica (or the same server restarted) on this registry keys with the same secret
    other = create_app(ServeOptions(registry=str(server.root), poll_s=0)).state.serve
    assert other.log_secret == secret


def test_the_log_secret_comes_from_the_environment_first(tmp_path, monkeypatch):
    from tuneforge.server import create_app
    from tuneforge.store.requestlog import SECRET_FILE, input_hmac
    monkeypatch.setenv("TUNEFORGE_LOG_SECRET", "a shared secret for every replica")
    state = create_app(ServeOptions(registry=str(tmp_path / "reg"), poll_s=0)).state.serve
    assert state.log_secret == b"a shared secret for every replica"
    assert not (tmp_path / "reg" / SECRET_FILE).exists()
    assert input_hmac(state.log_secret, "x") != input_hmac(b"another", "x")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / SECRET_FILE).write_text("short")
    monkeypatch.delenv("TUNEFORGE_LOG_SECRET")
    with pytest.raises(TuneforgeError, match=SECRET_FILE):  # a damaged secret is refused, never silently replaced
        create_app(ServeOptions(registry=str(tmp_path / "bad"), poll_s=0))


def test_serve_no_dashboard(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from tuneforge import cli
    from tuneforge import server as serve_app
    got = {}
    monkeypatch.setattr(serve_app, "serve", lambda opts, **kw: got.update(opts=opts))
    assert cli.main(["serve", "--registry", str(tmp_path / "reg"), "--no-dashboard"]) == 0
    assert got["opts"].dashboard is False
    app = serve_app.create_app(got["opts"])
    c = TestClient(app)
    assert c.get("/api/runs").status_code == 404 and c.get("/").status_code == 404
    assert c.get("/healthz").status_code == 200
