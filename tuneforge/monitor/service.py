"""Monitoring inside the server: a background task that measures drift of every served version from the
request log, sets Prometheus gauges, and evaluates the alert rules; the same check on demand
(`POST /v1/admin/monitor/evaluate`) and the drift of one model (`GET /v1/monitor/{name}/drift`).

All of it reads the shared request log, so any replica can run it; each replica keeps its own cooldowns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress

from fastapi import HTTPException, Query
from prometheus_client import Counter, Gauge

from ..store.requestlog import window_stats
from .alerts import AlertConfig, Alerter, format_duration, load_rules, parse_duration
from .drift import WindowStats, load_reference, measure

log = logging.getLogger("tuneforge.monitor")


class ServerMonitor:
    def __init__(self, state, config: AlertConfig | None = None, interval_s: float = 60.0):
        self.state = state
        self.config = config or AlertConfig()
        self.interval_s = self.config.interval_s or interval_s  # 0: only on demand
        r = state.metrics.registry
        self.g_psi = Gauge("tuneforge_drift_psi", "PSI of served traffic against the training reference, over the "
                           "monitor window (measure: label = predicted labels, length = input characters)",
                           ["model", "version", "measure"], registry=r)
        self.g_conf = Gauge("tuneforge_drift_mean_confidence", "Mean confidence of served predictions over the "
                            "monitor window", ["model", "version"], registry=r)
        self.g_ref_conf = Gauge("tuneforge_reference_mean_confidence", "Mean confidence on the validation split "
                                "at training time", ["model", "version"], registry=r)
        self.g_texts = Gauge("tuneforge_drift_window_texts", "Texts in the monitor window", ["model", "version"], registry=r)
        self.c_fired = Counter("tuneforge_alerts_fired", "Alert rules fired", ["rule", "model"], registry=r)
        self.c_failed = Counter("tuneforge_alert_webhook_failures", "Alert webhooks that failed", ["rule"], registry=r)
        self.alerter = Alerter(self.config, on_fired=lambda rule, e: self.c_fired.labels(rule.name, e["model"]).inc(),
                               on_failed=lambda rule, why: self.c_failed.labels(rule.name).inc())
        self._refs: dict[tuple[str, int], dict | None] = {}  # a version's files never change: read once
        self._task: asyncio.Task | None = None

    # ------------------------------------------------------------------ measuring (blocking: run in a thread)
    def reference(self, name: str, version: int) -> dict | None:
        key = (name, version)
        if self._refs.get(key) is None:  # a missing one is looked for again: `tuneforge monitor reference` may add it
            self._refs[key] = load_reference(self.state.registry.get(name, version).path)
        return self._refs[key]

    def measures(self, targets: dict[str, set[int]], windows: set[float], now: float) -> dict:
        """drift.measure for every (model, version, window); one aggregate query per (model, window)."""
        out = {}
        for name, versions in targets.items():
            for w in windows:  # counts from SQL: memory stays flat however busy the window (WindowStats)
                stats = window_stats(self.state.registry.db, name, since=now - w)
                for v in versions:
                    out[(name, v, w)] = measure(stats.get(v, WindowStats()), self.reference(name, v),
                                                self.config.thresholds)
        return out

    def served(self) -> dict[str, set[int]]:
        return {n: r.versions() for n, r in self.state.routes.items()}

    def evaluate_now(self) -> dict:
        """Flush the request log, measure, set the gauges, evaluate the rules (firing what holds)."""
        if self.state.requestlog is not None:
            self.state.requestlog.flush()  # just-answered requests count
        now, gw = time.time(), self.config.window_s
        ms = self.measures(self.served(), self.config.windows() | {gw}, now)
        for (name, v, w), m in ms.items():
            if w == gw:
                self._set_gauges(name, v, m)
        alerts = self.alerter.evaluate({k: m for k, m in ms.items() if k[2] in self.config.windows()}, now)
        drift = [{"model": n, "version": v, "window": format_duration(w), **m} for (n, v, w), m in sorted(ms.items())
                 if w == gw]
        return {"evaluated_at": now, "alerts": alerts, "drift": drift}

    def _set_gauges(self, name: str, version: int, m: dict) -> None:
        v = str(version)
        self.g_texts.labels(name, v).set(m["n"])
        for measure_name, value in (("label", m["psi_label"]), ("length", m["psi_length"])):
            # NaN, not a stale number, when a window cannot be measured (no reference, no traffic)
            self.g_psi.labels(name, v, measure_name).set(float("nan") if value is None else value)
        self.g_conf.labels(name, v).set(float("nan") if m["mean_confidence"] is None else m["mean_confidence"])
        ref = m["reference_mean_confidence"]
        self.g_ref_conf.labels(name, v).set(float("nan") if ref is None else ref)

    # ------------------------------------------------------------------ the background task
    def start(self) -> None:
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await asyncio.to_thread(self.evaluate_now)
            except Exception:  # a database hiccup or a bad reference file: log, try again next time
                log.exception("monitor check failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def attach(app, state, admin, alerts_path: str | None, interval_s: float) -> ServerMonitor:
    """Create the server's monitor (reading --alerts now: a bad rules file fails before the port is
    bound) and add its routes."""
    mon = ServerMonitor(state, load_rules(alerts_path) if alerts_path else None, interval_s)

    @app.get("/v1/monitor/{name}/drift")
    async def drift(name: str, window: str = Query(None, description='e.g. "15m", "1h" (default: the rules file\'s window, else 1h)')):
        w = parse_duration(window, "window") if window is not None else mon.config.window_s
        if name not in state.routes:
            raise HTTPException(404, f"no model named {name!r} is being served; GET /v1/models lists what is")
        ms = await asyncio.to_thread(mon.measures, {name: state.routes[name].versions()}, {w}, time.time())
        return {"model": name, "window": format_duration(w),
                "versions": [{"version": v, **m} for (_, v, _), m in sorted(ms.items())]}

    @app.post("/v1/admin/monitor/evaluate", dependencies=[admin])
    async def evaluate():
        return await asyncio.to_thread(mon.evaluate_now)

    return mon
