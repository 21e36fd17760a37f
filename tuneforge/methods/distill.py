"""`tuneforge distill TEACHER_RUN`: knowledge distillation (Hinton et al., 2015) into a smaller student.

loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, label)

The T^2 keeps the soft term's gradients on the same scale as the hard one's whatever T is (they shrink
as 1/T^2 otherwise). The student trains on the teacher run's own data and split (its resolved
config.yaml is the starting point, so seed, limits, redaction and augmentation are the same) and comes
out as an ordinary run directory: evaluate, predict, export and serve work on it unchanged.

Students: another backbone (`--student paraphrase-minilm-l3`: 3 layers instead of 6) with a fresh head,
or the teacher itself truncated to its first N layers (`--student-layers N`), which starts from the
teacher's fine-tuned weights and head — the lower layers plus a head that already fits them.

Teacher logits are computed once, before the first step, over the training split (one inference pass,
~1/3 of an epoch's cost) and kept beside the checkpoints, so a resumed run does not recompute them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import load_config
from ..errors import TuneforgeError
from ..rundir import CONFIG_FILE, METRICS_FILE, load_run
from ..train.run import train
from ..writing import write_json

LOGITS_FILE = "teacher_logits.pt"


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor | None,
                      temperature: float, alpha: float) -> torch.Tensor:
    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits.float() / t, -1), F.log_softmax(teacher_logits.float() / t, -1),
                    reduction="batchmean", log_target=True) * (t * t)
    if labels is None or alpha >= 1:
        return soft
    hard = F.cross_entropy(student_logits.float(), labels.view(-1))
    return alpha * soft + (1 - alpha) * hard


class TeacherLogitsCollator:
    """The task's collator for everything else; teacher logits (one vector per example) are stacked."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, features: list[dict]) -> dict:
        teacher = [f["teacher_logits"] for f in features if "teacher_logits" in f]
        batch = self.inner([{k: v for k, v in f.items() if k != "teacher_logits"} for f in features])
        if teacher:
            batch["teacher_logits"] = torch.stack(teacher)
        return batch


def _fingerprint(teacher_run: Path, texts: list[str]) -> str:
    h = hashlib.sha256()
    weights = teacher_run / "model.safetensors"
    h.update(f"{teacher_run.resolve()}|{weights.stat().st_size if weights.exists() else 0}|"
             f"{weights.stat().st_mtime_ns if weights.exists() else 0}".encode())
    for t in texts:
        h.update(t.encode("utf-8", "replace") + b"\0")
    return h.hexdigest()


def teacher_logits(teacher, examples, cache: Path | None = None, progress: bool = False) -> torch.Tensor:
    """[n, num_labels] teacher logits for `examples`, from `cache` when it was made from the same teacher
    and texts, else computed once (length-sorted batches, inference mode) and saved there."""
    key = _fingerprint(teacher.path, [e.text for e in examples])
    if cache is not None and cache.is_file():
        saved = torch.load(cache, weights_only=True)
        if saved.get("key") == key:
            return saved["logits"]
    task, cfg = teacher.task, teacher.cfg
    feats = task.encode(teacher.tokenizer, examples, teacher.labels, cfg.train.max_length)
    logits = torch.stack(task.batched_logits(teacher.model, feats, task.collator(teacher.tokenizer),
                                             cfg.train.eval_batch_size, teacher.bf16, progress)).float()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        torch.save({"key": key, "logits": logits}, tmp)
        tmp.replace(cache)
    return logits


def _student_overrides(teacher_run: Path, student: str | None, student_layers: int | None, output: Path) -> list[str]:
    base = [f"output_dir={output}", "train.method=full", "train.resume=true"]
    if student_layers is not None:
        # The teacher's own directory is the backbone: its lower layers and its head, kept as fine-tuned.
        return base + [f"backbone={teacher_run.resolve()}", f"train.num_layers={student_layers}"]
    # A different body: let its own defaults be resolved again (layers, pooling, embedding freeze).
    return base + [f"backbone={student}", "train.num_layers=null", "train.pooling=auto", "train.freeze_embeddings=null"]


