"""Typed run configuration: YAML file + dotted `key=value` overrides, validated in one place.

Every field carries `help` metadata; `tuneforge train --help-config` prints them. Fields left as
None mean "the task's measured default" and are filled by `resolve()`, so the resolved config
written into a run directory always shows the values that were actually used.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from .errors import TuneforgeError

TASKS = ("text-classification", "token-classification", "image-classification")
TAG_SCHEMES = ("auto", "BIO", "BIOES", "BMES")
# How the body is tuned. "auto" = full fine-tuning, or setfit below a per-class count (tuneforge.methods.setfit).
# Every other name is a registered method (tuneforge.methods.registry; tests/methods/test_registry.py keeps the
# two lists in agreement), except the refused ones, named here so the refusal can explain itself.
REFUSED_METHODS = ("prefix", "prompt")
METHODS = ("auto", "full", "lora", "prefix", "prompt", "ia3", "setfit")
POOLINGS = ("auto", "cls", "mean")
# Adversarial training on the word-embedding output (tuneforge.train.adversarial).
ADVERSARIAL = ("none", "fgm", "pgd")


def _f(default: Any, help: str, **kw) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


@dataclass
class AugmentConfig:
    per_example: int = _f(0, "Augmented copies added per training example; 0 = off. EDA's paper: 16 for ~500 "
                             "examples, 8 for ~2,000, 4 for 5,000+. Copies go into train only (never validation/test).")
    ops: list[str] = _f(["synonym", "insert", "swap", "delete"],
                        "EDA operations, one drawn per copy: synonym (WordNet 3.0 for English, Tongyici Cilin for "
                        "Chinese), insert (a synonym at a random place), swap, delete; Chinese works on Cilin words "
                        "and single characters. back_translation is a hook that needs a translation model, which "
                        "tuneforge does not ship (register one with tuneforge.data.augment.register_op).")
    prob: float = _f(0.1, "Share of words changed per copy (EDA's alpha; delete drops each word with this probability).")
    seed: int | None = _f(None, "Seed of the augmentation. Default: train.seed.")


@dataclass
class DataConfig:
    train: str | None = _f(None, "Training file (CSV, TSV, JSONL, or token-per-line for NER). With no "
                                 "validation/test file it is split 80/10/10, stratified and seeded.")
    validation: str | None = _f(None, "Validation file; if absent, carved out of train (10%).")
    test: str | None = _f(None, "Test file; if absent, carved out of train (10%).")
    format: str | None = _f(None, "csv | tsv | jsonl | conll. Default: from the file extension "
                                  "(.txt/.conll/.bio/.bmes are token-per-line).")
    text_column: str = _f("text", "Column (or JSON key) that holds the text.")
    label_column: str = _f("label", "Column (or JSON key) that holds the label.")
    tag_scheme: str = _f("auto", "NER input tag scheme: auto | BIO | BIOES | BMES. Always converted to BIO (IOB2).")
    encoding: str = _f("utf-8", "Text encoding of the data files.")
    bad_rows: str = _f("error", "error | skip. A row with empty text, a missing label or a malformed line stops "
                                "the run with file:line (error), or is dropped and counted in the report (skip).")
    split: list[float] = _f([0.8, 0.1, 0.1], "Train/validation/test shares when one file is split.")
    train_limit: int | None = _f(None, "Use at most this many training examples (seeded sample; for "
                                       "quick runs and learning curves).")
    validation_limit: int | None = _f(None, "Validate on at most this many examples (seeded sample): "
                                            "validation runs several times per epoch, so a large set costs time.")
    test_limit: int | None = _f(None, "Evaluate on at most this many test examples (seeded sample).")
    redact: list[str] = _f([], "PII to replace by placeholders in every split right after reading, before "
                               "dedup and split: any of email, phone, id_card, bank_card, url, ip ([] = off). "
                               "Counts per type go into the data report.")
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class TrainConfig:
    epochs: float | None = _f(None, "Maximum passes over the training data (early stopping may end sooner). "
                                    "Default (auto): 3, raised on small data to reach train.min_steps.")
    min_steps: int = _f(200, "With epochs left to auto: at least this many optimizer steps (small data sets get more "
                             "epochs), and early stopping never ends training before it.")
    class_weight: str = _f("auto", "auto | none | balanced. balanced weights each class's loss by n / (classes x "
                                   "count); auto: balanced when the largest training class is at least "
                                   "3x the smallest (single-label classification).")
    batch_size: int = _f(16, "Examples per optimizer micro-batch, per process.")
    eval_batch_size: int = _f(64, "Examples per evaluation batch.")
    gradient_accumulation: int = _f(1, "Micro-batches per optimizer step.")
    learning_rate: float | None = _f(None, "Learning rate of the pretrained body. Default: task-specific.")
    head_learning_rate: float | None = _f(None, "Learning rate of the freshly initialised head "
                                                "(a fresh head learns faster than the body).")
    weight_decay: float = _f(0.01, "AdamW weight decay (not applied to biases and LayerNorm).")
    warmup_ratio: float = _f(0.06, "Share of steps with linear warm-up; then linear decay to 0.")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm.")
    max_length: int | None = _f(None, "Maximum tokens per example; longer ones are truncated (check-data reports "
                                      "how many). Default (auto): the 95th percentile of the training texts' "
                                      "lengths, rounded up to a multiple of 32, between 64 and the backbone's limit.")
    seed: int = _f(42, "One seed for data split, sampling, initialisation and shuffling.")
    bf16: str = _f("auto", "auto | true | false. bf16 autocast; 'auto' enables it where the CPU has "
                           "native bf16 (AVX512-BF16/AMX) or on a CUDA GPU that supports it.")
    num_layers: int | None = _f(None, "Keep only the first N encoder layers (lower layers carry more "
                                      "token-level information; fewer layers train faster). Default: task-specific.")
    freeze_embeddings: bool | None = _f(None, "Freeze the word-embedding matrix (huge for 250k-piece vocabularies). "
                                              "Default: task-specific.")
    dropout: float | None = _f(None, "Override the backbone's dropout (hidden and attention). Default: keep it.")
    method: str = _f("auto", "full | lora | prefix | prompt | ia3 | setfit | auto. full fine-tunes every weight; "
                              "lora/ia3 train a small PEFT adapter (settings under peft:) plus the head and merge "
                              "it into the saved weights; prefix/prompt are refused (virtual tokens cannot be "
                              "merged into a plain model); setfit is "
                              "contrastive few-shot tuning. auto: full, or setfit below 100 examples per class (measured: BENCHMARKS.md).")
    pooling: str = _f("auto", "cls | mean | auto: how a sentence becomes one vector for the classification head. "
                              "auto: mean for sentence-embedding backbones that ship no pooler (e5, MiniLM "
                              "sentence-transformers), else the backbone's own [CLS] pooler.")
    adversarial: str = _f("none", "none | fgm | pgd. Adversarial training: each step also trains on the batch with "
                                  "its word-embedding output pushed along the loss gradient (FGM: one step of norm "
                                  "epsilon; PGD: adversarial_steps steps of adversarial_alpha, kept within epsilon). "
                                  "Perturbs activations, so it works with frozen embeddings; costs ~2x (fgm) or "
                                  "~(1+steps)x (pgd) per step.")
    # 1.0 per example (the popular snippet's number, which it spreads over a whole batch) drove minilm-l6 on
    # polarity to chance, 0.50 (benchmarks/results/adversarial-polarity-eps1.json); 0.25 is about that
    # snippet's size per example at batch 16, and trains (0.8175).
    adversarial_epsilon: float = _f(0.25, "L2 norm of the perturbation per example (over all its token vectors).")
    adversarial_steps: int = _f(3, "PGD ascent steps per training step (fgm ignores it).")
    adversarial_alpha: float | None = _f(None, "PGD step size (L2 norm per example). Default: 0.3 x adversarial_epsilon "
                                               "(the ratio of the common K=3, epsilon=1, alpha=0.3 recipe).")
    early_stopping_patience: int = _f(2, "Stop after this many evaluations without improvement; 0 disables.")
    evals_per_epoch: int = _f(2, "Validation evaluations (and checkpoints) per epoch.")
    group_by_length: bool = _f(True, "Batch examples of similar length together (less padding).")
    resume: bool = _f(True, "Resume from the last checkpoint in output_dir if one exists (after a kill).")
    logging_steps: int = _f(10, "Log the training loss every N steps.")
    baseline: bool = _f(True, "text-classification: also fit TF-IDF + logistic regression on the same split (seconds; "
                              "C and class weighting chosen on validation) and report it beside the fine-tuned "
                              "model, saying so when fine-tuning does not beat it.")


@dataclass
class ZeroShotConfig:
    """`tuneforge zero-shot`: classify with no training (tuneforge.methods.zero_shot); flags override these."""
    method: str = _f("embedding", "embedding | llm. embedding: cosine between a sentence encoder's embeddings of "
                                  "the text and of each label's description; llm: mean log-likelihood of each "
                                  "label as the answer of an instruction-tuned LM (packaged SmolLM2-135M-Instruct).")
    labels: list[str] = _f([], "Labels to choose from. Default ([]): the labels of the training data.")
    backbone: str | None = _f(None, "embedding: a sentence encoder (default: the config's backbone); llm: a causal "
                                    "LM directory (default: smollm2-135m-instruct).")
    template: str | None = _f(None, "embedding: label description with {label} (default 'This text is {label}.'); "
                                    "llm: the user prompt with {text} and optionally {labels}.")
    descriptions: dict[str, str] = _f({}, "embedding: a description per label, overriding the template.")
    verbalizers: dict[str, str] = _f({}, "llm: the answer scored for each label (default: the label itself).")
    calibrate: bool = _f(True, "llm: subtract the scores of the content-free input 'N/A' (the model's label prior).")
    batch_size: int = _f(32, "Texts (embedding) or prompt+label sequences (llm) per forward pass.")


@dataclass
class PeftConfig:
    """`train.method: lora | ia3` (tuneforge.methods.peft_adapters): a small adapter trains, the body stays frozen."""
    r: int = _f(8, "LoRA rank: width of the low-rank update A·B added to each target layer (ia3 ignores it).")
    alpha: float = _f(16.0, "LoRA scaling: the update is multiplied by alpha / r (ia3 ignores it).")
    dropout: float = _f(0.1, "Dropout on the LoRA branch's input (ia3 ignores it).")
    target_modules: list[str] | None = _f(None, "Names (suffixes) of the linear layers to adapt. Default: LoRA "
                                                "on every linear layer of BERT-style encoders (measured: "
                                                "BENCHMARKS.md), PEFT's per-architecture choice otherwise "
                                                "(key,value,output.dense for IA3 on BERT).")


@dataclass
class SetFitConfig:
    """`train.method: setfit` (tuneforge.methods.setfit): contrastive tuning of the encoder on sampled sentence
    pairs, then a light head. Body rate, batch size (pairs), seed, max_length come from train.*."""
    pairs_per_example: int = _f(20, "R: every training example gets R positive partners (same label) and R negative "
                                    "ones (another label), sampled with train.seed: 2*R*n pairs, never n^2 "
                                    "(SetFit's num_iterations; its default 20).")
    max_pairs: int = _f(10000, "Hard cap on pairs (half positive, half negative), so a large training set stays "
                               "affordable; setfit is meant for few examples per class anyway.")
    epochs: float = _f(1.0, "Passes over the pairs (SetFit's default: 1).")
    head: str = _f("logistic", "logistic | linear: the head on the tuned, frozen embeddings. logistic: scikit-learn "
                               "logistic regression (SetFit's default) copied into the linear classifier; linear: "
                               "setfit.head_epochs of the classifier alone at train.head_learning_rate.")
    head_c: float = _f(1.0, "logistic head: inverse L2 strength (scikit-learn's C) on embeddings scaled to mean norm 1.")
    head_epochs: int = _f(50, "linear head: epochs over the training embeddings.")


@dataclass
class TuneConfig:
    """`tuneforge tune CONFIG --trials N` (tuneforge.methods.tune): Optuna search over config keys."""
    space: dict[str, dict] = _f({}, "Search space: a config key -> {low, high[, log][, step]} (numbers) or "
                                    "{choices: [...]}, e.g. train.learning_rate: {low: 1e-5, high: 3e-4, log: true}.")
    metric: str | None = _f(None, "Validation metric to optimise (accuracy, macro_f1; entity_f1, entity_precision, "
                                  "entity_recall for NER). Default: the task's early-stopping metric. Never test.")
    direction: str = _f("maximize", "maximize | minimize.")
    output_dir: str | None = _f(None, "Study directory: study.db (SQLite, resumable), one run directory per trial, "
                                      "results.csv/.md, tune.png, best.yaml. Default: <output_dir>-tune.")
    startup_trials: int = _f(5, "Random trials before TPE starts modelling (Optuna's default of 10 is most of "
                                "a CPU-sized budget).")
    prune_after_trials: int = _f(2, "Median pruning starts once this many trials have finished.")
    prune_warmup_evals: int = _f(1, "A trial is never pruned at its first N validation evaluations.")
    keep_runs: str = _f("best", "best | all: which finished trial run directories stay on disk.")


@dataclass
class ImageConfig:
    """task: image-classification (tuneforge.tasks.image_classification, tuneforge.data.images)."""
    size: int = _f(224, "Network input resolution in pixels (square). efficientnet-lite0 was trained at 224; "
                        "compute grows with size^2 (Fashion-MNIST: see BENCHMARKS.md). Image files are "
                        "centre-cropped to this size when read; smaller IDX images keep their size and are "
                        "scaled up inside the model.")
    augment: bool = _f(True, "Random resized crop (+ flip) on training batches only; evaluation and "
                             "prediction always see the plain image.")
    crop_min_scale: float = _f(0.6, "Smallest share of the image area a random crop keeps (torchvision's "
                                    "RandomResizedCrop uses 0.08 for ImageNet; small images need more).")
    flip: bool = _f(True, "Mirror left-right at random during training (turn off for text, digits, arrows).")
    linear_probe: bool = _f(False, "Freeze the pretrained body (batch-norm statistics included) and train only "
                                   "the new head: fast, a baseline; full fine-tuning is usually far better.")
    path_column: str = _f("path", "CSV/JSONL column (key) holding the image path, relative to that file.")
    class_names: list[str] = _f([], "IDX files: names of labels 0, 1, 2, ... ([] = the numbers themselves).")


@dataclass
class Config:
    task: str = _f("text-classification", f"One of {', '.join(TASKS)}.")
    backbone: str = _f("minilm-l6", "Packaged short name (see `tuneforge models`), a local Hugging Face "
                                    "directory, or a hub id (needs internet).")
    output_dir: str = _f("runs/run", "Run directory: weights, tokenizer, labels, metrics, report, plots, card.")
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    peft: PeftConfig = field(default_factory=PeftConfig)
    setfit: SetFitConfig = field(default_factory=SetFitConfig)
    zero_shot: ZeroShotConfig = field(default_factory=ZeroShotConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    config_path: str | None = _f(None, "Where this config was read from (set automatically).")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- loading and overrides

def _coerce(value: Any, typ: Any, key: str) -> Any:
    """Turn a YAML/CLI value into the field's declared type, or raise a TuneforgeError naming the key."""
    origin = get_origin(typ)
    args = get_args(typ)
    if value is None:
        if type(None) in args:
            return None
        raise TuneforgeError(f"`{key}` may not be empty", where="config", fix=f"give `{key}` a value")
    if args and type(None) in args:  # Optional[X]
        if isinstance(value, str) and value.strip().lower() in ("none", "null"):
            return None  # `train.dropout=None` on the command line means "unset", not the string 'None'
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is list:
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else value.split(",")
        if not isinstance(value, list):
            raise TuneforgeError(f"`{key}` must be a list, got {value!r}", where="config",
                                 fix=f"write `{key}: [a, b]`")
        return [_coerce(v, args[0], key) for v in value]
    if typ is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "1", "on"):
            return True
        if str(value).lower() in ("false", "no", "0", "off"):
            return False
    elif typ is int:
        try:
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        except (TypeError, ValueError, OverflowError):  # OverflowError: .inf
            pass
    elif typ is float:
        try:
            if isinstance(value, bool) or not math.isfinite(float(value)):
                raise ValueError  # .nan would slip through every `<= 0` check in validate()
            return float(value)
        except (TypeError, ValueError):
            pass
    elif typ is str:
        if isinstance(value, bool):  # YAML reads `bf16: false` as a bool; the field takes 'false'
            return str(value).lower()
        if isinstance(value, (str, int, float)):
            return str(value)
    else:
        return value
    raise TuneforgeError(f"`{key}` must be {getattr(typ, '__name__', typ)}, got {value!r}",
                         where="config", fix=f"set `{key}` to a {getattr(typ, '__name__', typ)}")


