"""The model card (README.md in the run directory): what a stranger needs to trust and use the model."""

from __future__ import annotations

from pathlib import Path

from ..backbones.registry import BACKBONES
from ..config import Config
from ..data.report import format_report
from .baseline import verdict


def _metric_rows(metrics: dict) -> str:
    rows = []
    for split in ("validation", "test"):
        m = metrics.get(split)
        if m:
            cells = ", ".join(f"{k} **{v}**" for k, v in m.items() if k not in ("n",))
            rows.append(f"| {split} | {m.get('n')} | {cells} |")
    tfidf = metrics.get("baseline_tfidf", {})
    for split in ("validation", "test"):
        m = tfidf.get(split)
        if m:
            cells = ", ".join(f"{k} {v}" for k, v in m.items() if k != "n")
            rows.append(f"| {split}, baseline: {tfidf['model']} | {m['n']} | {cells} |")
    base = metrics.get("baseline_majority")
    if base:
        rows.append(f"| test, majority baseline (always `{base['label']}`) | | accuracy {base['accuracy']} |")
    return "\n".join(rows)


def _auto_section(train_metrics: dict) -> str:
    """What tuneforge chose from the data because the config left it to auto, and why."""
    rows = train_metrics.get("auto_choices") or []
    if not rows:
        return ""
    lines = "\n".join(f"- `{c['key']}` = **{c['value']}**: {c['why']}." for c in rows)
    return f"## Automatic choices\nThe config left these to tuneforge; chosen from the training data (the decision bias from the validation split):\n{lines}\n\n"


def _baseline_note(metrics: dict) -> str:
    """The classical baseline's settings, and the plain warning when fine-tuning did not beat it."""
    tfidf = metrics.get("baseline_tfidf")
    if not tfidf or "C" not in tfidf:
        return ""
    note = (f"\nThe TF-IDF baseline was trained on the same training split in the same run (C={tfidf['C']:g}, "
            f"class weight {tfidf['class_weight']}, per-class offsets {tfidf.get('decision_bias', 'none')}, chosen on "
            f"{tfidf['chosen_on']}, as the fine-tuned model's offsets are).\n")
    warning = verdict(metrics)
    return note + (f"\n**Warning: {warning}.**\n" if warning else "")


def _licence_note(backbone: str) -> str:
    """The backbone's licence, where it is not an open-source one: it binds whoever uses this model too."""
    spec = BACKBONES.get(backbone)
    return f"\n**Licence of the backbone: {spec.licence}.** It applies to this fine-tuned model as well." \
        if spec and spec.licence else ""


def write_card(out: Path, cfg: Config, task, labels: list[str], data_report: dict, metrics: dict) -> None:
    t, tr = cfg.train, metrics.get("train", {})
    share = tr.get("trainable_parameters", 0) / max(1, tr.get("total_parameters", 1))
    p = task.card_parts(cfg, labels)  # the lines that differ by task: the task says them (tasks/base.py)
    card = f"""# {Path(cfg.output_dir).name}: {cfg.task} on `{cfg.backbone}`

Fine-tuned with tuneforge from `{cfg.backbone}` on `{cfg.data.train}`.{_licence_note(cfg.backbone)}
Labels ({len(labels)}): {", ".join(f"`{l}`" for l in labels)}.

## Results
Scores on held-out examples the model never trained on; headline: {p["headline"]}.

| split | examples | metrics |
|---|---|---|
{_metric_rows(metrics)}
{_baseline_note(metrics)}
The full per-label report is in `report.txt`; `confusion_matrix.png` and `learning_curve.png` show
where errors fall and how training went; `test_predictions.jsonl` lists every test prediction.

## Training
- {tr.get('steps')} optimizer steps over {tr.get('epochs')} epochs (early stopping on validation
  `{task.metric_for_best}`, patience {t.early_stopping_patience}, best checkpoint restored:
  {tr.get('best_checkpoint_metric')}).
- batch {t.batch_size} × accumulation {t.gradient_accumulation} × {tr.get('processes', 1)} process(es),
  body lr {t.learning_rate}, head lr {t.head_learning_rate}, weight decay {t.weight_decay},
  warm-up {t.warmup_ratio:.0%} then linear decay, {p["shape"]}, seed {t.seed},
  bf16 autocast: {tr.get('bf16')}{p["body"]}.
- trainable parameters: {tr.get('trainable_parameters', 0):,} of {tr.get('total_parameters', 0):,} ({share:.1%}){tr.get('method_note', '')}.
- {tr.get('samples_per_second')} samples/s, {tr.get('runtime_s')} s wall time, peak RSS
  {tr.get('peak_rss_mb')} MB.

{_auto_section(tr)}## Data
```
{format_report(data_report, t.max_length)}
```

## Use
```bash
{p["use"]}
```
Each prediction is one JSON line, e.g. `{p["example"]}`.

The directory is also a plain Hugging Face model:
{p["hf"]}.

## Limits
Trained on {data_report['splits']['train']['examples']} examples of one source; expect lower scores on
{p["limits"]}. Check the data
report above before trusting the numbers.
"""
    (out / "README.md").write_text(card, encoding="utf-8")
