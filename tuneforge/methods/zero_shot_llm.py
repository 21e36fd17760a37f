"""Zero-shot by label likelihood: ask a small instruction-tuned LM, score each label as its answer.

For every text the prompt (the user's template, chat-templated with the model's own template) is
followed by each label's verbalizer plus the end-of-turn token; the label's score is the mean
log-probability of those continuation tokens (per-token, so a three-token label is not punished for
its length). Probabilities are the softmax of those scores. `calibrate` subtracts the scores the model
gives a content-free input ("N/A"): small LMs prefer some answers whatever the text says, and this
removes that prior (Zhao et al. 2021, "Calibrate before use").

The packaged model is SmolLM2-135M-Instruct (tuneforge/backbones/smollm2.py: how it is unpacked once from its GGUF).
"""

from __future__ import annotations

import torch

from ..backbones.smollm2 import SMOLLM2, ensure_smollm2
from ..errors import TuneforgeError

DEFAULT_PROMPT = ("Classify the text into one of these labels: {labels}.\n\nText: {text}\n\n"
                  "Answer with the label only.")
CONTENT_FREE = "N/A"


def resolve_llm(name_or_path: str | None) -> str:
    if name_or_path in (None, SMOLLM2):
        return str(ensure_smollm2())
    from ..backbones.registry import resolve_backbone
    return resolve_backbone(name_or_path)


def check_prompt(template: str, where: str) -> None:
    if "{text}" not in template:
        raise TuneforgeError("the prompt template has no {text} placeholder", where=where,
                             fix='write e.g. "Is this review positive or negative?\\n\\n{text}"')
    try:
        template.format(text="", labels="")
    except (KeyError, IndexError, ValueError) as e:
        raise TuneforgeError(f"the prompt template has a placeholder other than {{text}} and {{labels}} ({e})",
                             where=where, fix="use only {text} and {labels}; write {{ and }} for literal braces") from None


class LabelLikelihood:
    """Load once, score many texts: `probabilities(texts)` -> one list of label probabilities per text."""

    def __init__(self, labels: list[str], backbone: str | None = None, template: str | None = None,
                 verbalizers: dict[str, str] | None = None, calibrate: bool = True, batch_size: int = 16,
                 max_length: int = 256, bf16: bool | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        self.labels = labels
        self.template = template or DEFAULT_PROMPT
        check_prompt(self.template, "zero_shot.template")
        path = resolve_llm(backbone)
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        self.model.eval()
        self.batch_size, self.max_length, self.calibrate = batch_size, max_length, calibrate
        from ..tasks.base import bf16_supported
        self.bf16 = bf16_supported() if bf16 is None else bf16  # native bf16 (AMX) is ~3x fp32 here
        words = [(verbalizers or {}).get(l, l) for l in labels]
        # The end-of-turn token closes each answer: "good" must not also collect "good but dull".
        end = [self.tok.eos_token_id] if self.tok.eos_token_id is not None else []
        self.answers = [self.tok(w, add_special_tokens=False)["input_ids"] + end for w in words]
        self.prior = self._scores([CONTENT_FREE])[0] if calibrate else None

    def _prompt_ids(self, text: str) -> list[int]:
        # Cut an over-long text, not the prompt: the instruction and the chat markers must survive.
        room = self.max_length - max(map(len, self.answers)) - len(self.tok(self.template)["input_ids"]) - 48
        text_ids = self.tok(text, add_special_tokens=False)["input_ids"]
        if len(text_ids) > max(room, 16):
            text = self.tok.decode(text_ids[:max(room, 16)])
        content = self.template.format(text=text, labels=", ".join(self.labels))
        msgs = [{"role": "user", "content": content}]
        if getattr(self.tok, "chat_template", None):
            ids = self.tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
            ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
        else:  # a plain LM: the prompt as is, the answer after a newline
            ids = self.tok(content + "\n", add_special_tokens=True)["input_ids"]
        return list(ids)

    def _scores(self, texts: list[str]) -> torch.Tensor:
        """Mean log-probability of each label's answer after each text's prompt: [len(texts), len(labels)]."""
        from ..tasks.base import autocast
        prompts = [self._prompt_ids(t) for t in texts]
        pairs = [(i, j) for i in range(len(texts)) for j in range(len(self.labels))]
        pairs.sort(key=lambda p: len(prompts[p[0]]) + len(self.answers[p[1]]))  # similar lengths pad little
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        keep = max(map(len, self.answers)) + 1  # logits only where answer tokens are predicted
        out = torch.zeros(len(texts), len(self.labels))
        with torch.inference_mode(), autocast(self.bf16):
            for s in range(0, len(pairs), self.batch_size):
                chunk = pairs[s:s + self.batch_size]
                seqs = [prompts[i] + self.answers[j] for i, j in chunk]
                width = max(map(len, seqs))
                ids = torch.full((len(seqs), width), pad, dtype=torch.long)
                mask = torch.zeros((len(seqs), width), dtype=torch.long)
                for r, q in enumerate(seqs):  # left padding: every answer ends at the last position
                    ids[r, width - len(q):] = torch.tensor(q)
                    mask[r, width - len(q):] = 1
                pos = (mask.cumsum(1) - 1).clamp(min=0)  # positions start at 0 after the padding
                # logits_to_keep: the [batch, length, 49k-vocabulary] logits of every prompt position
                # would cost more memory traffic than the model itself; only the last `keep` are needed.
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos,
                                    logits_to_keep=keep).logits
                logp = logits.float().log_softmax(-1)  # [batch, keep, vocab]; row k predicts token width-keep+k+1
                for r, (i, j) in enumerate(chunk):
                    ans = self.answers[j]
                    rows = logp[r, keep - 1 - len(ans):keep - 1]
                    out[i, j] = rows.gather(1, torch.tensor(ans).unsqueeze(1)).mean()
        return out

    def probabilities(self, texts: list[str]) -> list[list[float]]:
        scores = self._scores(texts)
        if self.prior is not None:
            scores = scores - self.prior
        return scores.softmax(-1).tolist()
