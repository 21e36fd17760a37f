"""The most any server could gain over the source way on this machine: model compute alone, no HTTP.

serve_load.py measures served throughput against the source documents' way of serving. This script measures
the ceiling of that ratio: in one process, alternating arms, the texts/s of
  source-way compute   fp32 PyTorch, one text per forward pass, padded to 128 (what its server does per request)
  tuneforge compute    the predictor `tuneforge serve` loads (by default the onnx-int8 export), texts in
                       length-sorted batches of --batch: all test texts sorted at once (the most padding any
                       batching could save)
  tuneforge online     the same predictor fed as the server is: texts in arrival order (seeded shuffle), each
                       batch of --batch sorted by length and cut into the server's sub-batches (ServeOptions
                       sub_batch): the ceiling a micro-batching server can reach, which sees only the queue
A served ratio can only come below this one: the HTTP server, the JSON, the request log and the load generator
take their CPU time from the same cores.

    .venv/bin/python benchmarks/serve_ceiling.py --work /tmp/serve-bench        # ~2 min; reuses serve_load's export

Results: benchmarks/results/serve-ceiling-<format>-<torch CPU capability>.json (one file per format and CPU
kind, so a run on another machine never overwrites the record BENCHMARKS.md quotes; --out to choose).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import RESULTS, ROOT, load_texts, prepare_export  # noqa: E402
from source_way_server import MAX_LEN  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default=str(ROOT / "bench_runs" / "polarity-full-minilm"))
    p.add_argument("--format", default="onnx-int8")
    p.add_argument("--work", default="/tmp/tuneforge-serve-load")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--source-texts", type=int, default=100, help="texts per source-way segment (it is slow)")
    p.add_argument("--out", help="result file (default: serve-ceiling-<format>-<capability>.json in results/)")
    a = p.parse_args()
    import random

    from tuneforge.serve.options import ServeOptions
    from tuneforge.tasks.base import cpu_description
    sub_batch = ServeOptions().sub_batch
    from tuneforge.export import load_predictor
    run = Path(a.run).resolve()
    texts = load_texts(run)
    tok = AutoTokenizer.from_pretrained(run)
    model = AutoModelForSequenceClassification.from_pretrained(run, dtype=torch.float32).eval()
    pred = load_predictor(prepare_export(run, a.format, Path(a.work)))

    def source_way(batch: list[str]) -> None:
        for t in batch:
            inputs = tok([t], return_tensors="pt", max_length=MAX_LEN, padding="max_length", truncation=True)
            with torch.no_grad():
                model(**inputs)

    def tuneforge(batch: list[str]) -> None:
        order = sorted(batch, key=len)
        for s in range(0, len(order), a.batch):
            pred.predict(order[s:s + a.batch], batch_size=a.batch)

    def online(batch: list[str]) -> None:
        for s in range(0, len(batch), a.batch):  # batch: the texts in arrival order
            order = sorted(batch[s:s + a.batch], key=len)
            for u in range(0, len(order), sub_batch):
                pred.predict(order[u:u + sub_batch], batch_size=sub_batch)

    arrival = texts[:]
    random.Random(0).shuffle(arrival)
    arms = {"source-way": (source_way, texts[:a.source_texts]), f"tuneforge-{a.format}": (tuneforge, texts),
            f"tuneforge-{a.format}-online": (online, arrival)}
    for fn, xs in arms.values():  # warm-up
        fn(xs[:8])
    rates: dict[str, list[float]] = {k: [] for k in arms}
    for r in range(a.rounds):
        for name in list(arms)[r % len(arms):] + list(arms)[:r % len(arms)]:  # the order rotates each round
            fn, xs = arms[name]
            t = time.perf_counter()
            fn(xs)
            rates[name].append(len(xs) / (time.perf_counter() - t))
            print(f"round {r} {name:<29} {rates[name][-1]:7.1f} texts/s", flush=True)
    best = {k: round(max(v), 2) for k, v in rates.items()}
    ratio = round(best[f"tuneforge-{a.format}"] / best["source-way"], 2)
    online_ratio = round(best[f"tuneforge-{a.format}-online"] / best["source-way"], 2)
    out = {"run": str(run), "format": a.format, "texts": len(texts), "batch": a.batch, "sub_batch": sub_batch,
           "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "cpu": cpu_description(),
           "loadavg": [round(x, 2) for x in os.getloadavg()], "texts_per_s_all_rounds": rates,
           "texts_per_s_best": best, "ceiling_ratio": ratio, "online_ceiling_ratio": online_ratio}
    out_path = Path(a.out) if a.out else RESULTS / (
        f"serve-ceiling-{a.format}-{torch.backends.cpu.get_cpu_capability().lower()}.json")
    out_path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"ceiling: tuneforge compute / source-way compute = {ratio}x, fed as the server is {online_ratio}x "
          f"(best round of each); wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
