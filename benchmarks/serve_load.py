"""Served throughput and latency of a minilm-l6 sentiment run: `tuneforge serve` against the source
documents' way of serving, at concurrency 1, 8 and 32, all arms in one run.

Arms (each a real HTTP server in its own process on a free loopback port, all up for the whole run):
  source-way     benchmarks/source_way_server.py: one request at a time, every input padded to 128, fp32 PyTorch
  tuneforge-torch  `tuneforge serve`, the run directory itself (PyTorch fp32, micro-batching, per-batch padding)
  tuneforge-<fmt>  `tuneforge serve` on a `tuneforge export --format <fmt>` of the run (ONNX Runtime)

Every request carries one text of the run's test split (the texts in test_predictions.jsonl), the same
texts in the same order for every arm. Segments are short and interleaved (round r: for each concurrency,
each arm, the arm order rotating by round), so a machine busy with other work slows every arm alike: the
ratios to source-way are the claim, the absolute numbers depend on the machine. Then p50 latency of one
short sentence at concurrency 1, arms alternating request by request.

Bounded: traffic goes to 127.0.0.1 only; each segment stops after --requests requests or --seconds
seconds, whichever comes first; the servers are stopped at the end (SIGTERM, then SIGKILL).

    .venv/bin/python benchmarks/serve_load.py --quick                       # ~1 min: does it all work
    .venv/bin/python benchmarks/serve_load.py --run bench_runs/polarity-full-minilm   # ~5 min + export

Results: benchmarks/results/serve-load.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
HOST = "127.0.0.1"  # loopback only, never anything else
SHORT = "a gorgeous, witty film"
BASELINE = "source-way"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def tuneforge(*args: str, env=None) -> None:
    subprocess.run([sys.executable, "-m", "tuneforge.cli", *args], check=True, env=env, cwd=ROOT)


def prepare_export(run: Path, fmt: str, work: Path) -> Path:
    """An export of the run under the scratch directory (the run may be read-only); reused if present."""
    out = work / "exports" / fmt
    if not (out / "export.json").is_file():
        shutil.rmtree(out, ignore_errors=True)
        # --force: an export that loses accuracy is still measured; its delta is recorded next to its speed.
        tuneforge("export", str(run), "--format", fmt, "--output", str(out), "--force")
    return out


def registry_with(source: Path, root: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    tuneforge("registry", "add", "sentiment", str(source), "--stage", "production", "--registry", str(root))
    return root


class Server:
    def __init__(self, name: str, cmd: list[str], log: Path):
        self.name, self.port = name, int(cmd[cmd.index("--port") + 1])
        self.url = f"http://{HOST}:{self.port}"
        self.log = log.open("w")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def wait_ready(self, timeout: float = 600) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout}s; see {self.log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def load_texts(run: Path, limit: int = 400) -> list[str]:
    f = run / "test_predictions.jsonl"
    texts = [json.loads(line)["text"] for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise SystemExit(f"no texts in {f}")
    return texts[:limit]


async def segment(url: str, texts: list[str], concurrency: int, max_requests: int, max_seconds: float,
                  start: int = 0) -> dict:
    """`concurrency` callers, each sending its next request as soon as it has its answer (closed loop),
    until `max_requests` have been sent or `max_seconds` have passed."""
    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    # aiohttp, not httpx: the client shares the 2 cores with the servers, and httpx spends several times
    # more CPU per request, which would cap the fast arms below what their servers can do.
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=120)) as client:
        t0 = time.perf_counter()
        stop_at = t0 + max_seconds

        async def caller() -> None:
            nonlocal sent
            while sent < max_requests and time.perf_counter() < stop_at:
                i = start + sent
                sent += 1
                body = {"texts": [texts[i % len(texts)]]}
                t = time.perf_counter()
                try:
                    async with client.post(url, json=body) as r:
                        payload = await r.read()
                        ok = r.status == 200
                        if not ok:
                            errors.append(f"{r.status}: {payload[:200]!r}")
                except (aiohttp.ClientError, TimeoutError) as e:
                    ok = False
                    errors.append(f"{type(e).__name__}: {e}")
                if ok:
                    latencies.append((time.perf_counter() - t) * 1000)

        await asyncio.gather(*(caller() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"latencies_ms": latencies, "errors": errors, "wall_s": wall}


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 2)


def summarize(segs: list[dict]) -> dict:
    lat = [x for s in segs for x in s["latencies_ms"]]
    wall = sum(s["wall_s"] for s in segs)
    return {"requests": len(lat), "errors": sum(len(s["errors"]) for s in segs),
            "first_errors": [e for s in segs for e in s["errors"]][:3],
            "wall_s": round(wall, 2), "throughput_rps": round(len(lat) / wall, 2) if wall else None,
            "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99)}


async def single_short(urls: dict, n: int) -> dict:
    """p50 of one short sentence at concurrency 1, arms alternating request by request."""
    times: dict[str, list[float]] = {a: [] for a in urls}
    errors = dict.fromkeys(urls, 0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as client:
        for i in range(n):
            for arm, url in urls.items():
                t = time.perf_counter()
                try:
                    async with client.post(url, json={"texts": [SHORT]}) as r:
                        await r.read()
                        ok = r.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                if ok:
                    times[arm].append((time.perf_counter() - t) * 1000)
                else:
                    errors[arm] += 1
    return {a: {"requests": len(t), "errors": errors[a], "p50_ms": pct(t, 0.5), "p90_ms": pct(t, 0.9)}
            for a, t in times.items()}


def exit_on_sigterm() -> None:
    """SIGTERM (timeout, kill PID) ends the script through its `finally`, which stops the servers it started."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main() -> int:
    exit_on_sigterm()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default=str(ROOT / "bench_runs" / "polarity-full-minilm"))
    p.add_argument("--format", default="onnx-int8", help="export format of the ONNX arm (onnx or onnx-int8)")
    p.add_argument("--work", default="/tmp/tuneforge-serve-load", help="scratch: exports (reused), registries, logs")
    p.add_argument("--levels", default="1,8,32")
    p.add_argument("--rounds", type=int, default=3, help="interleaved passes over every (concurrency, arm)")
    p.add_argument("--requests", type=int, default=3000, help="most requests per segment")
    p.add_argument("--seconds", type=float, default=8.0, help="most seconds per segment")
    p.add_argument("--single", type=int, default=200, help="short-sentence requests per arm")
    p.add_argument("--max-batch", type=int, help="passed to `tuneforge serve` (default: its own)")
    p.add_argument("--max-wait-ms", type=float, help="passed to `tuneforge serve`")
    p.add_argument("--sub-batch", type=int, help="passed to `tuneforge serve`")
    p.add_argument("--no-torch", action="store_true", help="leave out the tuneforge-torch arm")
    p.add_argument("--quick", action="store_true", help="1 round of 3 s segments, 30 short requests")
    p.add_argument("--out", default=str(RESULTS / "serve-load.json"))
    a = p.parse_args()
    if a.quick:
        a.rounds, a.seconds, a.single = 1, 3.0, 30
    run, work = Path(a.run).resolve(), Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    levels = [int(x) for x in a.levels.split(",")]

    export = prepare_export(run, a.format, work)
    sources = {} if a.no_torch else {"tuneforge-torch": run}
    sources[f"tuneforge-{a.format}"] = export
    tuning = [f for k, f in (("max_batch", "--max-batch"), ("max_wait_ms", "--max-wait-ms"), ("sub_batch", "--sub-batch"))
              if getattr(a, k) is not None for f in (f, str(getattr(a, k)))]

    servers: dict[str, Server] = {}
    try:
        servers[BASELINE] = Server(BASELINE, [sys.executable, str(ROOT / "benchmarks" / "source_way_server.py"), str(run),
                                              "--host", HOST, "--port", str(free_port())], work / f"{BASELINE}.log")
        for arm, src in sources.items():
            reg = registry_with(src, work / f"registry-{arm}")
            servers[arm] = Server(arm, [sys.executable, "-m", "tuneforge.cli", "serve", "--registry", str(reg),
                                        "--host", HOST, "--port", str(free_port()), "--poll-s", "0",
                                        "--log-level", "warning", *tuning], work / f"{arm}.log")
        for s in servers.values():
            s.wait_ready()
        urls = {arm: s.url + "/v1/models/sentiment/predict" for arm, s in servers.items()}
        texts = load_texts(run)
        load_start = os.getloadavg()[0]

        for url in urls.values():  # warm-up: first calls pay one-off allocation and kernel choice
            asyncio.run(segment(url, texts, 8, 64, 30))
        arms = list(urls)
        segs: dict[tuple[str, int], list[dict]] = {(arm, c): [] for arm in arms for c in levels}
        for r in range(a.rounds):
            for c in levels:
                for k in range(len(arms)):
                    arm = arms[(k + r) % len(arms)]
                    s = asyncio.run(segment(urls[arm], texts, c, a.requests, a.seconds, start=r * 1000))
                    segs[(arm, c)].append(s)
                    print(f"round {r} c={c:<3} {arm:<20} {len(s['latencies_ms']) / s['wall_s']:8.1f} req/s "
                          f"errors {len(s['errors'])}", flush=True)
        short = asyncio.run(single_short(urls, a.single))
        load_end = os.getloadavg()[0]
    finally:
        for s in servers.values():
            s.stop()

    results = {arm: {str(c): summarize(segs[(arm, c)]) for c in levels} for arm in arms}
    for arm in arms:
        for c in levels:
            base = results[BASELINE][str(c)]["throughput_rps"]
            mine = results[arm][str(c)]["throughput_rps"]
            results[arm][str(c)]["throughput_vs_source_way"] = round(mine / base, 2) if base and mine else None
    best = max((a_ for a_ in arms if a_ != BASELINE), key=lambda x: results[x][str(max(levels))]["throughput_vs_source_way"] or 0)
    info = json.loads((export / "export.json").read_text(encoding="utf-8"))
    out = {
        "run": str(run.relative_to(ROOT)) if run.is_relative_to(ROOT) else str(run),
        "texts": f"{len(texts)} texts of the run's test split, one per request",
        "short_sentence": SHORT,
        "rounds": a.rounds, "segment_max_requests": a.requests, "segment_max_seconds": a.seconds,
        "serve_options": {k: getattr(a, k) for k in ("max_batch", "max_wait_ms", "sub_batch")},
        "export": {"format": a.format, "validation": info.get("validation", info.get("metrics")),
                   "export_json": info},
        "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
        "loadavg_start_end": [round(load_start, 2), round(load_end, 2)],
        "arms": results,
        "single_short_sentence_c1": short,
        "done_when": {
            "best_arm": best,
            f"throughput_c{max(levels)}_vs_source_way": results[best][str(max(levels))]["throughput_vs_source_way"],
            "target_ratio": 10, "short_p50_ms": short[best]["p50_ms"], "target_short_p50_ms": 15,
            "errors_total": sum(results[x][str(c)]["errors"] for x in arms for c in levels),
        },
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")

    print(f"\n| arm | concurrency | req/s | x source-way | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|")
    for arm in arms:
        for c in levels:
            x = results[arm][str(c)]
            print(f"| {arm} | {c} | {x['throughput_rps']} | {x['throughput_vs_source_way']} | {x['p50_ms']} | "
                  f"{x['p99_ms']} | {x['errors']} |")
    print("\nshort sentence, concurrency 1, p50 ms: " + ", ".join(f"{k} {v['p50_ms']}" for k, v in short.items()))
    print(f"results: {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
