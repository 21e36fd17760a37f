"""HTTP ingest on a real loopback server with a real tiny sentiment run: a surge posted in batches raises an
alert that a real local webhook receiver gets, with example texts; malformed requests get a 4xx."""

from __future__ import annotations

import logging

import httpx

from tuneforge.apps.monitor.alerting import Deliverer
from tuneforge.apps.monitor.classify import run_classifier
from tuneforge.apps.monitor.detect import DetectorOptions
from tuneforge.apps.monitor.pipeline import Monitor
from tuneforge.apps.monitor.server import create_app

from .conftest import AppServer, Receiver, stream


def test_http_ingest_raises_an_alert_the_webhook_receives(tmp_path, sentiment_run):
    classify, negative = run_classifier(str(sentiment_run))
    assert negative == ["neg"]  # found by name among the run's labels
    items = stream(40, per_hour=25, surges=[("app", 36, 40, 0.9)], seed=7)
    for x in items:
        x.pop("label")  # the run decides, not the data
    with Receiver() as hook:
        mon = Monitor(tmp_path / "m.db", classify, detector=DetectorOptions(min_count=20), deliver=Deliverer(hook.url))
        with AppServer(create_app(mon, max_items=500)) as srv, httpx.Client(base_url=srv.url, timeout=120) as c:
            alerts = []
            for i in range(0, len(items), 400):
                r = c.post("/v1/ingest", json=items[i:i + 400])
                assert r.status_code == 200, r.text
                alerts += r.json()["alerts"]
            assert [a["topic"] for a in alerts] == ["app"] and alerts[0]["at"] >= "2026-03-02T12:00:00Z"
            assert len(hook.bodies) == 1
            body = hook.bodies[0]
            assert body["path"] == "/hook" and body["content_type"] == "application/json"
            assert body["alert"] == "negative-surge" and body["topic"] == "app"
            assert body["negative_share"] > body["baseline"] + 0.3
            assert body["examples"] and all(t.startswith("the app was ") for t in body["examples"])
            trends = c.get("/v1/trends").json()
            assert sum(w["total"] for w in trends["windows"]) == len(items)
            assert trends["alerts"][0]["examples"] == body["examples"]

            r = c.post("/v1/ingest", json=[{"time": "2026-03-02T00:00:00Z", "text": "ok"}, {"time": "2026-03-02"}])
            assert r.status_code == 422 and "request item 1" in r.json()["detail"]
            r = c.post("/v1/ingest", json=[{"time": "noon", "text": "x"}])
            assert r.status_code == 422 and "ISO-8601" in r.json()["detail"]
            r = c.post("/v1/ingest", content=b"{not json", headers={"Content-Type": "application/json"})
            assert r.status_code == 400
            r = c.post("/v1/ingest", json={"texts": ["x"]})
            assert r.status_code == 422
            r = c.post("/v1/ingest", json=[{"time": 1772323200, "text": "x"}] * 501)
            assert r.status_code == 413
            assert sum(w["total"] for w in c.get("/v1/trends").json()["windows"]) == len(items)  # nothing counted


def test_webhook_down_is_logged_not_raised(caplog):
    alert = {"topic": "app", "at": "2026-03-02T12:00:00Z", "negative_share": 0.9, "baseline": 0.3, "negative": 9,
             "total": 10, "method": "ewma", "score": 5.0, "examples": ["the app was awful"]}
    d = Deliverer("http://127.0.0.1:9/secret-token/hook")  # port 9 (discard): nothing listens
    with caplog.at_level(logging.WARNING, logger="tuneforge.apps.monitor"):
        assert d(alert) is False
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "ALERT negative surge: topic app" in text and "the app was awful" in text
    assert "127.0.0.1:9" in text and "secret-token" not in text and d.failed == 1
