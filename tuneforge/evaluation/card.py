"""The model card (README.md in the run directory): what a stranger needs to trust and use the model."""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..tasks.pooling import REMOTE_CODE_FILE
from ..data.report import format_report


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
            rows.append(f"| {split}, baseline: {tfidf['model']} | {m['n']} | accuracy {m['accuracy']}, "
                        f"macro_f1 {m['macro_f1']} |")
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
    return f"## Automatic choices\nThe config left these to tuneforge; chosen from the training data:\n{lines}\n\n"


def _baseline_note(metrics: dict) -> str:
    """The classical baseline's settings, and the plain warning when fine-tuning did not beat it."""
    from .baseline import verdict
    tfidf = metrics.get("baseline_tfidf")
    if not tfidf or "C" not in tfidf:
        return ""
    note = (f"\nThe TF-IDF baseline was trained on the same training split in the same run (C={tfidf['C']:g}, "
            f"class weight {tfidf['class_weight']}, chosen on {tfidf['chosen_on']}).\n")
    warning = verdict(metrics)
    return note + (f"\n**Warning: {warning}.**\n" if warning else "")


def _pooling_note(cfg) -> str:
    if cfg.task != "text-classification":
        return ""
    if cfg.train.pooling == "mean":
        return ", sentence vector: mean of the token vectors (see Use: `trust_remote_code=True`)"
    return ", sentence vector: the [CLS] pooler"


def _image_parts(cfg: Config) -> dict:
    """The lines that differ for image-classification runs (inputs are images, not texts)."""
    im, o = cfg.image, cfg.output_dir
    aug = (f"random resized crop (area >= {im.crop_min_scale:.0%}){' + left-right flip' if im.flip else ''} on "
           "training batches" if im.augment else "none")
    return {
        "shape": (f"input {im.size}x{im.size} px, augmentation: {aug}, "
                  f"{'linear probe (body frozen, only the head trained)' if im.linear_probe else 'full fine-tuning'}"),
        "use": (f"tuneforge predict {o} --input image.png\ntuneforge predict {o} --input images_folder/ "
                f"--output predictions.jsonl\ntuneforge evaluate {o} --data labeled_folder_or_table"),
        "example": '{"image": "...", "label": "%s", "probabilities": {...}}',
        "hf": (f"`tuneforge.backbones.efficientnet.EfficientNetLiteForImageClassification.from_pretrained(\"{o}\")` "
               "(pixel_values: uint8 N x C x H x W; the model scales and normalises)"),
        "limits": (f"images unlike them (other cameras, backgrounds, sizes; inputs are centre-cropped and resized "
                   f"to {im.size} px). `worst_mistakes.png` shows the test images the model got wrong most confidently"),
    }


def write_card(out: Path, cfg: Config, labels: list[str], data_report: dict, metrics: dict) -> None:
    t, tr = cfg.train, metrics.get("train", {})
    img = _image_parts(cfg) if cfg.task == "image-classification" else None
    share = tr.get("trainable_parameters", 0) / max(1, tr.get("total_parameters", 1))
    is_ner = cfg.task == "token-classification"
    example_out = ('{"text": "...", "entities": [{"type": "PER", "text": "...", "start": 0, "end": 2, '
                   '"confidence": 0.98}]}' if is_ner else
                   (img["example"] if img else '{"text": "...", "label": "%s", "probabilities": {...}}') % labels[0])
    headline = "entity-level F1 (seqeval, strict IOB2)" if is_ner else "accuracy and macro F1"
    shape = img["shape"] if img else f"max length {t.max_length}"
    body = "" if img else f", encoder layers kept: {t.num_layers or 'all'}, word embeddings frozen: {t.freeze_embeddings}"
    use = img["use"] if img else (f'tuneforge predict {cfg.output_dir} --text "..."\n'
                                  f"tuneforge predict {cfg.output_dir} --input texts.txt --output predictions.jsonl\n"
                                  f"tuneforge evaluate {cfg.output_dir} --data labeled_file")
    auto = "TokenClassification" if is_ner else "SequenceClassification"
    hf_line = img["hf"] if img else f'`AutoModelFor{auto}.from_pretrained("{cfg.output_dir}")`'
    if not img and cfg.task == "text-classification" and cfg.train.pooling == "mean":
        # Without trust_remote_code transformers silently uses the [CLS] pooler, which was never trained:
        # on e5 runs 144/200 labels agreed with tuneforge's. Say so where users look.
        hf_line = (f'`AutoModelForSequenceClassification.from_pretrained("{cfg.output_dir}", trust_remote_code=True)`'
                   f' (or `pipeline("text-classification", model="{cfg.output_dir}", trust_remote_code=True)`).\n'
                   f"**`trust_remote_code=True` is required**: this model averages the token vectors "
                   f"(`{REMOTE_CODE_FILE}`, written by tuneforge, ~30 lines); without it transformers silently "
                   f"uses the untrained [CLS] pooler and gives wrong answers")
    limits = img["limits"] if img else f"text unlike it (other domains, lengths over {t.max_length} tokens are truncated)"
    card = f"""# {Path(cfg.output_dir).name}: {cfg.task} on `{cfg.backbone}`

Fine-tuned with tuneforge from `{cfg.backbone}` on `{cfg.data.train}`.
Labels ({len(labels)}): {", ".join(f"`{l}`" for l in labels)}.

## Results
Scores on held-out examples the model never trained on; headline: {headline}.

| split | examples | metrics |
|---|---|---|
{_metric_rows(metrics)}
{_baseline_note(metrics)}
The full per-label report is in `report.txt`; `confusion_matrix.png` and `learning_curve.png` show
where errors fall and how training went; `test_predictions.jsonl` lists every test prediction.

## Training
- {tr.get('steps')} optimizer steps over {tr.get('epochs')} epochs (early stopping on validation
  `{"entity_f1" if is_ner else "macro_f1"}`, patience {t.early_stopping_patience}, best checkpoint restored:
  {tr.get('best_checkpoint_metric')}).
- batch {t.batch_size} × accumulation {t.gradient_accumulation} × {tr.get('processes', 1)} process(es),
  body lr {t.learning_rate}, head lr {t.head_learning_rate}, weight decay {t.weight_decay},
  warm-up {t.warmup_ratio:.0%} then linear decay, {shape}, seed {t.seed},
  bf16 autocast: {tr.get('bf16')}{body}{_pooling_note(cfg)}.
- trainable parameters: {tr.get('trainable_parameters', 0):,} of {tr.get('total_parameters', 0):,} ({share:.1%}){tr.get('method_note', '')}.
- {tr.get('samples_per_second')} samples/s, {tr.get('runtime_s')} s wall time, peak RSS
  {tr.get('peak_rss_mb')} MB.

{_auto_section(tr)}## Data
```
{format_report(data_report, t.max_length)}
```

## Use
```bash
{use}
```
Each prediction is one JSON line, e.g. `{example_out}`.

The directory is also a plain Hugging Face model:
{hf_line}.

## Limits
Trained on {data_report['splits']['train']['examples']} examples of one source; expect lower scores on
{limits}. Check the data
report above before trusting the numbers.
"""
    (out / "README.md").write_text(card, encoding="utf-8")
