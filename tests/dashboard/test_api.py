"""The dashboard's JSON endpoints on a real server over loopback: `tuneforge dashboard` (runs alone) and the
same pages inside `tuneforge serve` (registry, live split, drift of real logged requests)."""

from __future__ import annotations

import httpx
import pytest

from tuneforge.cli import main
from tuneforge.dashboard.app import create_dashboard_app

from .conftest import Server

KEY = "dashboard-test-key"
AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def dash(runs_dir, registry_dir):
    with Server(create_dashboard_app(runs_dir, registry=registry_dir, key=KEY)) as s:
        yield s


def test_runs_listed_side_by_side(dash):
    runs = {r["id"]: r for r in httpx.get(dash.url + "/api/runs", headers=AUTH).json()["runs"]}
    assert set(runs) == {"runs/sentiment-v1", "runs/sentiment-v2", "runs/ner/people-places"}
    v1 = runs["runs/sentiment-v1"]
    assert v1["task"] == "text-classification" and v1["config"]["train.epochs"] == 3
    assert runs["runs/sentiment-v2"]["config"]["train.epochs"] == 1
    assert 0 <= v1["metrics"]["test"]["accuracy"] <= 1 and "confusion_matrix.png" in v1["plots"]


def test_run_detail_confusion_and_mistakes(dash):
    d = httpx.get(dash.url + "/api/run", headers=AUTH, params={"id": "runs/sentiment-v2"}).json()
    err = d["errors"]
    assert sorted(err["labels"]) == ["neg", "pos"]
    assert sum(map(sum, err["matrix"])) == err["n"] == d["metrics"]["test"]["n"]
    # the matrix and the headline accuracy come from the same predictions
    correct = sum(err["matrix"][i][i] for i in range(len(err["labels"])))
    assert correct / err["n"] == pytest.approx(d["metrics"]["test"]["accuracy"], abs=1e-3)
    assert err["wrong"] == err["n"] - correct
    conf = [m["confidence"] for m in err["worst"]]
    assert conf == sorted(conf, reverse=True) and all(m["label"] != m["predicted"] for m in err["worst"])
    assert any("eval_macro_f1" in p for p in d["learning_curve"]) and any("loss" in p for p in d["learning_curve"])

    ner = httpx.get(dash.url + "/api/run", headers=AUTH, params={"id": "runs/ner/people-places"}).json()
    assert ner["main_metric"] == "entity_f1" and ner["errors"]["labels"][0] == "O"
    assert set(ner["errors"]["labels"]) <= {"O", "PER", "LOC"} and ner["errors"]["unit"] == "test words"


def test_unknown_run_and_plot_are_404_with_a_message(dash):
    r = httpx.get(dash.url + "/api/run", headers=AUTH, params={"id": "runs/../../etc"})
    assert r.status_code == 404 and "GET /api/runs lists the runs" in r.json()["detail"]
    r = httpx.get(dash.url + "/api/run/plot", headers=AUTH, params={"id": "runs/sentiment-v1", "name": "../config.yaml"})
    assert r.status_code == 404 and "no plot named" in r.json()["detail"]
    r = httpx.get(dash.url + "/api/run/plot", headers=AUTH, params={"id": "runs/sentiment-v1", "name": "learning_curve.png"})
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"


def test_playground_on_runs(dash):
    url = dash.url + "/api/run/predict"
    r = httpx.post(url, headers=AUTH, params={"id": "runs/sentiment-v1"}, json={"texts": ["the movie was great"]}, timeout=120)
    assert r.status_code == 200, r.text
    p = r.json()["predictions"][0]
    assert p["label"] in ("pos", "neg") and sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    r = httpx.post(url, headers=AUTH, params={"id": "runs/ner/people-places"}, json={"texts": ["张三在北京的公司"]}, timeout=120)
    assert r.status_code == 200, r.text
    assert all({"type", "start", "end", "text"} <= e.keys() for e in r.json()["predictions"][0]["entities"])
    for body, status, words in (({"texts": ["  "]}, 422, "empty"), ({"images": ["aGk="]}, 422, "send texts"),
                                ({"texts": ["x" * 2001]}, 413, "limit"), ({"text": "hi"}, 422, "text")):
        r = httpx.post(url, headers=AUTH, params={"id": "runs/sentiment-v1"}, json=body, timeout=60)
        assert r.status_code == status and words in r.text, (body, r.text)
    # a body far over every playground limit is refused from its Content-Length, before it is read
    r = httpx.post(url, params={"id": "runs/sentiment-v1"}, content=b"[" + b" " * 30_000_000 + b"]",
                   headers={**AUTH, "content-type": "application/json"}, timeout=60)
    assert r.status_code == 413 and "over the limit" in r.json()["detail"]


