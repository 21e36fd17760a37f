"""`tuneforge export`: a finished run in, a self-contained export directory out, measured against fp32.

Every export is scored on the run's validation split (rebuilt from its config.yaml: same files, same
seed, same split) next to the fp32 PyTorch model in the same process, so size, speed and accuracy are
ratios and deltas that mean something on any machine. An export that loses more than `max_drop`
points of the task's main metric is refused unless forced. The directory is built beside its target
and renamed into place at the end: a refused or crashed export leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

from ..data.splits import load_splits
from ..errors import TuneforgeError
from ..evaluation.reference import REFERENCE
from ..rundir import CONFIG_FILE, LABELS_FILE, load_run
from ..writing import check_output_dir
from .card import add_export_row
from .formats import FORMATS, export_format, formats_for
from .load import EXPORT_INFO, is_export

MB = 1024 * 1024  # sizes in MiB, as `ls -lh` and `du -h` show them


AUTO = "auto"  # --format auto: every registered format measured here, the fastest that keeps accuracy chosen
AUTO_MAX_DROP = 0.5  # points of the main metric a format chosen by auto may lose against fp32 (issue 20)


def _check_request(run_path: Path, fmt: str, target: Path, overwrite: bool, max_drop: float) -> None:
    if fmt not in FORMATS and fmt != AUTO:
        raise TuneforgeError(f"unknown export format {fmt!r}", where="--format",
                             fix=f"use one of: {', '.join(FORMATS)}, or {AUTO} (the fastest on this machine)")
    if isinstance(max_drop, bool) or not isinstance(max_drop, (int, float)) or not math.isfinite(max_drop):
        # NaN compares false with everything: the accuracy guard would never fire.
        raise TuneforgeError(f"max_drop must be a finite number of points, got {max_drop!r}", where="--max-drop",
                             fix="e.g. --max-drop 1 (the default): refuse an export that loses more than 1 point")
    if is_export(run_path):
        raise TuneforgeError(f"{run_path} is already an export, not a run", where=str(run_path),
                             fix="export from the run directory that `tuneforge train` wrote")
    if target.exists() and not overwrite:
        raise TuneforgeError(f"{target} already exists", where="--output",
                             fix="choose another --output, or pass --overwrite to replace it")
    if target.resolve() == run_path.resolve() or run_path.resolve().is_relative_to(target.resolve()):
        raise TuneforgeError("the export would replace the run it is made from", where="--output",
                             fix="choose an --output outside the run directory's own path, e.g. RUN/exports/FORMAT")
    check_output_dir(target.parent, "--output")  # before minutes of export work, not after


def _reference_examples(cfg) -> tuple[str, list]:
    try:
        splits = load_splits(cfg)  # deterministic: the run's files, split shares and seed
    except TuneforgeError as e:
        raise TuneforgeError(f"cannot rebuild the run's validation set to measure the export: {e.what}",
                             where=e.where, fix="an export is scored on the data the run was trained on: restore "
                             "that file, or point data.* in the run's config.yaml at it") from None
    for name in ("validation", "test"):  # a run split without validation (e.g. [0.9, 0, 0.1]) still has test
        if getattr(splits, name):
            return name, getattr(splits, name)
    raise TuneforgeError("the run has no validation or test examples to measure an export on",
                         where=cfg.config_path or CONFIG_FILE, fix="train with a validation split")


def _timed_evaluate(run, model, examples: list, progress: bool = False) -> tuple[dict, float]:
    """(metrics, samples/s) of one full pass: tokenising, length-sorted batches, post-processing."""
    t = run.cfg.train
    # Warm-up outside the clock: first calls pay one-off costs (ORT arena, kernel selection, lazy imports).
    run.task.evaluate(model, run.tokenizer, examples[:8], run.labels, t.max_length, t.eval_batch_size, False,
                      progress=False)
    t0 = time.perf_counter()
    # bf16=False: the reference is the fp32 model, and the exports carry their own precision.
    res = run.task.evaluate(model, run.tokenizer, examples, run.labels, t.max_length, t.eval_batch_size, False,
                            progress=progress)  # a decoder's answers take minutes: the CLI shows their bar
    return res["metrics"], len(examples) / (time.perf_counter() - t0)


def _main(task) -> str:
    """The score an export is held to, in points: the task's selection metric, or its export_metric where that
    metric does not read as points (text generation selects on loss, and is held to ROUGE-L)."""
    return task.export_metric or task.metric_for_best


def _headline(task, metrics: dict) -> dict:
    # the main score, plus accuracy where the task reports one (token accuracy is not compared)
    keys = [k for k in task.headline_metrics if k in (_main(task), "accuracy")]
    return {k: round(float(metrics[k]), 6) for k in keys}


def _size_mb(files: list[Path]) -> float:
    return round(sum(f.stat().st_size for f in files) / MB, 2)


def _assemble(run, fmt: str, out: Path) -> None:
    """Everything a stranger needs beside the weights: tokenizer, labels, the run's config."""
    spec = export_format(fmt)
    spec.write(run.model, run.tokenizer, out)
    run.tokenizer.save_pretrained(str(out))
    for name in (LABELS_FILE, CONFIG_FILE):
        shutil.copy2(run.path / name, out / name)
    if (run.path / REFERENCE).is_file():  # drift is measured against it; the export may be served far from its run
        shutil.copy2(run.path / REFERENCE, out / REFERENCE)
    if spec.needs_hf_config:  # the HF config documents architecture and id2label; torch formats write their own
        shutil.copy2(run.path / "config.json", out / "config.json")
    if (run.path / "generation_config.json").is_file() and not (out / "generation_config.json").is_file():
        shutil.copy2(run.path / "generation_config.json", out / "generation_config.json")  # a decoder's settings


