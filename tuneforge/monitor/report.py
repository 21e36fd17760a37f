"""`tuneforge monitor report`: drift of a model's served traffic per version and time window, from the
request log, as a table (text + JSON) and three PNGs (label share and confidence over time, input
lengths against the reference)."""

from __future__ import annotations

import json
import math
import re
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from ..errors import TuneforgeError
from ..store.registry import NotFound, Registry
from ..store.requestlog import ensure_schema, read_rows
from .alerts import format_duration, parse_duration
from .drift import Thresholds, bin_labels, load_reference, measure

MAX_WINDOWS = 2000  # rows of the table per version: a finer --window over a long --since is a mistake


def parse_since(value: str | None, now: float) -> float | None:
    """"24h" / "7d" (ago), an ISO date or date-time (UTC unless it says otherwise), or epoch seconds."""
    if value is None:
        return None
    v = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?\s*[smhd]", v):
        return now - parse_duration(v, "--since")
    if re.fullmatch(r"\d{9,}(\.\d+)?", v):
        return float(v)
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise TuneforgeError(f"--since {value!r} is neither a duration nor a date", where="--since",
                             fix='write e.g. --since 24h, --since 7d, --since 2026-11-20 or --since 2026-11-20T08:00') from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def monitor_report(registry: Registry, name: str, since: float | None = None, window_s: float = 3600.0,
                   thresholds: Thresholds = Thresholds(), now: float | None = None) -> dict:
    """Per version of `name` seen in the request log since `since`: the drift measures over the whole
    period and per window of `window_s` (windows aligned to UTC multiples of it; empty ones left out)."""
    now = time.time() if now is None else now
    ensure_schema(registry.db)
    rows = read_rows(registry.db, name, since)
    if not rows and not registry.list(name):
        raise NotFound(f"no model named {name!r} in the registry and no requests for it in the log",
                       where=f"registry {registry.root}", fix="`tuneforge registry list` shows the names")
    start = since if since is not None else (rows[0].ts if rows else now)
    t0 = math.floor(start / window_s) * window_s
    end = rows[-1].ts if rows else now  # rows come ordered by ts; windows after the last row would be empty
    if (end - t0) / window_s > MAX_WINDOWS:
        raise TuneforgeError(f"{(end - t0) / window_s:.0f} windows of {format_duration(window_s)} per version",
                             where="--window", fix=f"use a larger --window or a later --since (at most {MAX_WINDOWS})")
    by_version: dict[int, list] = defaultdict(list)
    for r in rows:
        by_version[r.version].append(r)
    versions = []
    for v in sorted(by_version):
        try:
            ref = load_reference(registry.get(name, v).path)
        except NotFound:  # a version removed from the registry still has its log rows
            ref = None
        buckets: dict[int, list] = defaultdict(list)
        for r in by_version[v]:
            buckets[int((r.ts - t0) // window_s)].append(r)
        windows = [{"start": _iso(t0 + i * window_s), "start_ts": t0 + i * window_s,
                    **measure(rs, ref, thresholds)} for i, rs in sorted(buckets.items())]
        versions.append({"version": v, "roles": sorted({"shadow" if r.shadow else "primary" for r in by_version[v]}),
                         "reference": None if ref is None else {k: ref[k] for k in ("split", "n", "labels", "mean_confidence", "length", "created")},
                         "overall": measure(by_version[v], ref, thresholds), "windows": windows})
    return {"model": name, "since": _iso(start), "until": _iso(now), "window": format_duration(window_s),
            "window_s": window_s, "thresholds": {"warn": thresholds.warn, "alert": thresholds.alert},
            "texts": len(rows), "versions": versions}


def _f(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def format_report(rep: dict) -> str:
    lines = [f"Drift report for {rep['model']}: {rep['texts']} logged texts from {rep['since']} to {rep['until']}, "
             f"windows of {rep['window']}; PSI warn >= {rep['thresholds']['warn']}, alert >= {rep['thresholds']['alert']}"]
    if not rep["versions"]:
        return lines[0] + "\nno requests logged in that period"
    head = f"{'version':<9}{'window start (UTC)':<22}{'n':>7}{'PSI label':>11}{'PSI length':>12}{'mean conf':>11}{'Δconf':>9}  status"
    for x in rep["versions"]:
        ref = x["reference"]
        lines += ["", f"v{x['version']} ({'/'.join(x['roles'])}): " + (
            f"reference from {ref['split']} ({ref['n']} texts), mean confidence {_f(ref['mean_confidence'], '.4f')}"
            if ref else "no reference (trained before reference.json; `tuneforge monitor reference RUN` adds one)"), head]
        for w in x["windows"] + [dict(x["overall"], start="all")]:
            lines.append(f"v{x['version']:<8}{w['start']:<22}{w['n']:>7}{_f(w['psi_label'], '.4f'):>11}"
                         f"{_f(w['psi_length'], '.4f'):>12}{_f(w['mean_confidence'], '.4f'):>11}"
                         f"{_f(w['confidence_delta'], '+.4f'):>9}  {w['status']}")
    return "\n".join(lines)


def write_report(rep: dict, out: str | Path) -> list[Path]:
    """report.json, report.txt and the PNGs into `out`; returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(rep, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "report.txt").write_text(format_report(rep) + "\n", encoding="utf-8")
    return [out / "report.json", out / "report.txt", *_plots(rep, out)]


def _plots(rep: dict, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt
    import numpy as np

    files = []
    when = lambda ws: [datetime.fromtimestamp(w["start_ts"], timezone.utc) for w in ws]  # noqa: E731

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for x in rep["versions"]:
        total = defaultdict(float)
        for w in x["windows"]:
            for lab, s in w["label_share"].items():
                total[lab] += s * w["n"]
        for lab in sorted(total, key=total.get, reverse=True)[:8]:  # the 8 commonest: NER label sets can be many
            ax.plot(when(x["windows"]), [w["label_share"].get(lab, 0.0) for w in x["windows"]], marker="o", ms=3,
                    label=f"v{x['version']} {lab}")
            if x["reference"] and lab in x["reference"]["labels"]:
                ax.axhline(x["reference"]["labels"][lab], ls=":", lw=1, color=ax.lines[-1].get_color())
    ax.set(title=f"{rep['model']}: predicted-label share per {rep['window']} (dotted: reference)", ylabel="share",
           ylim=(0, 1.02))
    _finish(fig, ax, out / "label_share.png", files)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for x in rep["versions"]:
        ax.plot(when(x["windows"]), [np.nan if w["mean_confidence"] is None else w["mean_confidence"]
                                     for w in x["windows"]], marker="o", ms=3, label=f"v{x['version']}")
        if x["reference"] and x["reference"]["mean_confidence"] is not None:
            ax.axhline(x["reference"]["mean_confidence"], ls=":", lw=1, color=ax.lines[-1].get_color())
    ax.set(title=f"{rep['model']}: mean confidence per {rep['window']} (dotted: validation)", ylabel="mean confidence")
    _finish(fig, ax, out / "confidence.png", files)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    with_ref = [x for x in rep["versions"] if x["reference"]]
    if with_ref:  # bars over the reference's own bins: what PSI compares
        bins = bin_labels(with_ref[-1]["reference"]["length"]["edges"])
        series = [("reference", with_ref[-1]["reference"]["length"]["shares"])]
        series += [(f"v{x['version']} served", x["overall"]["length_share"] or {}) for x in with_ref]
        width = 0.8 / len(series)
        for i, (lab, sh) in enumerate(series):
            ax.bar(np.arange(len(bins)) + i * width, [sh.get(b, 0.0) for b in bins], width, label=lab)
        ax.set_xticks(np.arange(len(bins)) + 0.4 - width / 2, bins, rotation=45, ha="right")
        ax.set(title=f"{rep['model']}: input length (characters) against the reference", ylabel="share")
    else:
        ax.set_title(f"{rep['model']}: no reference to compare input lengths with")
    _finish(fig, ax, out / "lengths.png", files, dates=False)
    return files


def _finish(fig, ax, path: Path, files: list, dates: bool = True) -> None:
    import matplotlib.pyplot as plt
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    if dates:
        fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    files.append(path)