def test_registry_and_monitor_without_a_server(dash):
    reg = httpx.get(dash.url + "/api/registry", headers=AUTH).json()
    (m,) = reg["models"]
    assert m["name"] == "sentiment" and m["split_source"] == "traffic split"
    assert [(v["version"], v["stage"], v["traffic_percent"]) for v in m["versions"]] == \
        [(1, "production", 80.0), (2, "staging", 20.0)]
    mon = httpx.get(dash.url + "/api/monitor", headers=AUTH).json()
    assert mon["trends"] == {"available": False, "reason": mon["trends"]["reason"]}
    assert "no monitor database" in mon["trends"]["reason"] and mon["drift"] == []
    page = httpx.get(dash.url + "/")
    assert page.status_code == 200 and "dashboard.js" in page.text
    assert "function lineChart" in httpx.get(dash.url + "/dashboard-static/dashboard.js").text


def test_cli_refuses_bad_paths(tmp_path, capsys, runs_dir):
    assert main(["dashboard", "--runs", str(tmp_path / "nope")]) == 2
    assert "runs directory not found" in capsys.readouterr().err
    assert main(["dashboard", "--runs", str(runs_dir), "--registry", str(tmp_path / "noreg")]) == 2
    assert "registry directory not found" in capsys.readouterr().err
    assert main(["dashboard", "--runs", str(runs_dir), "--monitor-db", str(tmp_path / "m.db")]) == 2
    assert "monitor database not found" in capsys.readouterr().err


def test_inside_serve_the_split_is_live_and_drift_is_measured(registry_dir, runs_dir, monkeypatch):
    from tuneforge.server import ServeOptions, create_app
    monkeypatch.setenv("TUNEFORGE_DASHBOARD_RUNS", str(runs_dir))
    monkeypatch.setenv("TUNEFORGE_API_KEY", KEY)
    with Server(create_app(ServeOptions(registry=str(registry_dir), poll_s=0, monitor_s=0)), "/readyz") as s:
        assert "<nav" in httpx.get(s.url + "/").text
        reg = httpx.get(s.url + "/api/registry", headers=AUTH).json()
        assert [(v["version"], v["traffic_percent"], v["loaded"]) for v in reg["models"][0]["versions"]] == \
            [(1, 80.0, True), (2, 20.0, True)]
        targets = httpx.get(s.url + "/api/playground", headers=AUTH).json()["targets"]
        assert targets[0] == {"kind": "served", "id": "sentiment", "label": "sentiment (served)",
                              "task": "text-classification", "input": "text", "url": "/v1/models/sentiment/predict"}
        assert {"registry/sentiment/v1", "runs/sentiment-v1"} <= {t["id"] for t in targets}
        for i in range(12):
            r = httpx.post(s.url + "/v1/models/sentiment/predict", json={"texts": [f"the plot was good {i}"],
                                                                          "caller_id": f"user{i}"}, timeout=60)
            assert r.status_code == 200
        s.app.state.serve.requestlog.flush()
        reg = httpx.get(s.url + "/api/registry", headers=AUTH).json()
        assert reg["models"][0]["requests_24h"]["requests"] == 12
        (drift,) = httpx.get(s.url + "/api/monitor", headers=AUTH).json()["drift"]
        assert drift["model"] == "sentiment" and sum(x["overall"]["n"] for x in drift["versions"]) == 12


DATA = [("GET", "/api/info"), ("GET", "/api/runs"), ("GET", "/api/run?id=registry/sentiment/v1"),
        ("GET", "/api/run/plot?id=registry/sentiment/v1&name=worst_mistakes.png"), ("GET", "/api/registry"),
        ("GET", "/api/monitor"), ("GET", "/api/playground"), ("POST", "/api/run/predict?id=registry/sentiment/v1")]


def _call(c, method: str, path: str, **kw):
    return c.request(method, path, json={"texts": ["the plot was good"]} if method == "POST" else None, **kw)


