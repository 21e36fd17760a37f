"""Alert rules: a YAML file (`tuneforge serve --alerts rules.yaml`) of conditions on the drift measures;
a rule that holds writes a log line and POSTs JSON to a webhook, then keeps quiet for its cooldown.

    webhook: http://alerts.internal:9000/tuneforge     # default for every rule
    interval: 1m                                       # how often the server evaluates (default: --monitor-s)
    window: 1h                                         # window of the /metrics gauges and GET /v1/monitor
    psi_warn: 0.1                                      # status thresholds of reports and /v1/monitor
    psi_alert: 0.25
    rules:
      - name: label-shift
        metric: psi_label        # psi_label | psi_length | mean_confidence | confidence_delta | requests
        comparison: ">="         # > | >= | < | <=
        threshold: 0.25
        window: 1h               # request-log rows of the last hour, per served version
        cooldown: 30m            # after firing, silent this long for the same model version
        model: sentiment         # optional: only this model (default: every served model)
        min_requests: 50         # optional: fewer texts in the window and the rule is not evaluated

A webhook that is down or slow is logged and counted, never raised: an alert must not take the server down.
"""

from __future__ import annotations

import json
import logging
import math
import operator
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from ..errors import TuneforgeError
from .drift import Thresholds

log = logging.getLogger("tuneforge.monitor")

METRICS = ("psi_label", "psi_length", "mean_confidence", "confidence_delta", "requests")
COMPARISONS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
RULE_KEYS = {"name", "metric", "comparison", "threshold", "window", "cooldown", "model", "min_requests", "webhook"}
TOP_KEYS = {"webhook", "interval", "window", "psi_warn", "psi_alert", "rules"}
WEBHOOK_TIMEOUT_S = 5.0
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value, where: str) -> float:
    """Seconds from 90, "90s", "15m", "1h" or "7d"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf:
        return float(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(value))
    if not m or not 0 < float(m.group(1)) < math.inf:  # "1e400"-long digit strings overflow to inf
        raise TuneforgeError(f"{value!r} is not a duration", where=where, fix='write seconds or e.g. "30s", "15m", "1h", "7d"')
    return float(m.group(1)) * UNITS[m.group(2)]


def format_duration(s: float) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n and s % n == 0:
            return f"{int(s // n)}{unit}"
    return f"{s:g}s"


@dataclass
class Rule:
    name: str
    metric: str
    comparison: str
    threshold: float
    window_s: float
    cooldown_s: float = 1800.0
    model: str | None = None
    min_requests: int = 30
    webhook: str | None = None

    def holds(self, value: float | None) -> bool:
        return value is not None and COMPARISONS[self.comparison](value, self.threshold)


@dataclass
class AlertConfig:
    rules: list[Rule] = field(default_factory=list)
    webhook: str | None = None
    interval_s: float | None = None
    window_s: float = 3600.0
    thresholds: Thresholds = Thresholds()

    def windows(self) -> set[float]:
        return {r.window_s for r in self.rules}


def _check_url(url, where: str) -> str:
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
        raise TuneforgeError(f"webhook {url!r} is not an http(s) URL", where=where,
                             fix="write e.g. webhook: http://alerts.internal:9000/hook")
    return url


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TuneforgeError(f"{value!r} is not a number", where=where, fix="write a number, e.g. 0.25")
    return float(value)


def load_rules(path: str | Path) -> AlertConfig:
    """Read and validate a rules file; every mistake names the file and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise TuneforgeError(f"cannot read the alert rules: {e.strerror}", where=str(path),
                             fix="pass an existing YAML file to --alerts") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise TuneforgeError(f"not valid YAML: {getattr(e, 'problem', e)}",
                             where=f"{path}:{mark.line + 1}" if mark else str(path), fix="fix the YAML syntax") from None
    if not isinstance(raw, dict):
        raise TuneforgeError("the alert rules file must be a mapping with a `rules:` list", where=str(path),
                             fix="see `tuneforge serve --help` / README: webhook, interval, rules")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise TuneforgeError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}", where=str(path),
                             fix=f"use only {', '.join(sorted(TOP_KEYS))}")
    webhook = _check_url(raw["webhook"], f"{path}:webhook") if raw.get("webhook") is not None else None
    interval = parse_duration(raw["interval"], f"{path}:interval") if raw.get("interval") is not None else None
    window = parse_duration(raw["window"], f"{path}:window") if raw.get("window") is not None else 3600.0
    th = Thresholds(_number(raw.get("psi_warn", 0.1), f"{path}:psi_warn"),
                    _number(raw.get("psi_alert", 0.25), f"{path}:psi_alert"))
    if not 0 <= th.warn <= th.alert:
        raise TuneforgeError(f"psi_warn {th.warn} must be between 0 and psi_alert {th.alert}", where=f"{path}:psi_warn",
                             fix="the conventional levels are 0.1 and 0.25")
    items = raw.get("rules") or []
    if not isinstance(items, list):
        raise TuneforgeError("`rules` must be a list", where=f"{path}:rules", fix="write `rules:` then `- metric: ...` items")
    rules, names = [], set()
    for i, item in enumerate(items):
        at = f"{path}:rules[{i}]"
        if not isinstance(item, dict):
            raise TuneforgeError("a rule must be a mapping", where=at, fix="write metric, comparison, threshold, window")
        unknown = set(item) - RULE_KEYS
        if unknown:
            raise TuneforgeError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}", where=at,
                                 fix=f"use only {', '.join(sorted(RULE_KEYS))}")
        for key in ("metric", "threshold", "window"):
            if key not in item:
                raise TuneforgeError(f"the rule has no `{key}`", where=at, fix=f"add `{key}:`")
        if item["metric"] not in METRICS:
            raise TuneforgeError(f"unknown metric {item['metric']!r}", where=f"{at}.metric", fix=f"use one of {', '.join(METRICS)}")
        comparison = str(item.get("comparison", ">="))
        if comparison not in COMPARISONS:
            raise TuneforgeError(f"unknown comparison {comparison!r}", where=f"{at}.comparison",
                                 fix=f"use one of {' '.join(COMPARISONS)} (quote it in YAML: \">=\")")
        threshold = _number(item["threshold"], f"{at}.threshold")
        rule_hook = _check_url(item["webhook"], f"{at}.webhook") if item.get("webhook") is not None else None
        min_req = item.get("min_requests", 30)
        if isinstance(min_req, bool) or not isinstance(min_req, int) or min_req < 1:
            raise TuneforgeError(f"min_requests {min_req!r} must be a whole number >= 1", where=f"{at}.min_requests",
                                 fix="e.g. min_requests: 50")
        name = str(item.get("name") or f"{item['metric']}{comparison}{threshold:g}")
        if name in names:
            raise TuneforgeError(f"two rules are named {name!r}", where=f"{at}.name", fix="give each rule its own name")
        names.add(name)
        rules.append(Rule(name, item["metric"], comparison, threshold, parse_duration(item["window"], f"{at}.window"),
                          parse_duration(item.get("cooldown", "30m"), f"{at}.cooldown"),
                          str(item["model"]) if item.get("model") is not None else None, min_req, rule_hook))
        if rules[-1].webhook is None and webhook is None:
            log.warning("alert rule %s has no webhook: it fires as a log line only", name)
    return AlertConfig(rules, webhook, interval, window, th)


