"""Distillation on Pang & Lee polarity: a minilm-l6 teacher run (6 layers) into smaller students, with the
share of the teacher's test accuracy each keeps and its inference speed-up over the teacher.

Students (`--students`): `paraphrase-minilm-l3` (the packaged 3-layer sentence encoder, fresh head) and
`l3` (the teacher truncated to its first 3 layers, `--student-layers 3`). Each trains with
`tuneforge.methods.distill.distill` on the teacher's own split. Speed: every model predicts the same
test sentences (batch of 32, and one sentence at a time) in interleaved rounds in this one process, so
a busy machine slows all alike; the ratios are the claim, the milliseconds depend on the machine.

    .venv/bin/python benchmarks/distill_polarity.py                          # full: 3 epochs per student
    .venv/bin/python benchmarks/distill_polarity.py --quick                  # 800 sentences, 1 epoch
    .venv/bin/python benchmarks/distill_polarity.py --teacher runs/polarity-en --students l3 train.epochs=2

Results: benchmarks/results/distill-polarity[-quick].json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUICK = ["data.train_limit=800", "train.epochs=1", "train.evals_per_epoch=1"]


def speed(runs: dict, texts: list[str], rounds: int) -> dict:
    """Median seconds per round (all texts in batches of 32) and per single sentence, models interleaved."""
    batch_t = {k: [] for k in runs}
    single_t = {k: [] for k in runs}
    for r in runs.values():  # warm-up
        r.predict(texts[:32], batch_size=32)
    for i in range(rounds):
        for name, r in runs.items():
            t0 = time.perf_counter()
            r.predict(texts, batch_size=32)
            batch_t[name].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for t in texts[i * 8 % len(texts):][:8]:
                r.predict([t], batch_size=1)
            single_t[name].append((time.perf_counter() - t0) / 8)
    out = {}
    for name in runs:
        b, s = statistics.median(batch_t[name]), statistics.median(single_t[name])
        out[name] = {"batch32_texts_per_s": round(len(texts) / b, 1), "single_ms_p50": round(1000 * s, 2)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="*", help="dotted.key=value for every student")
    ap.add_argument("--teacher", default=str(ROOT / "bench_runs" / "polarity-full-minilm"))
    ap.add_argument("--students", nargs="+", default=["paraphrase-minilm-l3", "l3"],
                    help="packaged backbone names, or lN for the teacher truncated to N layers")
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved speed rounds over the test set")
    ap.add_argument("--quick", action="store_true", help=f"smoke setting: {' '.join(QUICK)}")
    ap.add_argument("--runs", default=str(ROOT / "bench_runs"))
    args = ap.parse_args()

    from tuneforge.methods.distill import distill
    from tuneforge.rundir import load_run

    tag = "distill-polarity" + ("-quick" if args.quick else "")
    overrides = (QUICK if args.quick else []) + list(args.overrides)
    teacher = Path(args.teacher)
    results = {"teacher": str(teacher), "overrides": overrides, "temperature": args.temperature, "alpha": args.alpha,
               "students": {}}
    runs = {"teacher": load_run(teacher)}
    for name in args.students:
        layers = int(name[1:]) if name[:1] == "l" and name[1:].isdigit() else None
        out_dir = Path(args.runs) / f"{tag}-{name}"
        t0 = time.perf_counter()
        if not (out_dir / "metrics.json").is_file():  # a finished student is reused: rerun after a kill
            distill(teacher, student=None if layers else name, student_layers=layers, temperature=args.temperature,
                    alpha=args.alpha, output=out_dir, overrides=overrides, progress=False, overwrite=True)
        m = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
        results["students"][name] = {**m["distillation"], "train_runtime_s": m["train"]["runtime_s"],
                                     "steps": m["train"]["steps"], "wall_s_this_call": round(time.perf_counter() - t0, 1),
                                     "run": str(out_dir)}
        runs[name] = load_run(out_dir)
        print(name, results["students"][name], flush=True)
    texts = [json.loads(l)["text"] for l in (teacher / "test_predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    sp = speed(runs, texts, args.rounds)
    results["speed"] = sp
    results["speed_note"] = f"{len(texts)} test sentences, batch 32 and single, {args.rounds} interleaved rounds"
    for name, r in results["students"].items():
        r["speedup_batch32"] = round(sp[name]["batch32_texts_per_s"] / sp["teacher"]["batch32_texts_per_s"], 2)
        r["speedup_single"] = round(sp["teacher"]["single_ms_p50"] / sp[name]["single_ms_p50"], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{tag}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    t_acc = json.loads((teacher / "metrics.json").read_text())["test"]["accuracy"]
    print(f"\nteacher {teacher.name}: test accuracy {t_acc:.4f}, {sp['teacher']['batch32_texts_per_s']} texts/s (batch 32)")
    print("| student | layers | test acc | retained | speed-up batch 32 | speed-up single |\n|---|---|---|---|---|---|")
    for name, r in results["students"].items():
        print(f"| {name} | {r['student_layers']} | {r['student_test_accuracy']:.4f} | {r['accuracy_retained']:.3f} | "
              f"{r['speedup_batch32']}x | {r['speedup_single']}x |")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
