"""Alert rules: validation of the rules file, cooldowns, and a real server fed traffic that shifts from
the training distribution to long Chinese text, firing a webhook on a real loopback receiver; a webhook
that is down is logged and counted while the server keeps answering."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tuneforge.cli import main
from tuneforge.errors import TuneforgeError
from tuneforge.monitor.alerts import AlertConfig, Alerter, Rule, load_rules, parse_duration
from tuneforge.serve.app import ServeOptions
from tuneforge.store.registry import Registry

from .conftest import ThreadServer, free_port, in_distribution, shifted

KEY = "monitor-test-key"


def write_rules(tmp_path, rules: dict):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    return path


@pytest.mark.parametrize("rules, where", [
    ({"rules": [{"metric": "psi_labels", "threshold": 0.2, "window": "1h"}]}, "rules[0].metric"),
    ({"rules": [{"metric": "psi_label", "threshold": 0.2, "window": "1h", "comparison": "=>"}]}, "rules[0].comparison"),
    ({"rules": [{"metric": "psi_label", "threshold": 0.2, "window": "an hour"}]}, "rules[0].window"),
    ({"rules": [{"metric": "psi_label", "threshold": "high", "window": "1h"}]}, "rules[0].threshold"),
    ({"rules": [{"metric": "psi_label", "window": "1h"}]}, "rules[0]"),
    ({"rules": [{"metric": "psi_label", "threshold": 0.2, "window": "1h", "cooldwn": "5m"}]}, "rules[0]"),
    ({"webhook": "alerts.internal/hook", "rules": []}, "webhook"),
    ({"psi_warn": 0.3, "psi_alert": 0.2, "rules": []}, "psi_warn"),
    ({"rule": []}, "rules.yaml"),
])
def test_bad_rules_name_the_key(tmp_path, rules, where):
    with pytest.raises(TuneforgeError) as e:
        load_rules(write_rules(tmp_path, rules))
    assert where in e.value.where and e.value.fix


def test_serve_refuses_a_bad_rules_file_before_binding(tmp_path, capsys):
    (tmp_path / "rules.yaml").write_text("rules: [metric: psi_label\n")  # broken YAML
    assert main(["serve", "--registry", str(tmp_path / "reg"), "--alerts", str(tmp_path / "rules.yaml"),
                 "--port", str(free_port())]) == 2
    assert "rules.yaml" in capsys.readouterr().err


def test_durations():
    assert parse_duration("90s", "x") == 90 and parse_duration("15m", "x") == 900 and parse_duration(7200, "x") == 7200
    with pytest.raises(TuneforgeError):
        parse_duration("-1h", "x")


def test_cooldown_and_min_requests(caplog):
    rule = Rule("low-conf", "mean_confidence", "<", 0.6, window_s=3600, cooldown_s=600, min_requests=5)
    alerter = Alerter(AlertConfig([rule]))  # no webhook: a log line only
    low = {("m", 1, 3600.0): {"n": 10, "mean_confidence": 0.55, "status": "ok"}}
    with caplog.at_level(logging.WARNING, logger="tuneforge.monitor"):
        assert alerter.evaluate(low, now=1000)[0]["fired"]
        again = alerter.evaluate(low, now=1300)[0]
        assert again["holds"] and again["cooling_down"] and not again["fired"]
        assert alerter.evaluate(low, now=1601)[0]["fired"]  # cooldown over, still low: tell again
    assert sum("ALERT low-conf" in r.getMessage() for r in caplog.records) == 2
    few = {("m", 1, 3600.0): {"n": 3, "mean_confidence": 0.1, "status": "ok"}}
    entry = alerter.evaluate(few, now=5000)[0]
    assert not entry["holds"] and "min_requests" in entry["reason"]
    assert alerter.evaluate({("m", 1, 60.0): low[("m", 1, 3600.0)]}, now=9000) == []  # another window: not this rule


def metric_values(url: str) -> dict:
    text = httpx.get(url + "/metrics", timeout=30).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def predict_all(url: str, texts: list[str]) -> None:
    for i in range(0, len(texts), 8):
        r = httpx.post(url + "/v1/models/sentiment/predict", json={"texts": texts[i:i + 8]}, timeout=60)
        assert r.status_code == 200, r.text


@pytest.fixture
def registry(monitored_run, tmp_path):
    reg = Registry(tmp_path / "registry")
    reg.add("sentiment", monitored_run, stage="production")
    return tmp_path / "registry"


def test_shift_fires_the_webhook_once_per_cooldown(registry, receiver, tmp_path, monkeypatch):
    rules = write_rules(tmp_path, {"webhook": receiver.url, "rules": [
        {"name": "length-shift", "metric": "psi_length", "comparison": ">=", "threshold": 0.25, "window": "1h",
         "cooldown": "1h", "min_requests": 20},
        {"name": "never", "metric": "mean_confidence", "comparison": "<", "threshold": 0.0, "window": "1h"}]})
    monkeypatch.setenv("TUNEFORGE_TEST_MONITOR_KEY", KEY)
    opts = ServeOptions(registry=str(registry), api_key_env="TUNEFORGE_TEST_MONITOR_KEY", alerts=str(rules),
                        monitor_s=0, poll_s=0, max_wait_ms=5)  # monitor_s=0: only on demand, so the test decides when
    with ThreadServer(opts) as s:
        def evaluate() -> dict:
            r = httpx.post(s.url + "/v1/admin/monitor/evaluate", headers={"X-API-Key": KEY}, timeout=60)
            assert r.status_code == 200, r.text
            return {a["rule"]: a for a in r.json()["alerts"]}

        assert httpx.post(s.url + "/v1/admin/monitor/evaluate", timeout=30).status_code == 401
        predict_all(s.url, in_distribution(40))
        calm = evaluate()
        assert calm["length-shift"]["value"] < 0.25 and not calm["length-shift"]["fired"] and receiver.bodies == []

        predict_all(s.url, shifted(80))  # the world moves: long Chinese reviews
        hot = evaluate()
        assert hot["length-shift"]["fired"] and hot["length-shift"]["value"] >= 0.25 and not hot["never"]["fired"]
        assert len(receiver.bodies) == 1
        body = receiver.bodies[0]
        assert body["content_type"] == "application/json" and body["alert"] == "length-shift"
        assert body["model"] == "sentiment" and body["version"] == 1 and body["n"] == 120
        assert body["value"] == hot["length-shift"]["value"] and body["threshold"] == 0.25
        assert body["window"] == "1h" and body["rule"]["comparison"] == ">=" and body["rule"]["webhook"] is None

        again = evaluate()["length-shift"]  # still drifted, but within the cooldown: no second POST
        assert again["holds"] and again["cooling_down"] and not again["fired"] and len(receiver.bodies) == 1

        m = metric_values(s.url)
        assert m[("tuneforge_drift_psi", (("measure", "length"), ("model", "sentiment"), ("version", "1")))] >= 0.25
        assert ("tuneforge_drift_psi", (("measure", "label"), ("model", "sentiment"), ("version", "1"))) in m
        assert 0 < m[("tuneforge_drift_mean_confidence", (("model", "sentiment"), ("version", "1")))] <= 1
        assert m[("tuneforge_alerts_fired_total", (("model", "sentiment"), ("rule", "length-shift")))] == 1

        drift = httpx.get(s.url + "/v1/monitor/sentiment/drift", params={"window": "1h"}, timeout=30).json()
        assert drift["versions"][0]["version"] == 1 and drift["versions"][0]["psi_length"] >= 0.25
        assert httpx.get(s.url + "/v1/monitor/sentiment/drift", params={"window": "soon"}).status_code == 422
        assert httpx.get(s.url + "/v1/monitor/nosuch/drift").status_code == 404


def test_periodic_check_survives_a_dead_webhook(registry, receiver, tmp_path, caplog):
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    rules = write_rules(tmp_path, {"interval": 0.3, "webhook": dead, "rules": [
        {"name": "to-dead", "metric": "requests", "comparison": ">=", "threshold": 1, "window": "1h", "cooldown": "1h"},
        {"name": "to-live", "metric": "psi_length", "comparison": ">", "threshold": 0.25, "window": "1h",
         "cooldown": "1h", "min_requests": 10, "webhook": receiver.url}]})
    with caplog.at_level(logging.ERROR, logger="tuneforge.monitor"), \
            ThreadServer(ServeOptions(registry=str(registry), alerts=str(rules), poll_s=0, max_wait_ms=5)) as s:
        predict_all(s.url, shifted(24))
        deadline = time.time() + 120
        while time.time() < deadline and not (receiver.bodies and
                                              metric_values(s.url).get(("tuneforge_alert_webhook_failures_total",
                                                                        (("rule", "to-dead"),)))):
            time.sleep(0.2)
        assert [b["alert"] for b in receiver.bodies] == ["to-live"]  # fired by the background task alone
        assert metric_values(s.url)[("tuneforge_alert_webhook_failures_total", (("rule", "to-dead"),))] == 1
        predict_all(s.url, in_distribution(8))  # the server still answers
        assert httpx.get(s.url + "/healthz").json() == {"status": "ok"}
    failures = [r.getMessage() for r in caplog.records if "webhook at" in r.getMessage()]
    assert failures and "to-dead" in failures[0] and "/hook" not in failures[0]  # host only: paths carry tokens