def test_inside_serve_the_dashboard_needs_the_api_key(registry_dir, monkeypatch):
    """Test-set texts, configs, paths and a predict outside A/B routing and the request log: none of it for
    a caller without the server's API key; with no key set, for nobody."""
    from fastapi.testclient import TestClient

    from tuneforge.server import ServeOptions, create_app
    monkeypatch.setenv("TUNEFORGE_TEST_DASH_KEY", KEY)
    opts = ServeOptions(registry=str(registry_dir), api_key_env="TUNEFORGE_TEST_DASH_KEY", poll_s=0, monitor_s=0)
    c = TestClient(create_app(opts))  # no lifespan: no model is loaded, only the dashboard's files are read
    for method, path in DATA:
        r = _call(c, method, path)
        assert r.status_code == 401 and "X-API-Key" in r.json()["detail"], (path, r.text)
        assert _call(c, method, path, headers={"X-API-Key": "wrong"}).status_code == 403
    r = c.get("/api/run", params={"id": "registry/sentiment/v1"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["id"] == "registry/sentiment/v1" and r.json()["errors"]["n"]
    assert c.get("/").status_code == 200  # the page itself holds no data
    # the login URL trades the key for an HttpOnly session cookie (not the key itself) and drops it from the URL
    assert c.get("/", params={"token": "wrong"}, follow_redirects=False).status_code == 403
    r = c.get("/", params={"token": KEY}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and KEY not in cookie
    assert c.get("/api/runs").status_code == 200  # the client keeps the cookie, as the browser does

    monkeypatch.delenv("TUNEFORGE_TEST_DASH_KEY")  # no key configured: locked for everyone
    c = TestClient(create_app(opts))
    for method, path in DATA:
        r = _call(c, method, path, headers={"X-API-Key": ""})
        assert r.status_code == 403 and "TUNEFORGE_TEST_DASH_KEY" in r.json()["detail"], (path, r.text)


def test_standalone_dashboard_needs_its_token(runs_dir, monkeypatch, capsys):
    from fastapi.testclient import TestClient
    app = create_dashboard_app(runs_dir)  # no key given: a random token, as Jupyter does
    token = app.state.dashboard_key
    assert len(token) >= 24 and token != create_dashboard_app(runs_dir).state.dashboard_key
    c = TestClient(app)
    for path in ("/api/runs", "/api/run?id=runs/sentiment-v1", "/api/info", "/api/playground", "/api/monitor"):
        r = c.get(path)
        assert r.status_code == 401 and "login URL" in r.json()["detail"], (path, r.text)
    assert c.post("/api/run/predict?id=runs/sentiment-v1", json={"texts": ["good"]}).status_code == 401
    assert c.get("/", params={"token": token}).status_code == 200  # redirected to the page, cookie set
    assert {r["id"] for r in c.get("/api/runs").json()["runs"]} >= {"runs/sentiment-v1"}
    assert TestClient(app).get("/api/runs", headers={"X-API-Key": token}).status_code == 200

    # the CLI prints the login URL with the token it made; with $TUNEFORGE_API_KEY set, that key (not printed)
    import uvicorn
    started = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(app))
    monkeypatch.delenv("TUNEFORGE_API_KEY", raising=False)
    assert main(["dashboard", "--runs", str(runs_dir), "--port", "8123"]) == 0
    assert f"http://127.0.0.1:8123/?token={started[0].state.dashboard_key}" in capsys.readouterr().err
    monkeypatch.setenv("TUNEFORGE_API_KEY", "my-own-key")
    assert main(["dashboard", "--runs", str(runs_dir)]) == 0
    assert started[1].state.dashboard_key == "my-own-key" and "my-own-key" not in capsys.readouterr().err


def test_damaged_runs_are_4xx_naming_the_file(runs_dir, tmp_path):
    """A truncated model.safetensors, a labels.json or metrics.json that is not what training writes: the
    dashboard says which file, with a 4xx, and lists the others; never a 500."""
    import shutil

    from fastapi.testclient import TestClient
    runs = tmp_path / "runs"
    for name in ("weights", "labels", "labels-type", "metrics-type", "history"):
        shutil.copytree(runs_dir / "sentiment-v1", runs / name)
    weights = runs / "weights" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    (runs / "labels" / "labels.json").write_text('["pos", "ne')
    (runs / "labels-type" / "labels.json").write_text("42")
    (runs / "metrics-type" / "metrics.json").write_text("[1, 2]")
    (runs / "history" / "log_history.json").write_text("7")
    c = TestClient(create_dashboard_app(runs, key=KEY), raise_server_exceptions=False, headers=AUTH)
    listed = {r["id"]: r for r in c.get("/api/runs").json()["runs"]}
    assert len(listed) == 5 and "metrics.json" in listed["runs/metrics-type"]["error"]
    for run, file in (("labels", "labels.json"), ("labels-type", "labels.json"), ("metrics-type", "metrics.json"),
                      ("history", "log_history.json")):
        r = c.get("/api/run", params={"id": f"runs/{run}"})
        assert 400 <= r.status_code < 500 and file in r.json()["detail"], (run, r.status_code, r.text)
    r = c.post("/api/run/predict", params={"id": "runs/weights"}, json={"texts": ["good"]})
    assert 400 <= r.status_code < 500 and "model.safetensors" in r.json()["detail"], (r.status_code, r.text)


def test_a_lone_surrogate_is_a_422_not_a_500(runs_dir):
    from fastapi.testclient import TestClient
    c = TestClient(create_dashboard_app(runs_dir, key=KEY), raise_server_exceptions=False, headers=AUTH)
    for body, needle in ((b'{"texts": ["a"], "x": "\\ud800"}', "x: Extra inputs"),
                         (b'{"texts": ["\\ud800"]}', "texts[0] is not valid Unicode")):
        r = c.post("/api/run/predict", params={"id": "runs/sentiment-v1"}, content=body,
                   headers={"content-type": "application/json"})
        assert r.status_code == 422 and needle in r.json()["detail"], r.text
