"""The typed run configuration: one dataclass per section, each field with its default and `help` text.

Fields left as None mean "chosen later" (the task's measured default, or from the data: tuneforge/train/auto.py),
so the resolved config written into a run directory always shows the values that were actually used.
`tuneforge config` prints every key from `describe()`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

# Each task's name and the kind of input its data files hold: the data layer reads by kind ("text": a text and a
# label per row; "text-multilabel": a text and a set of labels in one cell, split on data.label_separator; "tokens":
# token-per-line tags; "images"; "chat": a prompt and its answer, or a conversation), so it never tests a task's name. The task itself is a
# registered spec (tuneforge.tasks) declaring the same `input_kind`; tests/methods/test_registry.py keeps them equal.
TASK_INPUTS = {"text-classification": "text", "token-classification": "tokens", "image-classification": "images",
               "multi-label-classification": "text-multilabel", "text-generation": "chat"}
TASKS = tuple(TASK_INPUTS)
TAG_SCHEMES = ("auto", "BIO", "BIOES", "BMES")
# How the body is tuned. "auto" = full fine-tuning, or setfit below a per-class count (tuneforge.methods.setfit).
# Every other name is a registered method (tuneforge.methods.registry; tests/methods/test_registry.py keeps the
# two lists in agreement), except the refused ones, named here so the refusal can explain itself.
REFUSED_METHODS = ("prefix", "prompt")
METHODS = ("auto", "full", "lora", "prefix", "prompt", "ia3", "setfit")
POOLINGS = ("auto", "cls", "mean", "last")
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
    label_separator: str = _f("|", "Tasks with several labels per text (input kind text-multilabel): what "
                                   "separates them in one label cell, e.g. `comedy|drama`.")
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
                                   "3x the smallest (single-label classification; setfit weighs its head).")
    decision_bias: str = _f("auto", "auto | none. auto: after training, per-class offsets added to the output logits "
                                    "(folded into the classifier's bias, so exports and plain transformers use them) "
                                    "are chosen on the validation split, kept when they raise its macro-F1 by at "
                                    "least 1 point (single-label classification); for label sets, per-label "
                                    "thresholds kept when they raise validation micro-F1 by 1 point.")
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
    truncation: str = _f("auto", "auto | head | head+tail. Which tokens of a text longer than max_length are read: "
                                 "its first ones (head), or its first quarter and its end (head+tail, where a "
                                 "review's verdict often is). auto: head+tail when at least 10% of the training texts "
                                 "are cut (text classification), else head.")
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
                              "merged into a plain model); setfit is contrastive few-shot tuning. auto: full, or "
                              "setfit below 100 examples per class on balanced data (largest class under 3x the "
                              "smallest; never for a decoder backbone; measured: BENCHMARKS.md).")
    pooling: str = _f("auto", "cls | mean | last | auto: how a sentence becomes one vector for the classification "
                              "head. auto: mean for sentence-embedding backbones that ship no pooler (e5, MiniLM "
                              "sentence-transformers), last (the last real token) for decoders (SmolLM2, Gemma), "
                              "else the backbone's own [CLS] pooler.")
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
    direction: str = _f("auto", "auto | maximize | minimize. auto: minimize a loss (text generation's validation "
                                "loss), maximize every score.")
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
class GenerateConfig:
    """task: text-generation (tuneforge.tasks.text_generation): how answers are generated in evaluation, predict and
    serving. Saved into the run's generation_config.json, which plain transformers reads too."""
    max_new_tokens: int = _f(128, "Most tokens generated for one answer.")
    temperature: float = _f(0.0, "0: greedy decoding (the same answer every time); above 0: sampling at this "
                                 "temperature.")
    top_p: float = _f(1.0, "Sampling only: keep the smallest set of next tokens whose probabilities sum to top_p.")
    eval_limit: int = _f(200, "Evaluation generates answers for at most this many examples per split (the first "
                              "ones): greedy decoding of a few hundred answers takes minutes on a CPU.")


@dataclass
class Config:
    task: str = _f("text-classification", f"One of {', '.join(TASKS)}.")
    backbone: str = _f("minilm-l6", "Packaged short name (see `tuneforge models`), a local Hugging Face "
                                    "directory, or a hub id (needs internet).")
    output_dir: str = _f("runs/run", "Run directory: weights, tokenizer, labels, metrics, report, plots, card.")
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    peft: PeftConfig = field(default_factory=PeftConfig)
    setfit: SetFitConfig = field(default_factory=SetFitConfig)
    zero_shot: ZeroShotConfig = field(default_factory=ZeroShotConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    config_path: str | None = _f(None, "Where this config was read from (set automatically).")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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
