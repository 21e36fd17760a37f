"""Zero-shot by embedding similarity: embed each text and each label's description with a sentence
encoder, pick the label whose description is closest (cosine).

Embeddings are the attention-masked mean of the last hidden states, L2-normalised: what both packaged
sentence encoders (all-MiniLM-L6-v2, multilingual-e5) were trained to produce. e5 was trained with
role prefixes and gives worse embeddings without them: texts are embedded as "query: …" and label
descriptions as "query: …" too (e5's model card: use "query: " for symmetric tasks and classification).
Cosines are turned into probabilities by a softmax with a temperature: ranks are meaningful, the
probabilities are not calibrated.
"""

from __future__ import annotations

import torch

from ..errors import TuneforgeError

DEFAULT_DESCRIPTION = "This text is {label}."
TEMPERATURE = 0.05  # sentence-transformers' contrastive scale (20 = 1/0.05); e5's cosines are compressed more


def check_description_template(template: str, where: str) -> None:
    if "{label}" not in template:
        raise TuneforgeError("the description template has no {label} placeholder", where=where,
                             fix='write e.g. "This review is {label}."')
    try:
        template.format(label="")
    except (KeyError, IndexError, ValueError) as e:
        raise TuneforgeError(f"the description template has a placeholder other than {{label}} ({e})",
                             where=where, fix="use only {label}; write {{ and }} for literal braces") from None


def needs_e5_prefixes(backbone: str, path: str) -> bool:
    return "e5" in backbone.lower() or "e5" in path.lower()


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    m = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    return (last_hidden_state * m).sum(1) / m.sum(1).clamp(min=1e-9)  # padding never dilutes the mean


class EmbeddingSimilarity:
    """Load once, score many texts: `probabilities(texts)` -> one list of label probabilities per text."""

    def __init__(self, labels: list[str], backbone: str = "minilm-l6", template: str | None = None,
                 descriptions: dict[str, str] | None = None, batch_size: int = 64, max_length: int = 128,
                 bf16: bool | None = None):
        from transformers import AutoModel, AutoTokenizer

        from ..backbones.registry import resolve_backbone
        from ..tasks.base import bf16_supported
        self.labels = labels
        template = template or DEFAULT_DESCRIPTION
        check_description_template(template, "zero_shot.template")
        self.descriptions = [(descriptions or {}).get(l) or template.format(label=l) for l in labels]
        path = resolve_backbone(backbone)
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path)
        self.model.eval()
        self.batch_size, self.max_length = batch_size, max_length
        self.bf16 = bf16_supported() if bf16 is None else bf16
        self.prefix = "query: " if needs_e5_prefixes(backbone, path) else ""
        self.label_vecs = self.embed([self.prefix + d for d in self.descriptions])

    def embed(self, texts: list[str]) -> torch.Tensor:
        from ..tasks.base import autocast
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad little
        out = torch.zeros(len(texts), self.model.config.hidden_size)
        with torch.inference_mode(), autocast(self.bf16):
            for s in range(0, len(order), self.batch_size):
                idx = order[s:s + self.batch_size]
                enc = self.tok([texts[i] for i in idx], padding=True, truncation=True,
                               max_length=self.max_length, return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state.float()
                out[idx] = torch.nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1)
        return out

    def probabilities(self, texts: list[str]) -> list[list[float]]:
        cos = self.embed([self.prefix + t for t in texts]) @ self.label_vecs.T
        return (cos / TEMPERATURE).softmax(-1).tolist()
