"""Parameter-efficient tuning with the PEFT library: `train.method: lora | ia3`.

The pretrained body is frozen; PEFT adds a small adapter (LoRA's low-rank A·B next to chosen linear layers,
or IA³'s learned rescaling vectors) and the task head trains in full. The head is listed in PEFT's
`modules_to_save` — without it a fresh classifier would train but never be saved (peft #310, #2027).

A finished run keeps the run-directory contract unchanged: the adapter (plus the head) goes to
RUN/adapter/ (adapter_model.safetensors + adapter_config.json, loadable with `PeftModel.from_pretrained`)
and the adapter merged into the backbone is saved as the run's normal weights, so predict, evaluate,
export and serve load a PEFT run exactly like a fully fine-tuned one, at the same inference cost.

prefix and prompt tuning are refused in `config.validate` (see `UNMERGEABLE`): their virtual tokens are
extra inputs, not weights, so they cannot be merged into a plain model that every later stage loads.
"""

from __future__ import annotations

from pathlib import Path

from ..backbones.registry import resolve_backbone
from ..config import Config, load_config
from ..errors import TuneforgeError
from ..rundir import CONFIG_FILE, LABELS_FILE
from ..tasks.base import get_task
from ..tasks.pooling import is_decoder_classifier
from .registry import MethodSpec, register_method

ADAPTER_DIR = "adapter"  # RUN/adapter/: adapter_model.safetensors + adapter_config.json
# Body (= adapter) learning rate when train.learning_rate is unset. Only ~1% of the weights move and LoRA's B
# starts at zero, so the full-fine-tuning rate (1e-4) leaves the adapter nearly idle in 3 epochs. Measured
# on polarity validation (benchmarks/peft_polarity.py, minilm-l6, r 8, 3 epochs): LoRA on every linear layer
# 0.8375 at 1e-3 vs 0.69 at 3e-3; LoRA on query,value 0.7975 at 1e-3 vs 0.7925 at 3e-3. IA3 keeps T-Few's
# 3e-3 (Liu et al. 2022; 0.755 on the same validation).
DEFAULT_LEARNING_RATES = {"lora": 1e-3, "ia3": 3e-3}
# LoRA on every linear layer of a BERT-style encoder, not PEFT's query,value: on polarity (minilm-l6, r 8)
# query,value (0.33% of the weights trainable) ended 2.75 points below full fine-tuning on test, every
# linear layer (1.49%) 1.0 point above it; chosen on validation (0.7975 vs 0.8375). Suffixes: "output.dense"
# is both the attention output and the feed-forward output projection; "dense" alone would also take the
# pooler, which is the head's when tuneforge initialised it (see _head_modules).
LORA_ALL_LINEAR = {t: ["query", "key", "value", "output.dense", "intermediate.dense"]
                   for t in ("bert", "roberta", "xlm-roberta", "electra")}


def default_target_modules(method: str, model_type: str, pretrained_pooler: bool = False) -> list[str]:
    """LoRA on BERT-style encoders: every linear layer (LORA_ALL_LINEAR), plus the pooler's when it is
    pretrained and used ([CLS] pooling). Otherwise PEFT's own per-architecture defaults (IA³ on BERT:
    key,value,output.dense)."""
    from peft.utils import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING as IA3
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as LORA
    if method == "lora" and model_type in LORA_ALL_LINEAR:
        return LORA_ALL_LINEAR[model_type] + (["pooler.dense"] if pretrained_pooler else [])
    table = LORA if method == "lora" else IA3
    if model_type not in table:
        raise TuneforgeError(f"PEFT has no default target modules for `{model_type}` backbones",
                             where="peft.target_modules",
                             fix="name the linear layers to adapt, e.g. peft.target_modules=[q_proj,v_proj] "
                                 "(print the model to see their names)")
    return list(table[model_type])


def _head_modules(model, cfg: Config) -> list[str]:
    """Modules that must train in full and be saved with the adapter: the classifier always, and a
    pooler that tuneforge initialised itself (identity, for checkpoints that ship none) — a pretrained
    pooler stays frozen like the rest of the body."""
    import torch
    heads = ["score" if is_decoder_classifier(model) else "classifier"]  # the new head trains and is saved
    dense = getattr(getattr(model.base_model, "pooler", None), "dense", None)
    if get_task(cfg.task).classifies_texts and cfg.train.pooling == "cls" and dense is not None:
        w = dense.weight
        # exactly the identity/zero start of TextClassificationTask.build_model: no pretrained pooler is
        if torch.equal(w, torch.eye(w.shape[0], dtype=w.dtype)) and not dense.bias.any():
            heads.append("pooler")
    return heads


