"""Export formats against fp32 PyTorch on one finished run, in one process: size, validation accuracy,
single-sentence latency, batch-of-32 latency, and whether a text's answer depends on its batch companions.

The int8 formats run each text alone (tuneforge/export/formats.py, OneTextAtATime): their activation scales are
set per batch. Each is also measured as it was before, batched (`<format> batched`, its companions leaking into
its answers), so the cost of the fix is a ratio from the same run. The companion check predicts --check-texts
validation texts alone and in batches of --batch and counts label flips and the largest probability gap.

Each format is exported with `tuneforge.export.export_run` (forced, so a format that loses accuracy is
still measured and shown) into a scratch directory, then every predictor answers through the same
`load_predictor(path).predict(texts)` call a server makes. Latency rounds are interleaved (fp32, onnx,
onnx-int8, ... then again) so a busy machine slows every format alike; the ratios to fp32 are the claim,
the milliseconds depend on the machine.

    .venv/bin/python benchmarks/export_speed.py                                  # bench_runs/polarity-minilm
    .venv/bin/python benchmarks/export_speed.py --run runs/polarity-en --rounds 50

Results: benchmarks/results/export-<run name>.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))


def latency_rounds(predictors: dict, singles: list[str], batch: list[str], rounds: int, budget_s: float) -> dict:
    """p50/p90 milliseconds per call for one short sentence and for a batch, formats interleaved.

    A format that has spent `budget_s` seconds (bf16 without native bf16 is many times slower than fp32)
    stops after 5 rounds instead of holding the others up; `rounds` records how many it got."""
    times = {name: {"single": [], "batch": []} for name in predictors}
    spent = dict.fromkeys(predictors, 0.0)
    for p in predictors.values():  # warm-up: first calls pay one-off allocation and kernel choice
        p.predict(singles[:1])
        p.predict(batch, batch_size=len(batch))
    for r in range(rounds):
        for name, p in predictors.items():
            if r >= 5 and spent[name] > budget_s:
                continue
            text = singles[r % len(singles)]
            t0 = time.perf_counter()
            p.predict([text])
            times[name]["single"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            p.predict(batch, batch_size=len(batch))
            times[name]["batch"].append((time.perf_counter() - t0) * 1000)
            spent[name] += (times[name]["single"][-1] + times[name]["batch"][-1]) / 1000

    def q(xs, f):
        return round(statistics.quantiles(xs, n=10)[int(f * 10) - 1] if len(xs) > 1 else xs[0], 2)
    return {name: {kind: {"p50_ms": round(statistics.median(xs), 2), "p90_ms": q(xs, 0.9), "rounds": len(xs)}
                   for kind, xs in t.items()} for name, t in times.items()}


def companion_check(predictor, texts: list[str], batch: int) -> dict:
    """Each text predicted alone and in batches of `batch` (its companions: the texts beside it): label flips and
    the largest probability gap."""
    alone = [predictor.predict([t])[0] for t in texts]
    batched = predictor.predict(texts, batch_size=batch)
    gaps = [max(abs(x["probabilities"][k] - y["probabilities"][k]) for k in x["probabilities"])
            for x, y in zip(alone, batched)]
    return {"texts": len(texts), "flipped": sum(x["label"] != y["label"] for x, y in zip(alone, batched)),
            "max_probability_gap": round(max(gaps), 6)}


def cpu_info() -> dict:
    import subprocess

    import torch
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    name = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")), None)
    return {"model_name": name, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="bench_runs/polarity-minilm")
    ap.add_argument("--formats", nargs="*", default=None, help="default: all")
    ap.add_argument("--rounds", type=int, default=30, help="timed calls per format and kind")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--check-texts", type=int, default=200, help="validation texts of the companion check")
    ap.add_argument("--budget-s", type=float, default=120, help="latency seconds after which a format stops")
    ap.add_argument("--name", help="results name (default: the run directory's name)")
    ap.add_argument("--exports", help="keep the exports in this directory and reuse complete ones found "
                                      "there (default: a scratch directory, deleted at the end)")
    a = ap.parse_args()

    import torch

    from tuneforge.data.splits import load_splits
    from tuneforge.export import FORMATS, export_run, load_predictor
    from tuneforge.export.formats import OneTextAtATime

    run = Path(a.run)
    if not (run / "metrics.json").is_file():
        sys.exit(f"{run} is not a finished run; train one first, e.g.\n  .venv/bin/tuneforge train "
                 f"examples/polarity-en.yaml output_dir={run} train.epochs=1 data.train_limit=800 --quiet")
    formats = a.formats or list(FORMATS)
    load_start = os.getloadavg()
    ref = load_predictor(run)
    ref.bf16 = False  # the baseline is fp32 PyTorch, also on CPUs where the run would autocast to bf16
    val = load_splits(ref.cfg).validation
    texts = [e.text for e in val]
    # "a single short sentence": the shortest quarter of validation sentences, cycled
    singles = sorted(texts, key=len)[: max(1, len(texts) // 4)]
    batch = texts[: a.batch]

    exports, predictors = {}, {"fp32": ref}
    with contextlib.ExitStack() as stack:
        where = Path(a.exports) if a.exports else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="export-bench-", dir=run.parent)))
        for fmt in formats:
            out = where / fmt
            if (out / "export.json").is_file():  # --exports: an earlier, complete export of this run
                info = json.loads((out / "export.json").read_text(encoding="utf-8"))
                assert info["source_run"] == str(run.resolve()), f"{out} was exported from another run"
            else:
                t0 = time.perf_counter()
                out, info = export_run(run, fmt, out, force=True, update_card=False)
                info["export_s"] = round(time.perf_counter() - t0, 1)
                print(f"exported {fmt} in {info['export_s']} s", file=sys.stderr)
            exports[fmt] = info
            predictors[fmt] = load_predictor(out)
            if isinstance(predictors[fmt].model, OneTextAtATime):  # the same network, batched as before the fix
                leaky = copy.copy(predictors[fmt])
                leaky.model = predictors[fmt].model.model
                predictors[f"{fmt} batched"] = leaky
        latency = latency_rounds(predictors, singles, batch, a.rounds, a.budget_s)
        companions = {name: companion_check(p, texts[: a.check_texts], a.batch) for name, p in predictors.items()}

    first = next(iter(exports.values()))
    fp32_metrics = first["metrics"]["fp32"]
    main = first["main_metric"]
    rows = [{"format": "fp32", "size_mb": first["fp32_size_mb"], "size_ratio": 1.0, "validation": fp32_metrics,
             "delta_points": {k: 0.0 for k in fp32_metrics}, "latency": latency["fp32"],
             "single_speedup": 1.0, "batch_speedup": 1.0, "validation_speed_ratio": 1.0,
             "companions": companions["fp32"]}]
    for name in predictors:
        if name == "fp32":
            continue
        info, lat = exports[name.split(" ")[0]], latency[name]
        rows.append({"format": name, "size_mb": info["size_mb"], "size_ratio": info["size_ratio"],
                     # the export's own evaluation ran one text at a time; the batched arm is scored on speed only
                     "validation": info["metrics"]["export"], "delta_points": info["metrics"]["delta_points"],
                     "latency": lat,
                     "single_speedup": round(latency["fp32"]["single"]["p50_ms"] / lat["single"]["p50_ms"], 2),
                     "batch_speedup": round(latency["fp32"]["batch"]["p50_ms"] / lat["batch"]["p50_ms"], 2),
                     "validation_speed_ratio": info["speed"]["ratio"], "export_s": info.get("export_s"),
                     "companions": companions[name]})
    result = {
        "run": str(run), "task": ref.cfg.task, "backbone": ref.cfg.backbone, "main_metric": main,
        "validation_examples": len(val), "batch_size": a.batch, "rounds": a.rounds,
        "single_sentence_chars_median": statistics.median(len(t) for t in singles),
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "loadavg_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
        "versions": first["versions"], "cpu": cpu_info(), "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_file = RESULTS / f"export-{a.name or run.name}.json"
    out_file.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    metric_cols = list(fp32_metrics)
    print(f"\n{run} ({ref.cfg.backbone}, {len(val)} validation examples, {torch.get_num_threads()} threads, "
          f"load average {result['loadavg_start_end']})\n")
    print(f"CPU: {result['cpu']}\n")
    print("| format | size MB | size × | " + " | ".join(f"val {k}" for k in metric_cols)
          + f" | Δ {main} (points) | 1 sentence p50 ms | speed-up | batch-{a.batch} p50 ms | speed-up "
            f"| labels flipped alone vs batched | max probability gap |")
    print("|---" * (10 + len(metric_cols)) + "|")
    for r in rows:
        lat = r["latency"]
        print(f"| {r['format']} | {r['size_mb']} | {r['size_ratio']} | "
              + " | ".join(f"{r['validation'][k]:.4f}" for k in metric_cols)
              + f" | {r['delta_points'][main]:+.2f} | {lat['single']['p50_ms']} | {r['single_speedup']}× | "
                f"{lat['batch']['p50_ms']} | {r['batch_speedup']}× | {r['companions']['flipped']} of "
                f"{r['companions']['texts']} | {r['companions']['max_probability_gap']} |")
    print(f"\nwrote {out_file.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