def post_json(url: str, body: dict, timeout: float = WEBHOOK_TIMEOUT_S) -> str | None:
    """POST body as JSON; None on a 2xx answer, else why it failed (never raises)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "tuneforge-alerts"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            return None
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:  # refused, timed out, DNS, malformed URL
        return str(getattr(e, "reason", e))


class Alerter:
    """Evaluates the rules against drift measures and delivers what fires. Thread-safe: the periodic
    check and an on-demand one may overlap, and a cooldown must hold across both."""

    def __init__(self, config: AlertConfig, on_fired=None, on_failed=None):
        self.config = config
        self.on_fired, self.on_failed = on_fired, on_failed  # metric hooks: (rule, event) / (rule, reason)
        self._last: dict[tuple[str, str, int], float] = {}  # (rule, model, version) -> when it last fired
        self._lock = threading.Lock()

    def evaluate(self, measures: dict[tuple[str, int, float], dict], now: float | None = None) -> list[dict]:
        """`measures[(model, version, window_s)]` = drift.measure(...) of that window. Returns one entry
        per (rule, model version) evaluated: value, whether it holds, and whether it fired now."""
        now = time.time() if now is None else now
        out, to_send = [], []
        with self._lock:
            for rule in self.config.rules:
                for (model, version, window_s), m in sorted(measures.items()):
                    if window_s != rule.window_s or (rule.model is not None and rule.model != model):
                        continue
                    value = m["n"] if rule.metric == "requests" else m.get(rule.metric)
                    enough = rule.metric == "requests" or m["n"] >= rule.min_requests
                    holds = enough and rule.holds(value)
                    key = (rule.name, model, version)
                    cooling = holds and now - self._last.get(key, -math.inf) < rule.cooldown_s
                    fired = holds and not cooling
                    entry = {"rule": rule.name, "model": model, "version": version, "metric": rule.metric,
                             "value": value, "comparison": rule.comparison, "threshold": rule.threshold,
                             "window_s": rule.window_s, "window": format_duration(rule.window_s), "n": m["n"],
                             "status": m.get("status"), "holds": holds, "fired": fired, "cooling_down": cooling,
                             "reason": None if enough else f"{m['n']} texts < min_requests {rule.min_requests}"}
                    if fired:
                        self._last[key] = now
                        to_send.append((rule, entry))
                    out.append(entry)
        for rule, entry in to_send:  # outside the lock: a slow webhook must not stall the other evaluator
            self._deliver(rule, entry, now)
        return out

    def _deliver(self, rule: Rule, entry: dict, now: float) -> None:
        log.warning("ALERT %s: %s v%s %s = %s %s %g over the last %s (%d texts)", rule.name, entry["model"],
                    entry["version"], rule.metric, entry["value"], rule.comparison, rule.threshold, entry["window"],
                    entry["n"])
        if self.on_fired:
            self.on_fired(rule, entry)
        url = rule.webhook or self.config.webhook
        entry["delivered"] = None
        if url is None:
            return
        body = {"alert": rule.name, "rule": asdict(rule) | {"webhook": None}, "metric": rule.metric,
                "value": entry["value"], "threshold": rule.threshold, "comparison": rule.comparison,
                "window": entry["window"], "window_s": rule.window_s, "model": entry["model"],
                "version": entry["version"], "n": entry["n"], "status": entry["status"],
                "fired_at": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds")}
        why = post_json(url, body)
        entry["delivered"] = why is None
        if why is not None:
            # only the host: a webhook URL often carries a token in its path
            log.error("alert %s: webhook at %s failed (%s); the alert is in this log only", rule.name,
                      urllib.parse.urlsplit(url).netloc, why)
            if self.on_failed:
                self.on_failed(rule, why)
