"""Shared fixtures: tiny randomly initialised backbones built inside the tests (no downloads)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = ("good great fine excellent lovely bad awful poor terrible boring movie plot cast music the was and "
         "a it is not very john mary lives in paris london works at acme corp").split()
CJK = list("中国北京上海人民日报张三李四公司在的了是")


def build_tiny_bert(path: Path, vocab_extra=()) -> Path:
    """A 2-layer, 32-wide BERT with a WordPiece tokenizer: trains in seconds on a CPU."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer
    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "?"] + WORDS + CJK + list(vocab_extra)
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz0123456789")
    (path / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    tok = BertTokenizer(vocab=str(path / "vocab.txt"), do_lower_case=True)
    tok.save_pretrained(path)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)  # the same tiny model in every session: test outcomes must not depend on luck
    BertForMaskedLM(cfg).bert.save_pretrained(path)
    return path


def build_tiny_sentencepiece_bert(path: Path) -> Path:
    """A tiny BERT with a Unigram/Metaspace tokenizer like multilingual-e5's: pre-split words come out
    as ['▁', '中', '▁', '国'], the alignment trap the NER task must avoid."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
    path.mkdir(parents=True, exist_ok=True)
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(c, -3.0) for c in CJK] + [("▁" + w, -4.0) for w in WORDS] + [(c, -6.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    tk = Tokenizer(models.Unigram(pieces, unk_id=3))
    tk.normalizer = normalizers.NFKC()
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tk.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tk.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                      special_tokens=[("<s>", 0), ("</s>", 2)])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", cls_token="<s>",
                                  sep_token="</s>", pad_token="<pad>", unk_token="<unk>")
    tok.save_pretrained(path)
    cfg = BertConfig(vocab_size=len(pieces), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, pad_token_id=1)
    torch.manual_seed(0)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(path)
    return path


def build_tiny_llama(path: Path) -> Path:
    """A 2-layer, 32-wide Llama decoder whose word-level tokenizer has no pad token, as many decoders ship."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    path.mkdir(parents=True, exist_ok=True)
    vocab = {w: i for i, w in enumerate(dict.fromkeys(["<unk>", "<s>", "</s>"] + WORDS + CJK + list(".,!?")))}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tok.save_pretrained(path)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=2, intermediate_size=64, max_position_embeddings=128, bos_token_id=1,
                      eos_token_id=2, pad_token_id=None, tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(path)
    return path


def build_tiny_bpe_llama(path: Path) -> Path:
    """The tiny Llama with a byte-level BPE tokenizer (GPT-2 style, as SmolLM2's) and a ChatML template: the kind
    of tokenizer a GGUF file can carry (tests/export/test_gguf.py)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    path.mkdir(parents=True, exist_ok=True)
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train_from_iterator([" ".join(WORDS), "".join(CJK), "user assistant system ? . , !"] * 20, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  unk_token="<|endoftext|>", pad_token="<|endoftext|>")
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                         "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tok.save_pretrained(path)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=128, max_position_embeddings=128,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(path)
    return path


def build_tiny_gemma3(path: Path) -> Path:
    """A 2-layer Gemma 3 text decoder (sliding-window and global attention layers, as gemma-3-270m) whose
    tokenizer ships a pad token of its own, as Gemma's does."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast
    path.mkdir(parents=True, exist_ok=True)
    vocab = {w: i for i, w in enumerate(dict.fromkeys(["<pad>", "<eos>", "<bos>", "<unk>"] + WORDS + CJK + list(".,!?")))}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>",
                                  pad_token="<pad>")
    tok.save_pretrained(path)
    cfg = Gemma3TextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=128,
                           sliding_window=8, layer_types=["sliding_attention", "full_attention"], pad_token_id=0,
                           eos_token_id=1, bos_token_id=2)
    torch.manual_seed(0)
    Gemma3ForCausalLM(cfg).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_gemma3(tmp_path_factory) -> Path:
    return build_tiny_gemma3(tmp_path_factory.mktemp("tiny-gemma3"))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_sp_bert(tmp_path_factory) -> Path:
    return build_tiny_sentencepiece_bert(tmp_path_factory.mktemp("tiny-sp-bert"))


@pytest.fixture(scope="session")
def qa_run(tmp_path_factory, tiny_llama) -> Path:
    """A text-generation run of the tiny Llama that has learnt factories.ANSWERS (the task's and the chat route's
    tests share it)."""
    from factories import make_config, write_qa
    from tuneforge.config import load_config
    from tuneforge.train.run import train
    tmp = tmp_path_factory.mktemp("text-generation")
    cfg = load_config(make_config(tmp, tiny_llama, "text-generation", {"train": str(write_qa(tmp / "qa.jsonl", 300, 0))},
                                  epochs=10, max_length=32, early_stopping_patience=0))
    cfg.generate.max_new_tokens = 8
    return train(cfg, progress=False)
