"""The registry, the request log's drift and the sentiment monitor's trends, as the dashboard shows them.

Each function takes what it reads (a Registry, a database path) and returns plain JSON-ready dicts;
none of them writes anything but the request-log schema the serving code creates anyway.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import TuneforgeError

DRIFT_SINCE_S = 24 * 3600  # the drift page: the last day of the request log, in hourly windows
DRIFT_WINDOW_S = 3600.0


def registry_view(registry, routes: dict | None = None, loaded: set | None = None) -> dict:
    """Every name with its versions, stages and the live split. `routes` / `loaded` come from a running
    server (what it really serves); without them the split is what a server would take from the registry."""
    from ..serve.ab import route_for
    models = []
    by_name: dict[str, list] = {}
    for mv in registry.list():
        by_name.setdefault(mv.name, []).append(mv)
    for name, versions in by_name.items():
        route = routes.get(name) if routes is not None else route_for(registry, name)
        total = sum(w for _, w in route.weights) if route else 0.0
        split = {v: round(100.0 * w / total, 1) for v, w in route.weights} if total else {}
        traffic = registry.traffic(name)
        models.append({
            "name": name, "serving": route is not None, "shadow": route.shadow if route else None,
            "split_source": "traffic split" if traffic else ("production stage" if route else "not served"),
            "versions": [{"version": mv.version, "stage": mv.stage, "created": mv.created, "source": mv.source,
                          "metrics": mv.metrics.get("test", {}), "task": mv.metrics.get("task"),
                          "export": (mv.metrics.get("export") or {}).get("format"),
                          "traffic_percent": split.get(mv.version, 0.0),
                          "shadow": route is not None and route.shadow == mv.version,
                          "loaded": None if loaded is None else (name, mv.version) in loaded}
                         for mv in versions]})
    return {"root": str(registry.root), "models": models}


def ab_view(registry, name: str, since_s: float = DRIFT_SINCE_S) -> dict:
    """Requests per version over the last day from the request log (the `tuneforge ab report` numbers)."""
    from ..serve.ab import report
    return report(registry.db, name, since=time.time() - since_s)


def drift_view(registry, now: float | None = None) -> list[dict]:
    """The serve-side drift report (tuneforge monitor report) of every model with logged requests in the
    last day, per hour; models without traffic are left out."""
    from ..monitor.drift import Thresholds
    from ..monitor.report import monitor_report
    now = time.time() if now is None else now
    out = []
    for name in registry.names():
        rep = monitor_report(registry, name, now - DRIFT_SINCE_S, DRIFT_WINDOW_S, Thresholds(), now)
        if rep["versions"]:
            out.append(rep)
    return out


def monitor_trends(db_path: str | Path | None) -> dict:
    """The sentiment monitor's windows and alerts per topic, or why there are none: no database given,
    the file is missing, or the monitor application is not installed."""
    if not db_path:
        return {"available": False, "reason": "no monitor database given (--monitor-db, or $TUNEFORGE_MONITOR_DB "
                                              "for tuneforge serve)"}
    if not Path(db_path).is_file():
        return {"available": False, "reason": f"no monitor database at {db_path}"}
    try:
        from ..apps.monitor.store import load_trends  # the sentiment-monitor application (issue 7)
    except ImportError:
        return {"available": False, "reason": "no monitor database reader: the sentiment-monitor application "
                                              "(tuneforge.apps.monitor.store) is not installed"}
    try:
        trends = load_trends(db_path)
    except TuneforgeError:
        raise
    except Exception as e:  # a file that is not the monitor's database: say so, not a 500
        raise TuneforgeError(f"cannot read the monitor database: {e}", where=str(db_path),
                             fix="point --monitor-db at the database `tuneforge app monitor` writes") from None
    return {"available": True, "db": str(db_path), "windows": trends.get("windows", []),
            "alerts": trends.get("alerts", [])}
