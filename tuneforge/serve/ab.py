"""A/B splits and shadow traffic: which version answers a request, and how the versions compared.

A caller id is hashed with sha256 (not Python's per-process salted `hash`), so the same caller reaches
the same version on every replica and after every restart; without a caller id the bucket is random.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from ..store.db import Database
from ..store.registry import Registry
from ..store.requestlog import ensure_schema, read_rows

BUCKETS = 10_000


def bucket(name: str, caller_id: str) -> int:
    digest = hashlib.sha256(f"{name}\x00{caller_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass(frozen=True)
class Route:
    name: str
    weights: tuple[tuple[int, float], ...]  # (version, weight), version order; weights > 0 only
    shadow: int | None = None

    @classmethod
    def make(cls, name: str, weights: dict[int, float], shadow: int | None = None) -> "Route":
        return cls(name, tuple((int(v), float(w)) for v, w in sorted(weights.items()) if w > 0), shadow)

    def versions(self) -> set[int]:
        return {v for v, _ in self.weights} | ({self.shadow} if self.shadow is not None else set())

    def choose(self, caller_id: str | None = None, rng: random.Random | None = None) -> int:
        b = bucket(self.name, caller_id) if caller_id is not None else (rng or random).randrange(BUCKETS)
        total = sum(w for _, w in self.weights)
        # Buckets are laid out in version order, so raising v2 from 10% to 20% moves only callers that
        # were on v1 and keeps every caller already on v2 there.
        edge = 0.0
        for v, w in self.weights:
            edge += w / total * BUCKETS
            if b < edge:
                return v
        return self.weights[-1][0]


def route_for(registry: Registry, name: str) -> Route | None:
    """The split if one is set, else all traffic to the production version; None if neither exists."""
    t = registry.traffic(name)
    if t is not None:
        return Route.make(name, t.weights, t.shadow)
    prod = registry.production(name)
    return Route.make(name, {prod.version: 1.0}) if prod else None


# ------------------------------------------------------------------------------------------ report

def _stats(rows) -> dict:
    lat = np.array([r.latency_ms for r in rows], dtype=float)
    conf = [r.confidence for r in rows if r.confidence is not None]
    labels = Counter(r.label for r in rows)
    return {"n": len(rows), "mean_confidence": round(float(np.mean(conf)), 4) if conf else None,
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "label_share": {k: round(c / len(rows), 4) for k, c in labels.most_common()}}


def report(db: Database, name: str, since: float | None = None) -> dict:
    """Per version: traffic, mean confidence, latency; agreement of each shadow with the primary on the
    very same requests, and of A/B versions with the baseline on inputs both happened to see."""
    ensure_schema(db)
    rows = read_rows(db, name, since)
    groups: dict[tuple[int, int], list] = defaultdict(list)
    for r in rows:
        groups[(r.version, r.shadow)].append(r)
    versions = [{"version": v, "role": "shadow" if s else "primary", **_stats(rs)}
                for (v, s), rs in sorted(groups.items())]
    primary = [x for x in versions if x["role"] == "primary"]
    baseline = max(primary, key=lambda x: x["n"])["version"] if primary else None
    base = next((x for x in primary if x["version"] == baseline), None)
    for x in versions:
        if base is not None and x is not base:
            x["delta_vs_baseline"] = {
                "mean_confidence": None if x["mean_confidence"] is None or base["mean_confidence"] is None
                else round(x["mean_confidence"] - base["mean_confidence"], 4),
                "p50_ms": round(x["p50_ms"] - base["p50_ms"], 2), "p99_ms": round(x["p99_ms"] - base["p99_ms"], 2)}

    by_request = {r.request_id: r for r in rows if not r.shadow}
    pairs: dict[tuple[int, int], list[bool]] = defaultdict(list)
    for r in rows:
        if r.shadow and r.request_id in by_request:
            p = by_request[r.request_id]
            pairs[(p.version, r.version)].append(p.label == r.label)
    shadow_agreement = [{"primary": p, "shadow": s, "n": len(a), "agreement": round(sum(a) / len(a), 4)}
                        for (p, s), a in sorted(pairs.items())]

    last_label: dict[int, dict[str, str]] = defaultdict(dict)  # version -> input hash -> latest label
    for r in rows:
        if not r.shadow:
            last_label[r.version][r.input_sha256] = r.label
    ab_agreement = []
    for v in sorted(last_label):
        if baseline is None or v == baseline:
            continue
        common = last_label[v].keys() & last_label[baseline].keys()
        if common:
            same = sum(last_label[v][h] == last_label[baseline][h] for h in common)
            ab_agreement.append({"baseline": baseline, "version": v, "common_inputs": len(common),
                                 "agreement": round(same / len(common), 4)})
    return {"name": name, "requests": len(rows), "baseline": baseline, "versions": versions,
            "shadow_agreement": shadow_agreement, "ab_agreement": ab_agreement}


def format_report(rep: dict) -> str:
    if not rep["requests"]:
        return f"{rep['name']}: no requests logged yet"
    lines = [f"A/B report for {rep['name']}: {rep['requests']} logged texts; baseline = v{rep['baseline']}",
             f"{'version':<9}{'role':<9}{'n':>8}{'mean conf':>11}{'p50 ms':>9}{'p99 ms':>9}   "
             f"{'Δconf':>8}{'Δp50':>8}{'Δp99':>8}"]
    for x in rep["versions"]:
        d = x.get("delta_vs_baseline")
        conf = "-" if x["mean_confidence"] is None else f"{x['mean_confidence']:.4f}"
        dc = "" if not d else ("-" if d["mean_confidence"] is None else f"{d['mean_confidence']:+.4f}")
        lines.append(f"v{x['version']:<8}{x['role']:<9}{x['n']:>8}{conf:>11}{x['p50_ms']:>9.2f}{x['p99_ms']:>9.2f}   "
                     + (f"{dc:>8}{d['p50_ms']:>+8.2f}{d['p99_ms']:>+8.2f}" if d else ""))
    for a in rep["shadow_agreement"]:
        lines.append(f"shadow v{a['shadow']} agrees with primary v{a['primary']} on {a['agreement']:.2%} "
                     f"of {a['n']} identical requests")
    for a in rep["ab_agreement"]:
        lines.append(f"v{a['version']} agrees with v{a['baseline']} on {a['agreement']:.2%} "
                     f"of {a['common_inputs']} inputs both served")
    return "\n".join(lines)
