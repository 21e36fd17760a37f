"""MSRA Chinese NER with multilingual-e5-small: test entity F1, CPU time, and a curve of validation
entity F1 against the number of training sentences seen (one pass, evaluated 8 times).

    .venv/bin/python benchmarks/ner_curve.py                       # trains examples/msra-ner.yaml (~40 min)
    .venv/bin/python benchmarks/ner_curve.py --run bench_runs/msra-ner-full   # summarise a finished run

Writes benchmarks/results/NAME.json and benchmarks/results/NAME-curve.png (NAME: --name, default msra-ner).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default=str(ROOT / "bench_runs" / "msra-ner-full"))
    p.add_argument("--config", default=str(ROOT / "examples" / "msra-ner.yaml"))
    p.add_argument("--name", default="msra-ner", help="results file stem")
    args = p.parse_args()
    run = Path(args.run)
    if not (run / "metrics.json").exists():
        subprocess.run([sys.executable, "-m", "tuneforge.cli", "train", args.config, f"output_dir={run}"], check=True)
    m = json.loads((run / "metrics.json").read_text())
    rep = json.loads((run / "data_report.json").read_text())
    hist = json.loads((run / "log_history.json").read_text())
    n_train = rep["splits"]["train"]["examples"]
    curve = [(round(h["epoch"] * n_train), h["eval_entity_f1"]) for h in hist if "eval_entity_f1" in h]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(*zip(*curve), marker="o", label="validation entity F1 (1,000 sentences)")
    ax.axhline(m["test"]["entity_f1"], linestyle="--", color="tab:green",
               label=f"test entity F1, best checkpoint ({m['test']['entity_f1']:.3f})")
    ax.axhline(0.85, linestyle=":", color="gray", label="target 0.85")
    ax.set_xlabel("training sentences seen (one pass, batch 16)")
    ax.set_ylabel("entity F1 (seqeval strict IOB2)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("MSRA NER, multilingual-e5-small (8 layers), 2-core CPU")
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / f"{args.name}-curve.png", dpi=110)
    out = {"test": m["test"], "train": m["train"], "n_train": n_train, "curve": curve}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=2))
    print("| sentences seen | validation entity F1 |\n|---|---|")
    for n, f in curve:
        print(f"| {n:,} | {f:.4f} |")
    t = m["test"]
    print(f"\ntest ({t['n']} sentences): entity F1 {t['entity_f1']:.4f}, P {t['entity_precision']:.4f}, "
          f"R {t['entity_recall']:.4f}; training {m['train']['runtime_s'] / 60:.1f} min wall, "
          f"{m['train']['samples_per_second']} samples/s, peak RSS {m['train']['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
