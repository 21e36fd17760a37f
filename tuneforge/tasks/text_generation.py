"""Text generation (instruction tuning): a question or conversation in, the model's answer out.

Training data are conversations whose last turn is the answer (tuneforge/data/chat.py). Each is rendered with the
backbone's own chat template (a plain `User:`/`Assistant:` layout when it ships none, said in the card), and the
loss counts the answer's tokens only: the prompt is context, not something to learn to write. The model selects on
validation loss (lower is better). Evaluation reports loss and perplexity on the answers, and scores greedy answers
against the references with ROUGE-L (the `rouge-score` package; Chinese, Japanese and Thai compared per character)
and chrF (`sacrebleu`, character n-grams: fair to any script); the untuned backbone answers the same prompts in the
same run as the baseline. Generation settings (config `generate`) are saved as the run's generation_config.json,
which transformers reads too.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch

from ..config.schema import GenerateConfig
from ..data.chat import ChatExample
from ..data.report import token_lengths
from .base import Task, TaskDefaults, autocast, register_task
from .decoding import Sampling, decode_together

IGNORE = -100  # transformers' label for "no loss here"
# Scripts written without spaces: ROUGE-L compares them per character (a whitespace "word" would be a sentence).
_UNSEGMENTED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f]")
_WORD = re.compile(r"\w+", re.UNICODE)


class _RougeTokens:
    """rouge-score's tokenizer interface: lower-cased words, and every CJK/Thai character as its own token (its
    default keeps only [a-z0-9] and would score Chinese answers as empty)."""

    def tokenize(self, text: str) -> list[str]:
        out = []
        for w in _WORD.findall(text.lower()):
            out += list(w) if _UNSEGMENTED.search(w) else [w]
        return out


def answer_scores(generated: list[str], references: list[str]) -> list[dict]:
    """ROUGE-L F1 and chrF (0-100) of each answer against its reference."""
    from rouge_score.rouge_scorer import RougeScorer  # here: scoring is the only user, after training
    from sacrebleu.metrics import CHRF
    rouge, chrf = RougeScorer(["rougeL"], tokenizer=_RougeTokens()), CHRF()
    return [{"rouge_l": rouge.score(r, g)["rougeL"].fmeasure, "chrf": chrf.sentence_score(g, [r]).score / 100}
            for g, r in zip(generated, references)]


def render_prompt(tokenizer, messages: list[dict]) -> str:
    """The text the model continues: the conversation so far and the cue for the assistant's turn."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # No chat template (a base model): one plain layout, used the same way in training and generation.
    return "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages) + "Assistant:"


