"""Where a served request's CPU goes (issue 20): `tuneforge serve` under closed-loop load, sampled by py-spy.

One server on loopback serves the run's export (default bf16, what `--format auto` chose on AVX512-BF16 CPUs) to
--concurrency aiohttp callers (serve_load.py's load generator, one test sentence a request) for --seconds, while
py-spy samples the server's Python stacks (active samples only, every thread: the event loop and the batcher's
worker). Each sample is put in the first category whose pattern its stack matches, innermost frame first, so a
tokenizer call inside the batcher counts as tokenization, not as batching:

  model forward      torch modules (the network's arithmetic, including bf16 kernels)
  tokenization       tokenizers / the task's encode and collate
  batcher            tuneforge/serve/batcher.py and the task's post-processing
  request log        the SQLite request log (tuneforge/store)
  metrics            prometheus_client
  validation         pydantic, the request schemas, FastAPI's body handling
  JSON               json encode and decode
  HTTP               uvicorn, httptools, starlette routing and responses
  event loop         asyncio / uvloop themselves
py-spy is not a dependency of tuneforge: `pip install py-spy==0.4.3` into any environment and pass its path.

    .venv/bin/python benchmarks/serve_profile.py --py-spy /path/to/py-spy --work /tmp/serve-bench

Results: benchmarks/results/serve-profile.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import (RESULTS, ROOT, Server, exit_on_sigterm, free_port, load_texts, prepare_export,  # noqa: E402
                        registry_with, segment)

# (category, substrings of a frame "function (file:line)"), checked innermost frame first
CATEGORIES = [
    ("model forward", ("torch/nn/", "transformers/models/", "torch/_", "torch/amp", "autocast")),
    ("tokenization", ("tokenizers", "tokenization_utils", "encode_texts", "collat", "truncation.py")),
    ("request log", ("store/", "sqlite")),
    ("metrics", ("prometheus_client",)),
    ("validation", ("pydantic", "schemas.py", "fastapi/dependencies", "inputs.py")),
    ("JSON", ("json/", "orjson", "jsonable_encoder")),
    ("HTTP", ("uvicorn", "httptools", "h11", "starlette", "fastapi/routing", "aiohttp")),
    ("batcher", ("serve/batcher.py", "tasks/", "rundir.py", "export/")),
    ("event loop", ("asyncio", "uvloop", "selectors", "threading.py", "concurrent/futures")),
]


def category(stack: str) -> str:
    frames = stack.split(";")[::-1]  # innermost first
    for frame in frames:
        for name, needles in CATEGORIES:
            if any(n in frame for n in needles):
                return name
    return "other"


def main() -> int:
    exit_on_sigterm()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default=str(ROOT / "bench_runs" / "polarity-full-minilm"))
    p.add_argument("--format", default="bf16", help="export served (bf16, onnx, onnx-int8, ...); 'run': the run itself")
    p.add_argument("--work", default="/tmp/tuneforge-serve-load")
    p.add_argument("--py-spy", required=True, help="path of the py-spy executable")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--out", default=str(RESULTS / "serve-profile.json"))
    a = p.parse_args()

    run, work = Path(a.run), Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    src = run if a.format == "run" else prepare_export(run, a.format, work)
    reg = registry_with(src, work / "registry-profile")
    port = free_port()
    server = Server("profiled", [sys.executable, "-m", "tuneforge.cli", "serve", "--registry", str(reg),
                                 "--host", "127.0.0.1", "--port", str(port)], work / "profile-server.log")
    texts = load_texts(run)
    raw = work / "profile.txt"
    try:
        server.wait_ready()
        url = server.url + "/v1/models/sentiment/predict"
        asyncio.run(segment(url, texts, a.concurrency, 10**6, 3.0))  # warm-up, not sampled
        spy = subprocess.Popen([a.py_spy, "record", "--pid", str(server.proc.pid), "--duration", str(int(a.seconds)),
                                "--rate", str(a.rate), "--format", "raw", "--output", str(raw), "--nonblocking",
                                "--subprocesses"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)  # py-spy attaches before the sampled load starts
        seg = asyncio.run(segment(url, texts, a.concurrency, 10**6, a.seconds - 2))
        spy.wait(timeout=a.seconds + 60)
    finally:
        server.stop()
    counts: Counter = Counter()
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, n = line.rpartition(" ")
        counts[category(stack)] += int(n)
    total = sum(counts.values())
    shares = {k: round(v / total, 4) for k, v in counts.most_common()}
    rps = len(seg["latencies_ms"]) / seg["wall_s"]
    from tuneforge.tasks.base import cpu_description
    result = {"run": str(run), "served": a.format, "concurrency": a.concurrency, "requests_per_s": round(rps, 1),
              "errors": len(seg["errors"]), "samples": total, "rate_hz": a.rate, "shares": shares,
              "cpu": cpu_description()}
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{a.format} served at c={a.concurrency}: {rps:.1f} req/s, {total} samples")
    print("| where | share of the server's active samples |\n|---|---|")
    for k, v in shares.items():
        print(f"| {k} | {v:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
