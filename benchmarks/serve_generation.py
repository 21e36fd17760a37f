"""Served generation: tokens per second through `POST /v1/chat/completions` at concurrency 1 and 8, with concurrent
conversations decoded together (the default) and one at a time (`--max-batch 1`), all arms in one run (issue 19).

Arms: two real `tuneforge serve` processes on loopback ports over the same registry (one text-generation run),
one with the default batcher and one with --max-batch 1. Callers are the official `openai` client (AsyncOpenAI),
closed loop: each sends its next question as soon as it has its answer. Every request is greedy with a fixed
max_tokens, the questions are the run's test questions in order, so every arm decodes the same work; segments
alternate between arms (round r: each concurrency, each arm, arm order rotating), so a machine busy with other
work slows every arm alike. Tokens counted are the answers' completion tokens (the server's `usage`). The claim
is the ratio: batched tokens/s at concurrency 8 over concurrency 1.

    .venv/bin/python benchmarks/serve_generation.py --run bench_runs/faq_generation/en-groups/run   # ~6 min
    .venv/bin/python benchmarks/serve_generation.py --run RUN --rounds 1 --seconds 20               # quicker

Results: benchmarks/results/serve-generation.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faq_generation import cpu  # noqa: E402
from serve_load import HOST, RESULTS, ROOT, Server, free_port, tuneforge  # noqa: E402

ARMS = {"batched": [], "one-at-a-time": ["--max-batch", "1"]}


async def segment(url: str, questions: list[str], concurrency: int, seconds: float, max_tokens: int,
                  start: int) -> dict:
    import openai
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=600)
    tokens, latencies, errors = 0, [], 0
    nxt = start
    t0 = time.perf_counter()
    stop_at = t0 + seconds

    async def caller() -> None:
        nonlocal tokens, errors, nxt
        while time.perf_counter() < stop_at:
            q = questions[nxt % len(questions)]
            nxt += 1
            t = time.perf_counter()
            try:
                r = await client.chat.completions.create(model="faq", messages=[{"role": "user", "content": q}],
                                                         max_tokens=max_tokens, temperature=0)
            except openai.APIError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t)
            tokens += r.usage.completion_tokens

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0  # callers finish their last request after stop_at: counted in full
    await client.close()
    return {"tokens": tokens, "seconds": elapsed, "requests": len(latencies), "errors": errors,
            "p50_s": statistics.median(latencies) if latencies else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a text-generation run directory")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=40.0, help="per segment")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--work", default=str(ROOT / "bench_runs" / "serve_generation"))
    a = ap.parse_args()
    run, work = Path(a.run).resolve(), Path(a.work)
    questions = [json.loads(x)["text"] for x in (run / "test_predictions.jsonl").read_text().splitlines() if x.strip()]
    reg = work / "registry"
    shutil.rmtree(reg, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    tuneforge("registry", "add", "faq", str(run), "--stage", "production", "--registry", str(reg))
    servers = {name: Server(name, [sys.executable, "-m", "tuneforge.cli", "serve", "--registry", str(reg), "--host",
                                   HOST, "--port", str(free_port()), "--no-dashboard", *extra],
                            work / f"{name}.log") for name, extra in ARMS.items()}
    totals = {(n, c): {"tokens": 0, "seconds": 0.0, "requests": 0, "errors": 0, "p50_s": []}
              for n in ARMS for c in a.concurrency}
    try:
        for s in servers.values():
            s.wait_ready()
        for r in range(a.rounds):
            names = list(ARMS)[r % len(ARMS):] + list(ARMS)[:r % len(ARMS)]
            for c in a.concurrency:
                for n in names:
                    seg = asyncio.run(segment(servers[n].url, questions, c, a.seconds, a.max_tokens, r * 97))
                    t = totals[(n, c)]
                    for k in ("tokens", "seconds", "requests", "errors"):
                        t[k] += seg[k]
                    t["p50_s"].append(seg["p50_s"])
                    print(f"round {r} {n:<14} c={c:<3} {seg['tokens'] / seg['seconds']:7.1f} tokens/s "
                          f"({seg['requests']} answers, {seg['errors']} errors)", flush=True)
    finally:
        for s in servers.values():
            s.stop()
    rows = {f"{n}@{c}": {**t, "tokens_per_s": t["tokens"] / t["seconds"],
                         "p50_s": statistics.median([p for p in t["p50_s"] if p is not None] or [0])}
            for (n, c), t in totals.items()}
    lo, hi = min(a.concurrency), max(a.concurrency)
    ratio = {n: rows[f"{n}@{hi}"]["tokens_per_s"] / rows[f"{n}@{lo}"]["tokens_per_s"] for n in ARMS}
    res = {"run": str(run), "max_tokens": a.max_tokens, "rounds": a.rounds, "seconds_per_segment": a.seconds,
           "cpu": cpu(), "arms": rows, f"ratio_c{hi}_over_c{lo}": ratio}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve-generation.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    print("\n| arm | concurrency | tokens/s | answers | p50 latency |\n|---|---|---|---|---|")
    for key, row in rows.items():
        n, c = key.split("@")
        print(f"| {n} | {c} | {row['tokens_per_s']:.1f} | {row['requests']} | {row['p50_s']:.2f} s |")
    for n, x in ratio.items():
        print(f"{n}: concurrency {hi} / {lo} = {x:.2f}x")


if __name__ == "__main__":
    main()
