"""Reading a finished run directory: the one thing later stages (evaluate, predict, export, serve) need."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .config import Config, load_config
from .errors import TuneforgeError


@dataclass
class LoadedRun:
    path: Path
    cfg: Config
    labels: list[str]
    model: object
    tokenizer: object
    task: object
    bf16: bool

    def predict(self, texts: list[str], batch_size: int | None = None) -> list[dict]:
        return self.task.predict(self.model, self.tokenizer, texts, self.labels, self.cfg.train.max_length,
                                 batch_size or self.cfg.train.eval_batch_size, self.bf16)


def load_run(path: str | Path) -> LoadedRun:
    from .tasks.base import get_task, use_bf16

    path = Path(path)
    for name in ("config.yaml", "labels.json", "config.json"):
        if not (path / name).is_file():
            raise TuneforgeError(f"{path} is not a finished tuneforge run (no {name})", where=str(path),
                                 fix="point at the output_dir of a completed `tuneforge train`")
    cfg = load_config(path / "config.yaml")  # already resolved at training time
    labels = json.loads((path / "labels.json").read_text(encoding="utf-8"))
    task = get_task(cfg.task)
    model = task.model_class.from_pretrained(str(path))
    model.eval()
    tokenizer = task.load_processor(str(path))  # a tokenizer; for images an ImageProcessor
    return LoadedRun(path, cfg, labels, model, tokenizer, task, use_bf16(cfg))

