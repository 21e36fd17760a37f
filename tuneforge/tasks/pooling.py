"""How a sentence becomes one vector for the classification head.

`cls`: the backbone's own pooler over the first token (what `*ForSequenceClassification` does).
`mean`: the attention-masked mean of the last hidden states — what sentence-embedding models (e5,
sentence-transformers' MiniLM) were trained to produce, so their pretraining is used as it was meant.

Mean pooling keeps the standard Hugging Face class and weights (the checkpoint is an ordinary
`BertForSequenceClassification`); only `forward` differs. The mode is stored in the saved model config
under POOLING_KEY, and every tuneforge loader goes through `load_classifier`, which restores it.

Plain `transformers` cannot know about POOLING_KEY, so a mean-pooled model also saves REMOTE_CODE_FILE
(this module's pooling code, self-contained) and an `auto_map` entry pointing at it:
`AutoModelForSequenceClassification.from_pretrained(dir, trust_remote_code=True)` and
`pipeline(..., trust_remote_code=True)` then give tuneforge's answers. The model type stays `bert` so ONNX
export, PEFT and every BERT tool still take the checkpoint; the price is that loading it *without*
`trust_remote_code` silently falls back to the [CLS] pooler, which the model card says in bold.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import torch
from torch import nn

from ..errors import TuneforgeError

POOLING_KEY = "tuneforge_pooling"
REMOTE_CODE_FILE = "modeling_tuneforge_pooling.py"


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the real (unpadded) token vectors: the same sentence gives the same vector however
    much padding its batch needed."""
    m = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    return (last_hidden_state * m).sum(1) / m.sum(1).clamp(min=1e-9)


def _mean_pooled_forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                         inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                         return_dict=None, **kwargs):
    from transformers.modeling_outputs import SequenceClassifierOutput
    body = getattr(self, self.base_model_prefix)
    if attention_mask is None:
        ref = input_ids if input_ids is not None else inputs_embeds[..., 0]
        attention_mask = torch.ones(ref.shape[:2], dtype=torch.long, device=ref.device)
    extra = {k: v for k, v in (("token_type_ids", token_type_ids), ("position_ids", position_ids),
                               ("output_attentions", output_attentions),
                               ("output_hidden_states", output_hidden_states)) if v is not None}
    out = body(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds, **extra)
    logits = self.classifier(self.dropout(mean_pool(out.last_hidden_state, attention_mask)))
    loss = None
    if labels is not None and self.config.problem_type == "multi_label_classification":  # one yes/no per label
        loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())
    elif labels is not None:
        loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels).float(), labels.view(-1))
    return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                    attentions=out.attentions)


def remote_code(base: type) -> str:
    """The source of REMOTE_CODE_FILE for a mean-pooled subclass of the transformers class `base`: the
    very functions tuneforge runs (copied by inspect, so the two cannot drift apart) and nothing else."""
    return "\n".join([
        '"""Written by tuneforge: mean pooling for a tuneforge run loaded with plain transformers.',
        "",
        "Load with AutoModelForSequenceClassification.from_pretrained(dir, trust_remote_code=True).",
        '"""',
        "import torch",
        "from torch import nn",
        f"from transformers import {base.__name__}",
        "", "",
        inspect.getsource(mean_pool), "",
        inspect.getsource(_mean_pooled_forward), "",
        f"class MeanPooled{base.__name__}({base.__name__}):",
        "    forward = _mean_pooled_forward",
        ""])


def _save_pretrained_with_code(self, save_directory, *args, **kwargs):
    base = type(self).__mro__[1]
    base.save_pretrained(self, save_directory, *args, **kwargs)
    if kwargs.get("is_main_process", True):
        (Path(save_directory) / REMOTE_CODE_FILE).write_text(remote_code(base), encoding="utf-8")


_CLASSES: dict[type, type] = {}


def _mean_pooled_class(cls: type) -> type:
    if cls not in _CLASSES:
        name = f"MeanPooled{cls.__name__}"
        sub = type(name, (cls,), {"forward": _mean_pooled_forward, "save_pretrained": _save_pretrained_with_code,
                                  "__module__": __name__})
        setattr(sys.modules[__name__], name, sub)  # importable by name: pickling and deepcopy find it
        _CLASSES[cls] = sub
    return _CLASSES[cls]


def apply_pooling(model, mode: str):
    """Switch `model` (an AutoModelForSequenceClassification instance) to `mode` in place and record the
    mode in its config so a saved copy reloads the same way."""
    if mode == "mean" and not isinstance(model, tuple(_CLASSES.values())):
        if not (isinstance(getattr(model, "classifier", None), nn.Linear) and hasattr(model, "dropout")):
            raise TuneforgeError(f"`train.pooling: mean` needs a BERT-style classification head; "
                                 f"{type(model).__name__} has another", where="train.pooling",
                                 fix="use train.pooling=cls for this backbone")
        model.__class__ = _mean_pooled_class(type(model))
        pooler = getattr(getattr(model, model.base_model_prefix), "pooler", None)
        if pooler is not None:
            # Unused by mean pooling: frozen, so no optimizer state and no unused-parameter error
            # under multi-process (DDP) training; kept, so the checkpoint stays a standard one.
            pooler.requires_grad_(False)
    model.config.update({POOLING_KEY: mode})
    if mode == "mean":
        name = f"MeanPooled{type(model).__mro__[1].__name__}"
        model.config.auto_map = {"AutoModelForSequenceClassification": f"{REMOTE_CODE_FILE[:-3]}.{name}"}
    elif hasattr(model.config, "auto_map"):
        del model.config.auto_map  # a cls-pooled model loads as the standard class
    return model


def is_decoder_classifier(model) -> bool:
    """transformers' decoder sequence classifiers name their head `score` (Llama, Gemma, Qwen, GPT-2); encoders'
    `classifier`."""
    return isinstance(getattr(model, "score", None), nn.Linear) and not hasattr(model, "classifier")


def load_classifier(path: str, **kwargs):
    """`AutoModelForSequenceClassification.from_pretrained` that restores the saved pooling mode."""
    from transformers import AutoModelForSequenceClassification
    loaded = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    model = loaded[0] if isinstance(loaded, tuple) else loaded
    apply_pooling(model, getattr(model.config, POOLING_KEY, "cls"))
    return loaded


def classifier_from_config(config):
    from transformers import AutoModelForSequenceClassification
    return apply_pooling(AutoModelForSequenceClassification.from_config(config),
                         getattr(config, POOLING_KEY, "cls"))