def _measure(ref, fmt: str, out: Path, examples: list, progress: bool = False) -> dict:
    """Write `fmt` into `out`, load it as load_predictor will, and score it on `examples` right after the fp32
    model (back to back, after the CPU-heavy export: both passes see the same machine)."""
    _assemble(ref, fmt, out)
    exported = export_format(fmt).load(out, ref.task)
    fp32_metrics, fp32_speed = _timed_evaluate(ref, ref.model, examples, progress)
    exp_metrics, exp_speed = _timed_evaluate(ref, exported, examples, progress)
    a, b = _headline(ref.task, fp32_metrics), _headline(ref.task, exp_metrics)
    return {"fp32": a, "export": b, "delta_points": {k: round((b[k] - a[k]) * 100, 4) for k in a},
            "fp32_speed": fp32_speed, "export_speed": exp_speed}


def _choose(ref, tmp: Path, examples: list, max_drop: float, progress: bool = False) -> tuple[str, dict, dict]:
    """--format auto: every format written and measured in turn (each beside its own fp32 pass); the fastest
    relative to fp32 among those within min(max_drop, AUTO_MAX_DROP) points wins. Every registered format answers
    a text the same alone or in a batch (tests/export), so none is ruled out for that. Returns (format, its
    measurement, the record of the choice); the winner is left in `tmp`."""
    from ..tasks.base import cpu_description
    allowed, main = min(max_drop, AUTO_MAX_DROP), _main(ref.task)
    candidates = [f for f in formats_for(ref.task) if export_format(f).in_auto]
    if not candidates:
        raise TuneforgeError(f"--format auto measures the formats tuneforge serves faster than fp32; a "
                             f"{ref.cfg.task} run has none", where="--format auto",
                             fix=f"name one: {', '.join(formats_for(ref.task))}, or serve the run directory itself")
    results, best = {}, None
    for fmt in candidates:
        out = tmp.with_name(f"{tmp.name}.{fmt}")
        out.mkdir()
        try:
            results[fmt] = r = _measure(ref, fmt, out, examples, progress)
        except BaseException:  # nothing of this try is left behind: this candidate, nor the best so far
            shutil.rmtree(out, ignore_errors=True)
            if best is not None:
                shutil.rmtree(tmp.with_name(f"{tmp.name}.{best}"), ignore_errors=True)
            raise
        ok = -r["delta_points"][main] <= allowed
        if ok and (best is None or r["export_speed"] / r["fp32_speed"] > results[best]["export_speed"] /
                   results[best]["fp32_speed"]):
            if best is not None:
                shutil.rmtree(tmp.with_name(f"{tmp.name}.{best}"), ignore_errors=True)
            best = fmt
        else:
            shutil.rmtree(out, ignore_errors=True)
    record = {"rule": f"the fastest against fp32 of {', '.join(candidates)} within {allowed:g} points of {main}",
              "cpu": cpu_description(), "chosen": best,
              "candidates": {f: {"speed_ratio": round(r["export_speed"] / r["fp32_speed"], 3),
                                 "export_samples_per_s": round(r["export_speed"], 2),
                                 "fp32_samples_per_s": round(r["fp32_speed"], 2),
                                 "delta_points": r["delta_points"][main]} for f, r in results.items()}}
    if best is None:
        raise TuneforgeError(f"no export format stays within {allowed:g} points of the fp32 model's {main}: "
                             + ", ".join(f"{f} {r['delta_points'][main]:+.2f}" for f, r in results.items()),
                             where="--format auto", fix="keep the fp32 run itself (serve or register the run "
                             "directory), or pick a format by name with --force")
    shutil.rmtree(tmp)
    os.rename(tmp.with_name(f"{tmp.name}.{best}"), tmp)
    return best, results[best], record


