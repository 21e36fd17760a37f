"""What every task shares: the registry, model loading with the body/head split, batched inference.

A task is one module that subclasses `Task` and registers itself with `@register_task("name")`.
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass
from typing import Any

import torch

from ..config import TASK_INPUTS, Config

TASK_REGISTRY: dict[str, type["Task"]] = {}


def register_task(name: str):
    def deco(cls):
        cls.name = name
        TASK_REGISTRY[name] = cls
        return cls
    return deco


def find_task(name) -> "Task | None":
    """get_task for a name read from a run directory, which may be damaged: None for an unknown task."""
    try:
        return get_task(name) if isinstance(name, str) else None
    except KeyError:
        return None


def get_task(name: str) -> "Task":
    """The task a config names. Its module is named after it (text-classification: tasks/text_classification.py)
    and registers itself when imported, so a new task is one module; only the asked-for task is imported (text runs
    never load the image stack)."""
    if name not in TASK_REGISTRY and name in TASK_INPUTS:
        importlib.import_module(f"{__package__}.{name.replace('-', '_')}")
    return TASK_REGISTRY[name]()


@dataclass
class TaskDefaults:
    """Measured defaults per task; see BENCHMARKS.md for the runs behind them."""
    learning_rate: float
    head_learning_rate: float
    num_layers: int | None  # None: keep all
    dropout: float | None  # None: keep the backbone's
    freeze_embeddings: bool | None = None  # None: freeze only huge (>100k-piece) vocabularies


def bf16_supported() -> bool:
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    # Native bf16 matmul (AVX512-BF16 or AMX); without it autocast to bf16 is slower than fp32.
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_description() -> dict:
    """The CPU as measurements and automatic choices record it: these machines differ (AMX / AVX-512 / AVX2)."""
    import platform
    try:
        info = open("/proc/cpuinfo").read()
    except OSError:
        info = ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                platform.processor() or platform.machine())
    return {"model_name": name, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": bf16_supported(), "threads": torch.get_num_threads()}


def use_bf16(cfg: Config) -> bool:
    return cfg.train.bf16 == "true" or (cfg.train.bf16 == "auto" and bf16_supported())


def autocast(enabled: bool):
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast("cuda" if torch.cuda.is_available() else "cpu", dtype=torch.bfloat16)


class Task:
    name: str = ""
    metric_for_best: str = ""  # key in compute_metrics' output
    # What a task declares so the layers above need not test its name (spaCy's components declare their scores):
    headline_metrics: tuple[str, ...] = ()  # the scores metrics.json, the card and export comparisons report
    single_label: bool = False  # one label per input: a majority baseline and class weighting apply
    multi_label: bool = False  # a set of labels per text, one yes/no each: the one-vs-rest TF-IDF baseline applies
    confusion_title: str = "Test confusion"  # the confusion_matrix.png title (NER: by entity type per word)
    greater_is_better: bool = True  # of metric_for_best (text generation selects on validation loss: lower)
    predicts_labels: bool = True  # predictions carry a label and confidence that drift counts (generation: text)
    # What `tuneforge export` writes of this task's runs: "classifier" graphs (ONNX, int8, bf16), a "decoder"
    # (GGUF), or None with export_note saying why nothing
    export_kind: str | None = "classifier"
    export_note: str | None = None
    export_metric: str | None = None  # the score an export may not lose (points); None: metric_for_best
    # Training batches from whole-data length buckets (train/trainer.py LengthBuckets) rather than transformers'
    # mega-batches: for long-tailed sequences (chats), where padding is most of a step; the classifiers keep
    # transformers' grouping, which their measured numbers (BENCHMARKS.md) were made with.
    length_buckets: bool = False
    takes_text: bool = True  # inputs are texts: the TF-IDF baseline (single-label) and the drift reference apply
    validation_metrics: tuple[str, ...] = ()  # what compute_metrics reports while training (tuning selects on these)
    label_kind: str = "labels"  # what a run's labels are called in messages ("entity types" for NER)
    input_kind: str = "text"  # what its data files hold, as config.TASK_INPUTS says: text, tokens or images
    peft_task_type: str | None = None  # PEFT's TaskType name for its model head (SEQ_CLS, ...); None: PEFT does not apply
    model_class: Any = None  # an AutoModelFor... class
    defaults: TaskDefaults

    @property
    def classifies_texts(self) -> bool:
        """One label per whole text: what SetFit, zero-shot, distillation and the apps' classifiers need."""
        return self.single_label and self.takes_text

    @property
    def labels_whole_texts(self) -> bool:
        """A label (or a set of them) per whole text: the TF-IDF baseline and head+tail truncation apply."""
        return self.takes_text and (self.single_label or self.multi_label)

    def card_parts(self, cfg: Config, labels: list[str]) -> dict:
        """The model card's lines that differ by task (tuneforge.evaluation.card writes the rest): headline,
        shape and body (training settings), use (commands), example (a prediction line), hf (plain Hugging
        Face loading), limits. These are a text classifier's; other tasks override what differs."""
        t, o = cfg.train, cfg.output_dir
        return {
            "headline": "accuracy and macro F1",
            "shape": f"max length {t.max_length}",
            "body": f", encoder layers kept: {t.num_layers or 'all'}, word embeddings frozen: {t.freeze_embeddings}",
            "use": (f'tuneforge predict {o} --text "..."\ntuneforge predict {o} --input texts.txt --output '
                    f"predictions.jsonl\ntuneforge evaluate {o} --data labeled_file"),
            "example": '{"text": "...", "label": "%s", "probabilities": {...}}' % labels[0],
            "hf": f'`AutoModelForSequenceClassification.from_pretrained("{o}")`',
            "limits": f"text unlike it (other domains, lengths over {t.max_length} tokens are truncated)",
        }

    def summarize(self, pred: dict) -> tuple[str | None, float | None]:
        """(label, confidence) of one served prediction, what drift monitoring counts (the request log, the
        run's reference.json): here the top class and its probability."""
        if "probabilities" in pred:
            return pred.get("label"), max(pred["probabilities"].values(), default=None)
        return pred.get("label"), pred.get("confidence")

    def baseline(self, cfg: Config, processor, labels: list[str], splits, bf16: bool) -> tuple[str, dict] | None:
        """A reference the task scores in the same run beside the fine-tuned model: (metrics.json key, section), or
        None. Text generation asks the untuned backbone; classifiers get the TF-IDF baseline from evaluation/."""
        return None

    def known_labels(self, labels: list[str]) -> set[str]:
        """The names a labeled file may use, given the run's labels (NER: the entity types of its tags)."""
        return set(labels)

    # -- model ---------------------------------------------------------------------------------
    def load_processor(self, path: str):
        """What turns inputs into features, from a backbone or run directory: a tokenizer for text."""
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(path)
        if tok.pad_token is None and tok.eos_token is not None:
            tok.pad_token = tok.eos_token  # decoders often ship without one; batches still need padding
        return tok

    def configure_processor(self, processor, cfg: Config):
        """Apply what a run's config says about reading inputs to a loaded processor (text classification: which
        tokens of a long text are kept); called wherever a run's processor is loaded."""
        return processor

    def build_model(self, backbone_path: str, labels: list[str], cfg: Config):
        """Load the body, add a fresh head for `labels`, apply num_layers / dropout / embedding freeze.

        Returns (model, names of freshly initialised parameters) so the optimizer can give the head
        its own learning rate."""
        from transformers import AutoConfig
        t = cfg.train
        hf_cfg = AutoConfig.from_pretrained(backbone_path, num_labels=len(labels),
                                            id2label=dict(enumerate(labels)),
                                            label2id={l: i for i, l in enumerate(labels)})
        if t.dropout is not None:
            for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
                if hasattr(hf_cfg, key):
                    setattr(hf_cfg, key, t.dropout)
        keep = t.num_layers
        if keep is not None and keep < getattr(hf_cfg, "num_hidden_layers", keep):
            # Loading a config with fewer layers simply skips the upper layers' weights.
            hf_cfg.num_hidden_layers = keep
        model, info = self.model_class.from_pretrained(backbone_path, config=hf_cfg, output_loading_info=True)
        fresh = {k for k in info["missing_keys"]}
        if t.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        return model, fresh

    # -- inference -----------------------------------------------------------------------------
    @staticmethod
    def batched_logits(model, features: list[dict], collator, batch_size: int, bf16: bool,
                       progress: bool = False) -> list[torch.Tensor]:
        """Logits per example, in input order. Batches are formed from length-sorted examples so each
        pads only to its own longest item; results are reduced per batch, never accumulated padded."""
        from tqdm.auto import tqdm
        model.eval()
        order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
        out: list[Any] = [None] * len(features)
        starts = range(0, len(order), batch_size)
        with torch.inference_mode(), autocast(bf16):
            for s in tqdm(starts, desc="predict", disable=not progress, unit="batch"):
                idx = order[s:s + batch_size]
                batch = collator([{k: v for k, v in features[i].items() if k != "labels"} for i in idx])
                batch = {k: v.to(model.device) for k, v in batch.items()}
                logits = model(**batch).logits.float()
                for j, i in enumerate(idx):
                    n = int(batch["attention_mask"][j].sum())
                    out[i] = logits[j, :n] if logits.dim() == 3 else logits[j]
        return out
