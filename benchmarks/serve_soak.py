"""Soak test of `tuneforge serve`: minutes of steady traffic at moderate concurrency; zero errors required
and memory must stay flat.

One `tuneforge serve` process on a free loopback port serves the run (or an export of it, --format);
--concurrency closed-loop callers send one text of the run's test split per request for --minutes. The
server's RSS (its whole process tree) is sampled every --sample-s seconds. Reported: requests, errors,
throughput, p50/p99, RSS at start (after warm-up) / end / max, and the least-squares slope of RSS over the
second half of the run in MB per hour (the first half includes allocator warm-up: caches, arenas).

Bounded: loopback only; stops by itself after --minutes (and at most --max-requests requests).

    .venv/bin/python benchmarks/serve_soak.py --minutes 0.5                  # smoke
    nice -n 5 .venv/bin/python benchmarks/serve_soak.py --minutes 10         # the soak

Results: benchmarks/results/serve-soak.json and serve-soak.png (RSS over time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import (HOST, RESULTS, ROOT, Server, exit_on_sigterm, free_port, load_texts, pct,  # noqa: E402
                        prepare_export, registry_with)


def rss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def slope_mb_per_hour(samples: list[tuple[float, float]]) -> float | None:
    if len(samples) < 3:
        return None
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mr = sum(r for _, r in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    return round(sum((t - mt) * (r - mr) for t, r in samples) / var * 3600, 2) if var else None


async def soak(url: str, texts: list[str], concurrency: int, seconds: float, max_requests: int,
               proc: psutil.Process, sample_s: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    samples: list[tuple[float, float]] = []
    sent = 0
    t0 = time.perf_counter()
    stop_at = t0 + seconds
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency), timeout=60) as client:

        async def caller() -> None:
            nonlocal sent
            while sent < max_requests and time.perf_counter() < stop_at:
                text = texts[sent % len(texts)]
                sent += 1
                t = time.perf_counter()
                try:
                    r = await client.post(url, json={"texts": [text]})
                    if r.status_code == 200:
                        latencies.append((time.perf_counter() - t) * 1000)
                    else:
                        errors.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as e:
                    errors.append(f"{type(e).__name__}: {e}")

        async def sampler() -> None:
            while time.perf_counter() < stop_at and sent < max_requests:
                samples.append((round(time.perf_counter() - t0, 2), round(await asyncio.to_thread(rss_mb, proc), 1)))
                await asyncio.sleep(sample_s)

        await asyncio.gather(sampler(), *(caller() for _ in range(concurrency)))
    samples.append((round(time.perf_counter() - t0, 2), round(rss_mb(proc), 1)))
    return {"latencies": latencies, "errors": errors, "samples": samples, "wall_s": time.perf_counter() - t0}


def plot(samples: list[tuple[float, float]], out: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot([t / 60 for t, _ in samples], [r for _, r in samples], marker=".", linewidth=1)
    ax.set_xlabel("minutes")
    ax.set_ylabel("server RSS (MB)")
    ax.set_ylim(0, max(r for _, r in samples) * 1.15)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> int:
    exit_on_sigterm()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default=str(ROOT / "bench_runs" / "polarity-full-minilm"))
    p.add_argument("--format", default="onnx-int8", help="serve this export of the run; 'none': the run itself")
    p.add_argument("--work", default="/tmp/tuneforge-serve-load")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--max-requests", type=int, default=2_000_000)
    p.add_argument("--sample-s", type=float, default=5.0)
    p.add_argument("--out", default=str(RESULTS / "serve-soak.json"))
    a = p.parse_args()
    run, work = Path(a.run).resolve(), Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    source = run if a.format == "none" else prepare_export(run, a.format, work)
    reg = registry_with(source, work / "registry-soak")
    server = Server("soak", [sys.executable, "-m", "tuneforge.cli", "serve", "--registry", str(reg), "--host", HOST,
                             "--port", str(free_port()), "--poll-s", "2", "--log-level", "warning"], work / "soak.log")
    try:
        server.wait_ready()
        url = server.url + "/v1/models/sentiment/predict"
        texts = load_texts(run)
        proc = psutil.Process(server.proc.pid)
        asyncio.run(soak(url, texts, a.concurrency, 10, 500, proc, 5))  # warm-up, not counted
        res = asyncio.run(soak(url, texts, a.concurrency, a.minutes * 60, a.max_requests, proc, a.sample_s))
        still_ready = httpx.get(server.url + "/readyz", timeout=30).status_code == 200
    finally:
        server.stop()
    samples, lat = res["samples"], res["latencies"]
    rss = [r for _, r in samples]
    half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    out = {
        "run": str(run), "served": a.format, "minutes": a.minutes, "concurrency": a.concurrency,
        "requests_ok": len(lat), "errors": len(res["errors"]), "first_errors": res["errors"][:5],
        "throughput_rps": round(len(lat) / res["wall_s"], 2), "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99),
        "rss_mb": {"start": rss[0], "end": rss[-1], "max": max(rss), "min": min(rss),
                   "slope_mb_per_hour_second_half": slope_mb_per_hour(half),
                   "slope_mb_per_hour_all": slope_mb_per_hour(samples)},
        "ready_at_end": still_ready,
        "cpu_count": os.cpu_count(), "loadavg_end": round(os.getloadavg()[0], 2),
        "samples": samples,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    png = Path(a.out).with_suffix(".png")
    plot(samples, png, f"tuneforge serve ({a.format}), concurrency {a.concurrency}: {len(lat)} requests, "
                       f"{len(res['errors'])} errors")
    print(json.dumps({k: v for k, v in out.items() if k != "samples"}, indent=2))
    print(f"results: {a.out}, {png}")
    return 0 if not res["errors"] and still_ready else 1


if __name__ == "__main__":
    sys.exit(main())