def export_run(run: str | Path, fmt: str, output: str | Path | None = None, force: bool = False,
               overwrite: bool = False, max_drop: float = 1.0, update_card: bool = True,
               progress: bool = False) -> tuple[Path, dict]:
    """Export `run` as `fmt` into `output` (default RUN/exports/FMT); returns (directory, export.json).

    `fmt` "auto": every format measured on this machine, the fastest within 0.5 points chosen (export.json
    `auto` records the candidates, the rule and the CPU). `max_drop`: points of the task's main metric (macro_f1,
    micro_f1, entity_f1; rouge_l for a decoder) the export may lose against fp32 before it is refused; `force` keeps
    it anyway. `update_card=False` leaves the run's README.md alone (benchmarks export into scratch directories).
    `progress`: the evaluation passes' bars (the CLI's; a decoder's generated answers take minutes)."""
    import onnxruntime
    import torch

    run_path = Path(run)
    target = Path(output) if output else run_path / "exports" / fmt
    _check_request(run_path, fmt, target, overwrite, max_drop)
    ref = load_run(run_path)  # raises 'not a finished tuneforge run' for anything else
    fits = formats_for(ref.task)
    if not fits:
        raise TuneforgeError(ref.task.export_note or f"a {ref.cfg.task} run has no export format",
                             where=str(run_path), fix=f"register the run itself: tuneforge registry add NAME {run_path}")
    if fmt not in fits and fmt != AUTO:
        holds = "a decoder that generates text" if export_format(fmt).decoder else "a text classifier's graph"
        raise TuneforgeError(f"{fmt} holds {holds}; a {ref.cfg.task} run exports as {', '.join(fits)}", where="--format",
                             fix=f"use one of: {', '.join(fits)}")
    split, examples = _reference_examples(ref.cfg)
    main = _main(ref.task)

    made_parent = not target.parent.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        auto = None
        if fmt == AUTO:
            fmt, r, auto = _choose(ref, tmp, examples, max_drop, progress)
        else:
            r = _measure(ref, fmt, tmp, examples, progress)
        delta = r["delta_points"]
        refused = -delta[main] > max_drop
        if refused and not force:
            raise TuneforgeError(
                f"the {fmt} export scores {main} {r['export'][main]:.4f} on the {split} set ({len(examples)} "
                f"examples) against {r['fp32'][main]:.4f} for the fp32 model: {-delta[main]:.2f} points lost, more "
                f"than the {max_drop:g} allowed; nothing was written", where=str(run_path),
                fix=f"keep the fp32 run, or use a format that keeps more ({', '.join(f for f in fits if f != fmt)}), "
                    f"or pass --force to export it anyway")
        fp32_size = _size_mb([run_path / "model.safetensors"])
        size = _size_mb([tmp / f for f in export_format(fmt).files])
        info = {
            "format": fmt,
            "task": ref.cfg.task,
            "source_run": str(run_path.resolve()),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "size_mb": size,
            "fp32_size_mb": fp32_size,
            "size_ratio": round(size / fp32_size, 4),
            "evaluated_on": {"split": split, "examples": len(examples)},
            "speed": {"fp32_samples_per_s": round(r["fp32_speed"], 2),
                      "export_samples_per_s": round(r["export_speed"], 2),
                      "ratio": round(r["export_speed"] / r["fp32_speed"], 3),
                      "batch_size": ref.cfg.train.eval_batch_size, "threads": torch.get_num_threads()},
            "metrics": {"fp32": r["fp32"], "export": r["export"], "delta_points": delta},
            "main_metric": main,
            "max_drop_points": max_drop,
            "forced": bool(refused),
            "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        }
        if auto is not None:
            info["auto"] = auto
        info["files"] = sorted(p.name for p in tmp.iterdir()) + [EXPORT_INFO]
        (tmp / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        _move_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if made_parent:
            try:
                target.parent.rmdir()  # only if still empty: RUN/exports made for this export alone
            except OSError:
                pass
        raise
    if update_card:
        add_export_row(run_path, target, info)
    return target, info


def _move_into_place(tmp: Path, target: Path) -> None:
    if not target.exists():
        os.rename(tmp, target)
        return
    # --overwrite: the old export steps aside only once the new one is complete, then goes.
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.rename(target, old)
    os.rename(tmp, target)
    shutil.rmtree(old) if old.is_dir() else old.unlink()