def distill(teacher_run: str | Path, student: str | None = None, student_layers: int | None = None,
            temperature: float = 2.0, alpha: float = 0.5, output: str | Path | None = None,
            overrides: list[str] | tuple[str, ...] = (), progress: bool = True, overwrite: bool = False) -> Path:
    """Train a student on TEACHER_RUN's data and split; returns the student's run directory."""

    teacher_run = Path(teacher_run)
    if (student is None) == (student_layers is None):
        raise TuneforgeError("give exactly one of --student and --student-layers", where="command line",
                             fix="e.g. --student paraphrase-minilm-l3, or --student-layers 3 to truncate the teacher")
    if not temperature > 0 or temperature > 100:
        raise TuneforgeError(f"--temperature is {temperature}", where="command line",
                             fix="use a positive temperature; 1-4 is usual (2 is the default)")
    if not 0 <= alpha <= 1:
        raise TuneforgeError(f"--alpha is {alpha}", where="command line",
                             fix="use a weight in [0, 1]: 1 = teacher's soft labels only, 0 = hard labels only")
    teacher = load_run(teacher_run)  # checks it is a finished run
    if not teacher.task.classifies_texts:
        raise TuneforgeError(f"distillation supports text-classification runs; {teacher_run} is {teacher.cfg.task}",
                             where=str(teacher_run), fix="distil a text-classification run")
    n_layers = getattr(teacher.model.config, "num_hidden_layers", None)
    if student_layers is not None and not (n_layers is None or 1 <= student_layers < n_layers):
        raise TuneforgeError(f"--student-layers is {student_layers} but the teacher has {n_layers} layers",
                             where="command line", fix=f"keep between 1 and {(n_layers or 2) - 1} layers")
    name = student if student is not None else f"l{student_layers}"
    output = Path(output) if output else teacher_run.parent / f"{teacher_run.name}-student-{Path(name).name}"
    cfg = load_config(teacher_run / CONFIG_FILE,
                      _student_overrides(teacher_run, student, student_layers, output) + list(overrides))
    info: dict = {}

    def on_trainer(trainer, splits, labels):
        if labels != teacher.labels:
            raise TuneforgeError(f"the student's labels {labels} differ from the teacher's {teacher.labels}",
                                 where="overrides", fix="keep the teacher's data settings (data.*) unchanged")
        logits = teacher_logits(teacher, splits.train, Path(trainer.args.output_dir) / LOGITS_FILE, progress)
        for feat, row in zip(trainer.train_dataset, logits):  # encode() keeps the examples' order
            feat["teacher_logits"] = row
        trainer.data_collator = TeacherLogitsCollator(trainer.data_collator)
        trainer.distill_loss = lambda s, batch: distillation_loss(s, batch["teacher_logits"], batch.get("labels"),
                                                                  temperature, alpha)
        agree = (logits.argmax(-1) == torch.tensor([f["labels"] for f in trainer.train_dataset])).float().mean()
        info["teacher_train_accuracy"] = round(float(agree), 4)

    out = train(cfg, progress=progress, overwrite=overwrite, on_trainer=on_trainer)
    teacher_metrics = json.loads((teacher_run / METRICS_FILE).read_text(encoding="utf-8"))
    metrics = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
    t_acc, s_acc = teacher_metrics.get("test", {}).get("accuracy"), metrics.get("test", {}).get("accuracy")
    metrics["distillation"] = {
        "teacher_run": str(teacher_run.resolve()), "student": student or f"teacher truncated to {student_layers} layers",
        "temperature": temperature, "alpha": alpha, **info,
        "teacher_test_accuracy": t_acc, "student_test_accuracy": s_acc,
        "accuracy_retained": round(s_acc / t_acc, 4) if t_acc and s_acc is not None else None,
        "teacher_layers": n_layers, "student_layers": _layers(out),
    }
    write_json(out / METRICS_FILE, metrics)
    return out


def _layers(run: Path) -> int | None:
    try:
        return json.loads((run / "config.json").read_text(encoding="utf-8")).get("num_hidden_layers")
    except (OSError, ValueError):
        return None
