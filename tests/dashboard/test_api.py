"""The dashboard's JSON endpoints on a real server over loopback: `tuneforge dashboard` (runs alone) and the
same pages inside `tuneforge serve` (registry, live split, drift of real logged requests)."""

from __future__ import annotations

import httpx
import pytest

from tuneforge.cli import main
from tuneforge.dashboard.app import create_dashboard_app

from .conftest import Server


@pytest.fixture(scope="module")
def dash(runs_dir, registry_dir):
    with Server(create_dashboard_app(runs_dir, registry=registry_dir)) as s:
        yield s


def test_runs_listed_side_by_side(dash):
    runs = {r["id"]: r for r in httpx.get(dash.url + "/api/runs").json()["runs"]}
    assert set(runs) == {"runs/sentiment-v1", "runs/sentiment-v2", "runs/ner/people-places"}
    v1 = runs["runs/sentiment-v1"]
    assert v1["task"] == "text-classification" and v1["config"]["train.epochs"] == 3
    assert runs["runs/sentiment-v2"]["config"]["train.epochs"] == 1
    assert 0 <= v1["metrics"]["test"]["accuracy"] <= 1 and "confusion_matrix.png" in v1["plots"]


def test_run_detail_confusion_and_mistakes(dash):
    d = httpx.get(dash.url + "/api/run", params={"id": "runs/sentiment-v2"}).json()
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

    ner = httpx.get(dash.url + "/api/run", params={"id": "runs/ner/people-places"}).json()
    assert ner["main_metric"] == "entity_f1" and ner["errors"]["labels"][0] == "O"
    assert set(ner["errors"]["labels"]) <= {"O", "PER", "LOC"} and ner["errors"]["unit"] == "test words"


def test_unknown_run_and_plot_are_404_with_a_message(dash):
    r = httpx.get(dash.url + "/api/run", params={"id": "runs/../../etc"})
    assert r.status_code == 404 and "GET /api/runs lists the runs" in r.json()["detail"]
    r = httpx.get(dash.url + "/api/run/plot", params={"id": "runs/sentiment-v1", "name": "../config.yaml"})
    assert r.status_code == 404 and "no plot named" in r.json()["detail"]
    r = httpx.get(dash.url + "/api/run/plot", params={"id": "runs/sentiment-v1", "name": "learning_curve.png"})
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"


def test_playground_on_runs(dash):
    url = dash.url + "/api/run/predict"
    r = httpx.post(url, params={"id": "runs/sentiment-v1"}, json={"texts": ["the movie was great"]}, timeout=120)
    assert r.status_code == 200, r.text
    p = r.json()["predictions"][0]
    assert p["label"] in ("pos", "neg") and sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    r = httpx.post(url, params={"id": "runs/ner/people-places"}, json={"texts": ["张三在北京的公司"]}, timeout=120)
    assert r.status_code == 200, r.text
    assert all({"type", "start", "end", "text"} <= e.keys() for e in r.json()["predictions"][0]["entities"])
    for body, status, words in (({"texts": ["  "]}, 422, "empty"), ({"images": ["aGk="]}, 422, "send texts"),
                                ({"texts": ["x" * 2001]}, 413, "limit"), ({"text": "hi"}, 422, "text")):
        r = httpx.post(url, params={"id": "runs/sentiment-v1"}, json=body, timeout=60)
        assert r.status_code == status and words in r.text, (body, r.text)
    # a body far over every playground limit is refused from its Content-Length, before it is read
    r = httpx.post(url, params={"id": "runs/sentiment-v1"}, content=b"[" + b" " * 30_000_000 + b"]",
                   headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413 and "over the limit" in r.json()["detail"]


def test_registry_and_monitor_without_a_server(dash):
    reg = httpx.get(dash.url + "/api/registry").json()
    (m,) = reg["models"]
    assert m["name"] == "sentiment" and m["split_source"] == "traffic split"
    assert [(v["version"], v["stage"], v["traffic_percent"]) for v in m["versions"]] == \
        [(1, "production", 80.0), (2, "staging", 20.0)]
    mon = httpx.get(dash.url + "/api/monitor").json()
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
    from tuneforge.serve.app import ServeOptions, create_app
    monkeypatch.setenv("TUNEFORGE_DASHBOARD_RUNS", str(runs_dir))
    with Server(create_app(ServeOptions(registry=str(registry_dir), poll_s=0, monitor_s=0)), "/readyz") as s:
        assert "<nav" in httpx.get(s.url + "/").text
        reg = httpx.get(s.url + "/api/registry").json()
        assert [(v["version"], v["traffic_percent"], v["loaded"]) for v in reg["models"][0]["versions"]] == \
            [(1, 80.0, True), (2, 20.0, True)]
        targets = httpx.get(s.url + "/api/playground").json()["targets"]
        assert targets[0] == {"kind": "served", "id": "sentiment", "label": "sentiment (served)",
                              "task": "text-classification", "url": "/v1/models/sentiment/predict"}
        assert {"registry/sentiment/v1", "runs/sentiment-v1"} <= {t["id"] for t in targets}
        for i in range(12):
            r = httpx.post(s.url + "/v1/models/sentiment/predict", json={"texts": [f"the plot was good {i}"],
                                                                          "caller_id": f"user{i}"}, timeout=60)
            assert r.status_code == 200
        s.app.state.serve.requestlog.flush()
        reg = httpx.get(s.url + "/api/registry").json()
        assert reg["models"][0]["requests_24h"]["requests"] == 12
        (drift,) = httpx.get(s.url + "/api/monitor").json()["drift"]
        assert drift["model"] == "sentiment" and sum(x["overall"]["n"] for x in drift["versions"]) == 12