def peft_config_for(model, cfg: Config):
    """The PEFT config object for `cfg`; resolves peft.target_modules into cfg so the saved config shows it."""
    from peft import IA3Config, LoraConfig, TaskType
    p, method = cfg.peft, cfg.train.method
    heads = _head_modules(model, cfg)
    if p.target_modules is None:
        pooler_used = (get_task(cfg.task).classifies_texts and cfg.train.pooling == "cls"
                       and getattr(model.base_model, "pooler", None) is not None)
        p.target_modules = default_target_modules(method, model.config.model_type,
                                                  pretrained_pooler=pooler_used and "pooler" not in heads)
    task_type = TaskType[get_task(cfg.task).peft_task_type]
    if method == "lora":
        return LoraConfig(task_type=task_type, r=p.r, lora_alpha=p.alpha, lora_dropout=p.dropout,
                          target_modules=list(p.target_modules), modules_to_save=heads)
    from peft.utils import TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING as FF
    # IA³ scales a feed-forward layer's input, other layers' output; PEFT knows which are which per backbone
    ff = [m for m in FF.get(model.config.model_type, []) if m in p.target_modules]
    return IA3Config(task_type=task_type, target_modules=list(p.target_modules), feedforward_modules=ff,
                     modules_to_save=heads)


def _original_name(name: str) -> str:
    """'base_model.model.classifier.modules_to_save.default.weight' -> 'classifier.weight'."""
    name = name.removeprefix("base_model.model.")
    return name.replace(".modules_to_save.default.", ".").replace(".original_module.", ".")


def wrap_model(model, fresh: set[str], cfg: Config):
    """Freeze the body, add the adapter, keep the head trainable. Returns (peft model, names of its fresh
    parameters) so the optimizer still gives the head train.head_learning_rate and the adapter
    train.learning_rate."""
    from peft import get_peft_model
    peft_model = get_peft_model(model, peft_config_for(model, cfg))
    # PEFT freezes every base weight, the word embeddings included: record it, so the saved config and
    # the card say what happened (build_model's own freeze is then a no-op, never a conflict).
    cfg.train.freeze_embeddings = True
    names = {n for n, p in peft_model.named_parameters() if p.requires_grad and _original_name(n) in fresh}
    missing = set(fresh) - {_original_name(n) for n in names}
    if missing:  # the known trap: a fresh head that does not train would stay random
        raise TuneforgeError(f"PEFT left the task head frozen ({', '.join(sorted(missing))})",
                             where="train.method", fix="use train.method=full for this backbone")
    return peft_model, names


def count_trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_adapter_and_merge(peft_model, out: Path):
    """Write RUN/adapter/ (adapter + head), then return the backbone with the adapter merged in: the model
    that becomes the run's normal weights."""
    peft_model.save_pretrained(str(Path(out) / ADAPTER_DIR))
    merged = peft_model.merge_and_unload()
    for p in merged.parameters():
        p.requires_grad_(False)
    return merged


def load_adapter_model(run_dir: str | Path):
    """Rebuild a PEFT run as base backbone + saved adapter (not the merged weights): for checking a run,
    or for serving several adapters over one backbone."""
    import json

    from peft import PeftModel

    run_dir = Path(run_dir)
    if not (run_dir / ADAPTER_DIR / "adapter_config.json").is_file():
        raise TuneforgeError(f"{run_dir} holds no PEFT adapter", where=str(run_dir / ADAPTER_DIR),
                             fix="train with train.method=lora or ia3, or load the run with tuneforge.rundir.load_run")
    cfg = load_config(run_dir / CONFIG_FILE)
    labels = json.loads((run_dir / LABELS_FILE).read_text(encoding="utf-8"))
    base, _ = get_task(cfg.task).build_model(resolve_backbone(cfg.backbone), labels, cfg)
    model = PeftModel.from_pretrained(base, str(run_dir / ADAPTER_DIR))
    model.eval()
    return model


def describe(cfg: Config) -> str:
    """The card's words: which adapter trained, and that the saved weights already include it."""
    p = cfg.peft
    what = f"LoRA r={p.r}, alpha={p.alpha:g}" if cfg.train.method == "lora" else "IA3"
    return (f", train.method={cfg.train.method} ({what} on {', '.join(p.target_modules or [])} plus the head; "
            f"the adapter is in `{ADAPTER_DIR}/`, merged into the weights here)")


for _name, _summary in (("lora", "trains a low-rank adapter on the frozen body (settings under peft:) plus the head, "
                                 "merged into the saved weights"),
                        ("ia3", "trains IA3 scaling vectors on the frozen body plus the head, merged into the saved "
                                "weights")):
    # image-classification is refused by config.validate (its EfficientNet body has no PEFT defaults here)
    register_method(MethodSpec(name=_name, summary=_summary, takes=lambda task: task.peft_task_type is not None,
                               learning_rate=DEFAULT_LEARNING_RATES[_name], wrap=wrap_model,
                               finish=save_adapter_and_merge, describe=describe))
