"""Decoding several conversations in one `generate` call, each with its own length limit and its own stream.

What a server needs to share a decoder among concurrent callers: one forward pass per step serves every row, so
on a CPU a batch of 8 costs little more per step than one row (the weights are read once). Prompts are left-padded
so each ends where its answer starts; a row stops at its end-of-sequence token or its own `max_new_tokens`, and
`generate` stops when every row has. Each row's text is handed to `on_piece(row, text)` as its tokens arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from .base import autocast


@dataclass(frozen=True)
class Sampling:
    """How every row of one batch picks its tokens (rows that differ here decode in different batches)."""
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0

    def generate_kwargs(self) -> dict:
        sample = self.temperature > 0
        return {"do_sample": sample, "temperature": self.temperature if sample else None,
                "top_p": self.top_p if sample else None, "top_k": None}


class _Rows(BaseStreamer, StoppingCriteria):
    """Both ends of one batch's bookkeeping: as the streamer it receives each step's tokens and passes every
    unfinished row's new text on; as the stopping criterion it tells `generate` which rows are done."""

    def __init__(self, tokenizer, limits: list[int], eos: set[int], on_piece):
        self.tokenizer, self.limits, self.eos, self.on_piece = tokenizer, limits, eos, on_piece
        self.tokens: list[list[int]] = [[] for _ in limits]
        self.sent = [""] * len(limits)
        self.reason: list[str | None] = [None] * len(limits)
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompts themselves
            self.prompt_seen = True
            return
        for row, tok in enumerate(value.view(-1).tolist()):
            if self.reason[row] is not None:
                continue  # generate() pads a finished row; nothing of it is the answer
            self.tokens[row].append(tok)
            if tok in self.eos:
                self.reason[row] = "stop"
            elif len(self.tokens[row]) >= self.limits[row]:
                self.reason[row] = "length"
            self._emit(row, final=self.reason[row] is not None)

    def _emit(self, row: int, final: bool) -> None:
        if self.on_piece is None and not final:
            return  # nobody streams (evaluation, predict): decode each answer once, at its end
        text = self.tokenizer.decode(self.tokens[row], skip_special_tokens=True)
        if text.endswith("\ufffd") and not final:  # a character split across tokens: wait for its other part
            return
        if len(text) > len(self.sent[row]) and self.on_piece is not None:
            self.on_piece(row, text[len(self.sent[row]):])
        self.sent[row] = text

    def end(self) -> None:
        for row in range(len(self.limits)):
            if self.reason[row] is None:
                self.reason[row] = "length"
                self._emit(row, final=True)

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        return torch.tensor([r is not None for r in self.reason], device=input_ids.device)


def decode_together(model, tokenizer, prompts: list[list[int]], limits: list[int], sampling: Sampling,
                    bf16: bool = False, on_piece=None) -> list[dict]:
    """Answers to token-id prompts, row i stopping after at most limits[i] new tokens. Each result holds the
    answer's text (stripped), prompt and completion token counts, and OpenAI's finish reason ("stop": the model
    ended it; "length": the limit did)."""
    eos = set(_as_list(model.generation_config.eos_token_id)) | {tokenizer.eos_token_id} - {None}
    rows = _Rows(tokenizer, limits, eos, on_piece)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=model.device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=model.device)
    model.eval()
    with torch.inference_mode(), autocast(bf16):
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max(limits), pad_token_id=pad,
                       streamer=rows, stopping_criteria=StoppingCriteriaList([rows]), **sampling.generate_kwargs())
    return [{"text": rows.sent[i].strip(), "prompt_tokens": len(p), "completion_tokens": len(rows.tokens[i]),
             "finish_reason": rows.reason[i]} for i, p in enumerate(prompts)]


def _as_list(x) -> list:
    return [] if x is None else list(x) if isinstance(x, (list, tuple)) else [x]