@register_task("text-generation")
class TextGenerationTask(Task):
    metric_for_best = "loss"
    greater_is_better = False
    headline_metrics = ("loss", "perplexity", "rouge_l", "chrf")
    validation_metrics = ()  # validation loss only while training: generating answers each time costs minutes
    input_kind = "chat"
    label_kind = "answers"
    predicts_labels = False
    length_buckets = True  # answers from a word to a paragraph: mega-batches padded most rows to the longest
    peft_task_type = "CAUSAL_LM"
    # The run directory itself is the Hugging Face export (merged safetensors, tokenizer, generation_config.json);
    # `tuneforge export --format gguf` adds a llama.cpp file
    export_kind = "decoder"
    export_metric = "rouge_l"  # loss is not in points: an export is held to the answers it generates
    # Full fine-tuning of a 135M decoder: 5e-5 is the usual instruction-tuning rate; LoRA's is 10x (methods/)
    defaults = TaskDefaults(learning_rate=5e-5, head_learning_rate=5e-5, num_layers=None, dropout=None,
                            freeze_embeddings=False)

    @property
    def model_class(self):
        from transformers import AutoModelForCausalLM
        return AutoModelForCausalLM

    def labels(self, train) -> list[str]:
        return []  # answers are free text

    def known_labels(self, labels: list[str]) -> set[str]:
        return set()

    def build_model(self, backbone_path: str, labels: list[str], cfg):
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained(backbone_path)
        if cfg.train.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        self.set_generation(model, cfg, self.load_processor(backbone_path))
        return model, set()  # nothing is freshly initialised: one learning rate

    eval_limit: int | None = None  # generate.eval_limit, set with the run's config (configure_processor)

    def configure_processor(self, processor, cfg):
        self.eval_limit = cfg.generate.eval_limit
        return processor

    @staticmethod
    def set_generation(model, cfg, tokenizer) -> None:
        g = model.generation_config
        g.max_new_tokens = cfg.generate.max_new_tokens
        g.do_sample = cfg.generate.temperature > 0
        g.temperature = cfg.generate.temperature if g.do_sample else None
        g.top_p = cfg.generate.top_p if g.do_sample else None
        g.top_k = None if not g.do_sample else g.top_k
        g.pad_token_id = tokenizer.pad_token_id
        if g.eos_token_id is None:
            g.eos_token_id = tokenizer.eos_token_id

    def collator(self, tokenizer):
        from transformers import DataCollatorForSeq2Seq
        # pads input_ids with the pad token and labels with IGNORE, each batch to its own longest sequence
        return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE)

    def _ids(self, tokenizer, ex: ChatExample, max_length: int) -> tuple[list[int], list[int]]:
        """(prompt ids, answer ids) cut to max_length together: the answer keeps at least half (its end is
        cut), the prompt keeps its end (the question nearest the answer)."""
        plain = not getattr(tokenizer, "chat_template", None)  # the plain layout starts with BOS, as the model's text
        prompt = tokenizer(render_prompt(tokenizer, ex.messages[:-1]), add_special_tokens=plain)["input_ids"]
        answer = tokenizer((" " if plain else "") + ex.response, add_special_tokens=False)["input_ids"]
        answer = answer + [tokenizer.eos_token_id]  # the model learns to stop
        if len(prompt) + len(answer) > max_length:
            answer = answer[:max(max_length // 2, max_length - len(prompt))]
            prompt = prompt[len(prompt) - (max_length - len(answer)):] if max_length > len(answer) else []
        return prompt, answer

    def encode(self, tokenizer, examples, labels, max_length: int) -> list[dict]:
        out = []
        for ex in examples:
            prompt, answer = self._ids(tokenizer, ex, max_length)
            ids = prompt + answer
            out.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [IGNORE] * len(prompt) + answer})
        return out

    def compute_metrics(self, labels):
        return None  # the Trainer reports validation loss itself

    preprocess_logits = None

    def length_of(self, tokenizer, examples) -> list[int]:
        return [a + b for a, b in zip(token_lengths(tokenizer, [render_prompt(tokenizer, e.messages[:-1])
                                                                for e in examples]),
                                      token_lengths(tokenizer, [e.response for e in examples]))]

    # -- evaluation and generation -----------------------------------------------------------------
    def answer_loss(self, model, tokenizer, examples, max_length: int, batch_size: int, bf16: bool) -> float:
        """Mean cross-entropy per answer token over `examples` (prompts excluded), batches sorted by length."""
        feats, collate = self.encode(tokenizer, examples, [], max_length), self.collator(tokenizer)
        order = sorted(range(len(feats)), key=lambda i: len(feats[i]["input_ids"]))
        total, count = 0.0, 0
        model.eval()
        with torch.inference_mode(), autocast(bf16):
            for s in range(0, len(order), batch_size):
                batch = {k: v.to(model.device) for k, v in collate([feats[i] for i in order[s:s + batch_size]]).items()}
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
                target = batch["labels"][:, 1:]
                nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                                        target.reshape(-1), ignore_index=IGNORE, reduction="sum")
                total, count = total + float(nll), count + int((target != IGNORE).sum())
        return total / max(1, count)

    def generate(self, model, tokenizer, conversations: list[list[dict]], max_length: int, batch_size: int,
                 bf16: bool, progress: bool = False) -> list[str]:
        """Answers to conversations (each ending with a user turn), in input order, with the run's generation
        settings: the server's decoder (`decode_together`) on batches of similar prompt length, each prompt cut to
        `max_length` tokens as the server cuts it, so evaluation, predict and the chat route answer alike."""
        from tqdm.auto import tqdm
        g = model.generation_config
        sampling = Sampling(temperature=g.temperature or 0.0, top_p=g.top_p or 1.0) if g.do_sample else Sampling()
        # a run's generation_config.json always holds it (set_generation); a hand-edited one may not
        limit = g.max_new_tokens or GenerateConfig().max_new_tokens
        prompts = [self.prompt_ids(tokenizer, c, max_length) for c in conversations]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out: list[str] = [""] * len(prompts)
        for s in tqdm(range(0, len(order), batch_size), desc="generate", disable=not progress, unit="batch"):
            idx = order[s:s + batch_size]
            done = decode_together(model, tokenizer, [prompts[i] for i in idx], [limit] * len(idx), sampling, bf16)
            for i, answer in zip(idx, done):
                out[i] = answer["text"]
        return out

    def evaluate(self, model, tokenizer, examples, labels, max_length: int, batch_size: int, bf16: bool,
                 progress: bool = True) -> dict:
        loss = self.answer_loss(model, tokenizer, examples, max_length, batch_size, bf16)
        scored = examples if self.eval_limit is None else examples[:self.eval_limit]
        answers = self.generate(model, tokenizer, [e.messages[:-1] for e in scored], max_length, batch_size, bf16,
                                progress)
        per = answer_scores(answers, [e.response for e in scored])
        metrics = {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}
        if per:  # generate.eval_limit 0: no answers, no answer scores
            metrics |= {"rouge_l": float(np.mean([p["rouge_l"] for p in per])),
                        "chrf": float(np.mean([p["chrf"] for p in per]))}
        metrics |= {"n": len(examples), "n_generated": len(scored)}
        predictions = [{"text": e.text, "reference": e.response, "generated": a,
                        "rouge_l": round(p["rouge_l"], 4), "chrf": round(p["chrf"], 4)}
                       for e, a, p in zip(scored, answers, per)]
        return {"metrics": metrics, "report": self.report(metrics, predictions), "confusion": None,
                "predictions": predictions}

    @staticmethod
    def report(metrics: dict, predictions: list[dict], show: int = 5) -> str:
        scores = f"  ROUGE-L {metrics['rouge_l']:.4f}  chrF {metrics['chrf']:.4f}" if "chrf" in metrics else ""
        lines = [f"loss {metrics['loss']:.4f}  perplexity {metrics['perplexity']:.2f}{scores}  "
                 f"({metrics['n_generated']} of {metrics['n']} answers generated)", "",
                 "Sample answers (question → generated | reference):"]
        for p in predictions[:show]:
            lines.append(f"- {p['text'][:120]!r}\n  → {p['generated'][:200]!r}\n  | {p['reference'][:200]!r}")
        return "\n".join(lines) + "\n"

    def predict(self, model, tokenizer, texts: list[str], labels, max_length: int, batch_size: int,
                bf16: bool) -> list[dict]:
        answers = self.generate(model, tokenizer, [[{"role": "user", "content": t}] for t in texts], max_length,
                                batch_size, bf16)
        return [{"text": t, "generated": a} for t, a in zip(texts, answers)]

    @staticmethod
    def prompt_ids(tokenizer, messages: list[dict], max_length: int) -> list[int]:
        """The token ids a conversation (ending with a user turn) is answered from; over `max_length` tokens, its
        end is kept (the question is last)."""
        plain = not getattr(tokenizer, "chat_template", None)
        return tokenizer(render_prompt(tokenizer, messages), add_special_tokens=plain)["input_ids"][-max_length:]

    def chat(self, model, tokenizer, conversations: list[list[dict]], limits: list[int], sampling: Sampling,
             max_length: int, bf16: bool = False, on_piece=None) -> list[dict]:
        """Answers to conversations decoded together (the server's OpenAI-compatible route), each with its own
        limit of new tokens, with these sampling settings instead of the run's; see tasks/decoding.py."""
        prompts = [self.prompt_ids(tokenizer, c, max_length) for c in conversations]
        return decode_together(model, tokenizer, prompts, limits, sampling, bf16, on_piece)

    def summarize(self, pred: dict) -> tuple[str | None, float | None]:
        return None, None  # an answer is free text: drift watches the questions' lengths

    def baseline(self, cfg, processor, labels, splits, bf16: bool) -> tuple[str, dict] | None:
        """The untuned backbone, asked the same test prompts with the same generation settings."""
        if not splits.test or not cfg.train.baseline:
            return None
        from ..backbones.registry import resolve_backbone
        model, _ = self.build_model(resolve_backbone(cfg.backbone), labels, cfg)
        res = self.evaluate(model, processor, splits.test, labels, cfg.train.max_length, cfg.train.eval_batch_size,
                            bf16, progress=False)
        return "baseline_untuned", {"model": f"{cfg.backbone}, untuned, the same prompts",
                                    "test": {k: round(v, 4) if isinstance(v, float) else v
                                             for k, v in res["metrics"].items()},
                                    "predictions": res["predictions"]}

    def card_parts(self, cfg, labels: list[str]) -> dict:
        t, g, o = cfg.train, cfg.generate, cfg.output_dir
        return {
            "headline": "validation and test loss and perplexity on the reference answers; ROUGE-L and chrF of "
                        "the generated answers against them",
            "shape": f"max length {t.max_length} tokens (question and answer together; a longer question keeps "
                     f"its end); answers of at most {g.max_new_tokens} new tokens, "
                     + ("greedy" if g.temperature == 0 else f"sampled at temperature {g.temperature}, top-p {g.top_p}"),
            "body": ", the loss counts answer tokens only (the prompt is context)",
            "use": f'tuneforge predict {o} --text "your question"\ntuneforge predict {o} --input questions.txt '
                   f"--output answers.jsonl",
            "example": '{"text": "your question", "generated": "the answer"}',
            "hf": f'`AutoModelForCausalLM.from_pretrained("{o}")` with `AutoTokenizer.from_pretrained("{o}")`: '
                  f"build the prompt with `tokenizer.apply_chat_template(messages, add_generation_prompt=True)` "
                  f"(a base model without a chat template was trained on `User: ...\\nAssistant:`), then "
                  f"`model.generate` (its generation_config.json holds these settings)",
            "limits": "questions unlike the training conversations; answers are not checked for facts",
        }
