"""The model card (README.md in the run directory): what a stranger needs to trust and use the model."""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..data.report import format_report


def _metric_rows(metrics: dict) -> str:
    rows = []
    for split in ("validation", "test"):
        m = metrics.get(split)
        if m:
            cells = ", ".join(f"{k} **{v}**" for k, v in m.items() if k not in ("n",))
            rows.append(f"| {split} | {m.get('n')} | {cells} |")
    base = metrics.get("baseline_majority")
    if base:
        rows.append(f"| test, majority baseline (always `{base['label']}`) | | accuracy {base['accuracy']} |")
    return "\n".join(rows)


def write_card(out: Path, cfg: Config, labels: list[str], data_report: dict, metrics: dict) -> None:
    t, tr = cfg.train, metrics.get("train", {})
    share = tr.get("trainable_parameters", 0) / max(1, tr.get("total_parameters", 1))
    is_ner = cfg.task == "token-classification"
    example_out = ('{"text": "...", "entities": [{"type": "PER", "text": "...", "start": 0, "end": 2, '
                   '"confidence": 0.98}]}' if is_ner else
                   '{"text": "...", "label": "%s", "probabilities": {...}}' % labels[0])
    headline = "entity-level F1 (seqeval, strict IOB2)" if is_ner else "accuracy and macro F1"
    card = f"""# {Path(cfg.output_dir).name}: {cfg.task} on `{cfg.backbone}`

Fine-tuned with tuneforge from `{cfg.backbone}` on `{cfg.data.train}`.
Labels ({len(labels)}): {", ".join(f"`{l}`" for l in labels)}.

## Results
Scores on held-out examples the model never trained on; headline: {headline}.

| split | examples | metrics |
|---|---|---|
{_metric_rows(metrics)}

The full per-label report is in `report.txt`; `confusion_matrix.png` and `learning_curve.png` show
where errors fall and how training went; `test_predictions.jsonl` lists every test prediction.

## Training
- {tr.get('steps')} optimizer steps over {tr.get('epochs')} epochs (early stopping on validation
  `{"entity_f1" if is_ner else "macro_f1"}`, patience {t.early_stopping_patience}, best checkpoint restored:
  {tr.get('best_checkpoint_metric')}).
- batch {t.batch_size} × accumulation {t.gradient_accumulation} × {tr.get('processes', 1)} process(es),
  body lr {t.learning_rate}, head lr {t.head_learning_rate}, weight decay {t.weight_decay},
  warm-up {t.warmup_ratio:.0%} then linear decay, max length {t.max_length}, seed {t.seed},
  bf16 autocast: {tr.get('bf16')}, encoder layers kept: {t.num_layers or "all"},
  word embeddings frozen: {t.freeze_embeddings}.
- trainable parameters: {tr.get('trainable_parameters', 0):,} of {tr.get('total_parameters', 0):,} ({share:.1%}).
- {tr.get('samples_per_second')} samples/s, {tr.get('runtime_s')} s wall time, peak RSS
  {tr.get('peak_rss_mb')} MB.

## Data
```
{format_report(data_report, t.max_length)}
```

## Use
```bash
tuneforge predict {cfg.output_dir} --text "..."
tuneforge predict {cfg.output_dir} --input texts.txt --output predictions.jsonl
tuneforge evaluate {cfg.output_dir} --data labeled_file
```
Each prediction is one JSON line, e.g. `{example_out}`.

The directory is also a plain Hugging Face model:
`AutoModelFor{"TokenClassification" if is_ner else "SequenceClassification"}.from_pretrained("{cfg.output_dir}")`.

## Limits
Trained on {data_report['splits']['train']['examples']} examples of one source; expect lower scores on
text unlike it (other domains, lengths over {t.max_length} tokens are truncated). Check the data
report above before trusting the numbers.
"""
    (out / "README.md").write_text(card, encoding="utf-8")