def _fill(cls: type, raw: dict, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise TuneforgeError(f"`{prefix.rstrip('.') or 'config'}` must be a mapping, got {raw!r}",
                             where="config", fix="check the YAML indentation")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        import difflib
        key = unknown[0]
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean `{prefix}{close[0]}`?" if close else f"known keys: {', '.join(sorted(known))}"
        raise TuneforgeError(f"unknown config key `{prefix}{key}`", where="config", fix=hint)
    kwargs = {}
    for name, value in raw.items():
        typ = hints[name]
        if dataclasses.is_dataclass(typ):
            kwargs[name] = _fill(typ, value or {}, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, typ, f"{prefix}{name}")
    return cls(**kwargs)


def _set_dotted(raw: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = raw
    for p in parts[:-1]:
        if node.get(p) is None:  # absent, or an empty section (`train:` with nothing under it)
            node[p] = {}
        node = node[p]
        if not isinstance(node, dict):
            raise TuneforgeError(f"cannot set `{dotted}`: `{p}` is not a section", where="command line",
                                 fix="run `tuneforge config` to list the keys")
    node[parts[-1]] = value


def _parse_override(value: str) -> Any:
    """YAML scalar/list syntax (`2`, `false`, `[0.7, 0.2, 0.1]`, `null`); anything YAML cannot read
    (`*.csv`, `[a`) is taken as the plain string the user typed."""
    if value == "":
        return None
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def _key_line(text: str, dotted: str | None) -> int | None:
    """Line (1-based) of a dotted key in the YAML text, or None if it is not written there."""
    if not dotted:
        return None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in dotted.split("."):
        if not isinstance(node, yaml.MappingNode):
            return None
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == part:
                line, node = k.start_mark.line + 1, v
                break
        else:
            return None
    return line


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read YAML (optional), apply `dotted.key=value` overrides, validate, resolve relative paths."""
    raw: dict = {}
    text = ""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise TuneforgeError(f"config file not found: {path}", fix="check the path")
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data[:e.start].count(b"\n") + 1
            raise TuneforgeError(f"cannot decode byte {data[e.start]:#04x} as utf-8", where=f"{path}:{line}",
                                 fix="save the config file as UTF-8") from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise TuneforgeError(f"invalid YAML ({getattr(e, 'problem', e)})", where=where,
                                 fix="fix the YAML syntax at that line") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise TuneforgeError(f"the config must be a mapping of keys to values, got {type(raw).__name__}",
                                 where=str(path), fix="write `key: value` lines, e.g. `task: text-classification`")
    override_keys = set()
    for item in overrides:
        if "=" not in item:
            raise TuneforgeError(f"override `{item}` is not of the form key=value", where="command line",
                                 fix="write e.g. train.epochs=2")
        key, value = item.split("=", 1)
        override_keys.add(key.strip())
        _set_dotted(raw, key.strip(), _parse_override(value))
    try:
        cfg = _fill(Config, raw, "")
        if path is not None:
            cfg.config_path = str(path)
            base = path.parent
            for name in ("train", "validation", "test"):
                v = getattr(cfg.data, name)
                if not v or v.startswith("dataset:"):
                    continue
                v = os.path.expanduser(v)
                # paths written in the config file are relative to the config file (one that exists only
                # relative to the working directory is still accepted); paths typed on the command line
                # are relative to the working directory. Made absolute, so the config saved into the run
                # directory means the same files from anywhere.
                if (f"data.{name}" not in override_keys and not Path(v).is_absolute()
                        and ((base / v).exists() or not Path(v).exists())):
                    v = str(base / v)
                setattr(cfg.data, name, os.path.abspath(v))
        _expand_dataset_refs(cfg)
        validate(cfg)
    except TuneforgeError as e:
        # _fill and validate name the key; point at where it was set: the command line or file:line
        if e.where not in ("config", str(path)):
            raise
        m = re.match(r"(?:unknown config key )?`([^`]+)`", e.what)
        key = m.group(1) if m else None
        if key in override_keys:
            where = "command line"
        elif path is not None:
            line = _key_line(text, key)
            where = f"{path}:{line}" if line else str(path)
        else:
            raise
        raise TuneforgeError(e.what, where=where, fix=e.fix) from None
    return cfg


def _expand_dataset_refs(cfg: Config) -> None:
    """`dataset:NAME/FILE` points into the prepared data cache (see `tuneforge datasets`)."""
    from .paths import data_cache
    for name in ("train", "validation", "test"):
        v = getattr(cfg.data, name)
        if v and v.startswith("dataset:"):
            ref = v[len("dataset:"):]
            setattr(cfg.data, name, str(data_cache() / ref))


def validate(cfg: Config) -> None:
    """All cross-field checks live here, so the rules are in one place."""
    def bad(key, what, fix):
        raise TuneforgeError(f"`{key}` {what}", where=cfg.config_path or "config", fix=fix)

    if cfg.task not in TASKS:
        bad("task", f"is {cfg.task!r}", f"use one of: {', '.join(TASKS)}")
    if not cfg.data.train:
        bad("data.train", "is not set", "point data.train at your labeled file")
    if cfg.data.tag_scheme not in TAG_SCHEMES:
        bad("data.tag_scheme", f"is {cfg.data.tag_scheme!r}", f"use one of: {', '.join(TAG_SCHEMES)}")
    if cfg.data.bad_rows not in ("error", "skip"):
        bad("data.bad_rows", f"is {cfg.data.bad_rows!r}", "use error or skip")
    if cfg.data.format not in (None, "csv", "tsv", "jsonl", "conll"):
        bad("data.format", f"is {cfg.data.format!r}", "use csv, tsv, jsonl or conll (or leave it out)")
    s = cfg.data.split
    if len(s) != 3 or any(x < 0 for x in s) or abs(sum(s) - 1) > 1e-6 or s[0] <= 0:
        bad("data.split", f"is {s}", "give three non-negative shares that sum to 1, e.g. [0.8, 0.1, 0.1]")
    t = cfg.train
    for key, val in (("epochs", t.epochs), ("batch_size", t.batch_size), ("eval_batch_size", t.eval_batch_size),
                     ("gradient_accumulation", t.gradient_accumulation), ("max_length", t.max_length),
                     ("evals_per_epoch", t.evals_per_epoch)):
        if val is not None and val <= 0:  # None: chosen from the data (train/auto.py)
            bad(f"train.{key}", f"must be positive, got {val}", f"set train.{key} to a positive number")
    for key, val in (("learning_rate", t.learning_rate), ("head_learning_rate", t.head_learning_rate)):
        if val is not None and not (0 < val < 1):
            bad(f"train.{key}", f"is {val}", "use a small positive rate such as 5e-5")
    if not 0 <= t.warmup_ratio < 1:
        bad("train.warmup_ratio", f"is {t.warmup_ratio}", "use a share in [0, 1), e.g. 0.06")
    if t.dropout is not None and not 0 <= t.dropout < 1:
        bad("train.dropout", f"is {t.dropout}", "use a probability in [0, 1)")
    if t.num_layers is not None and t.num_layers < 1:
        bad("train.num_layers", f"is {t.num_layers}", "keep at least one layer, or leave it unset")
    if t.min_steps < 0:
        bad("train.min_steps", f"is {t.min_steps}", "use 0 (no floor) or a positive number of steps, e.g. 200")
    if t.class_weight not in ("auto", "none", "balanced"):
        bad("train.class_weight", f"is {t.class_weight!r}", "use auto, none or balanced")
    if t.bf16 not in ("auto", "true", "false"):
        bad("train.bf16", f"is {t.bf16!r}", "use auto, true or false")
    if t.method not in METHODS:
        bad("train.method", f"is {t.method!r}", f"use one of: {', '.join(METHODS)}")
    if t.pooling not in POOLINGS:
        bad("train.pooling", f"is {t.pooling!r}", f"use one of: {', '.join(POOLINGS)}")
    _validate_adversarial(t, bad)
    _validate_peft(cfg, bad)
    from .methods.setfit import check_options as check_setfit  # setfit.* keys and setfit's combinations
    check_setfit(cfg, bad)
    if t.early_stopping_patience < 0:
        bad("train.early_stopping_patience", "is negative", "use 0 to disable, or a positive count")
    if t.max_length is not None and t.max_length > 8192:
        bad("train.max_length", f"is {t.max_length}", "use at most the backbone's maximum (often 512)")
    _validate_redact_augment(cfg, bad)
    _validate_image(cfg, bad)
    from .methods.zero_shot import check_options  # the same checks the zero-shot CLI flags get
    check_options(cfg.zero_shot, bad)
    from .methods.tune_space import check_tune  # search space: keys must name config fields
    check_tune(cfg, bad)
    for key, val in (("data.train_limit", cfg.data.train_limit), ("data.test_limit", cfg.data.test_limit),
                     ("data.validation_limit", cfg.data.validation_limit)):
        if val is not None and val <= 0:
            bad(key, f"is {val}", "use a positive count or leave it unset")


def _validate_peft(cfg: Config, bad) -> None:
    p, method = cfg.peft, cfg.train.method
    if method in REFUSED_METHODS:
        # Their virtual tokens are extra inputs, not weights: nothing can merge them into the plain model that
        # predict, evaluate, export and serve load, so those would silently answer without them. (PEFT's
        # prompt tuning also returns logits for the virtual tokens, misaligned with NER labels.)
        bad("train.method", f"is {method!r}, whose virtual tokens cannot be merged into the saved model",
            "use train.method=lora (or ia3): the adapter is merged into ordinary weights that every "
            "tuneforge command loads")
    if p.r < 1:
        bad("peft.r", f"is {p.r}", "use a rank of at least 1 (8 or 16 are usual)")
    if not 0 < p.alpha <= 1024:
        bad("peft.alpha", f"is {p.alpha}", "use a positive scale, usually 2 x peft.r")
    if not 0 <= p.dropout < 1:
        bad("peft.dropout", f"is {p.dropout}", "use a probability in [0, 1), e.g. 0.1")
    if p.target_modules is not None and (not p.target_modules or not all(m.strip() for m in p.target_modules)):
        bad("peft.target_modules", f"is {p.target_modules}",
            "name at least one layer, e.g. [query, value], or leave it unset for the backbone's default")


def _validate_adversarial(t: TrainConfig, bad) -> None:
    if t.adversarial not in ADVERSARIAL:
        bad("train.adversarial", f"is {t.adversarial!r}", f"use one of: {', '.join(ADVERSARIAL)}")
    if not 0 < t.adversarial_epsilon <= 100:
        bad("train.adversarial_epsilon", f"is {t.adversarial_epsilon}", "use a positive L2 norm such as 1.0")
    if t.adversarial_steps < 1:
        bad("train.adversarial_steps", f"is {t.adversarial_steps}", "use at least 1 PGD step (3 is common)")
    if t.adversarial_alpha is not None and not 0 < t.adversarial_alpha <= t.adversarial_epsilon:
        bad("train.adversarial_alpha", f"is {t.adversarial_alpha}",
            f"use a step size in (0, adversarial_epsilon={t.adversarial_epsilon}], or leave it unset")
    if t.adversarial != "none" and t.method == "setfit":
        bad("train.adversarial", "is not supported with train.method=setfit",
            "set train.adversarial=none, or use train.method=full (or a PEFT method)")


def _validate_image(cfg: Config, bad) -> None:
    from .backbones.registry import BACKBONES
    im, is_image = cfg.image, cfg.task == "image-classification"
    spec = BACKBONES.get(cfg.backbone)
    if spec is not None and (spec.modality == "image") != is_image:
        fit = [n for n, s in BACKBONES.items() if (s.modality == "image") == is_image]
        bad("backbone", f"{cfg.backbone!r} is {'an image' if spec.modality == 'image' else 'a text'} backbone "
            f"and the task is {cfg.task}", f"use one of: {', '.join(fit)}")
    if not is_image:
        return
    if not 32 <= im.size <= 1024:
        bad("image.size", f"is {im.size}", "use an input size between 32 and 1024 pixels (224 is the backbone's own)")
    if not 0.05 <= im.crop_min_scale <= 1:
        bad("image.crop_min_scale", f"is {im.crop_min_scale}", "use an area share in [0.05, 1], e.g. 0.6")
    if cfg.train.method not in ("auto", "full"):
        bad("train.method", f"is {cfg.train.method!r}, which image-classification does not support",
            "use train.method=full, or image.linear_probe=true to train only the head")
    if cfg.train.method == "full" and im.linear_probe:
        bad("image.linear_probe", "is true but train.method is full (fine-tune every weight)",
            "choose one: train.method=full, or image.linear_probe=true with train.method=auto")
    if cfg.data.redact or cfg.data.augment.per_example:
        bad("data.redact" if cfg.data.redact else "data.augment.per_example", "applies to text, not images",
            "remove it; image augmentation is image.augment")
    if cfg.train.adversarial != "none":
        bad("train.adversarial", "perturbs word embeddings and does not apply to images", "set train.adversarial=none")


def _validate_redact_augment(cfg: Config, bad) -> None:
    import difflib

    from .data.augment import OPS
    from .data.redact import KINDS
    for kind in cfg.data.redact:
        if kind not in KINDS:
            close = difflib.get_close_matches(kind, KINDS, n=1)
            bad("data.redact", f"has unknown type {kind!r}",
                (f"did you mean {close[0]}? " if close else "") + f"use any of: {', '.join(KINDS)}")
    a = cfg.data.augment
    for op in a.ops:
        if op not in OPS:
            close = difflib.get_close_matches(op, OPS, n=1)
            bad("data.augment.ops", f"has unknown operation {op!r}",
                (f"did you mean {close[0]}? " if close else "") + f"use any of: {', '.join(OPS)}")
    if a.per_example < 0:
        bad("data.augment.per_example", f"is {a.per_example}", "use 0 (off) or a positive number of copies")
    if not 0 < a.prob <= 1:
        bad("data.augment.prob", f"is {a.prob}", "use a probability in (0, 1]; EDA uses 0.05-0.1")
    if a.per_example and not a.ops:
        bad("data.augment.ops", "is empty", "name at least one of: synonym, insert, swap, delete")
    if a.per_example and cfg.task == "token-classification":
        bad("data.augment.per_example", "is not supported for token-classification",
            "set data.augment.per_example=0: swapping, deleting or inserting words would move them away from "
            "their entity tags")


def describe(cls: type = Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, help) for every field: the config's own documentation."""
    rows = []
    for f in dataclasses.fields(cls):
        typ = get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(typ):
            rows += describe(typ, f"{prefix}{f.name}.")
        elif f.name != "config_path":
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            rows.append((prefix + f.name, repr(default), f.metadata.get("help", "")))
    return rows


def save_config(cfg: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")
