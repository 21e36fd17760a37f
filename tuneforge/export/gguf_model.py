"""A text-generation run as one GGUF file, the format llama.cpp (and Ollama, LM Studio, llama-cpp-python) runs.

Written with the `gguf` package (llama.cpp's own Python writer), following llama.cpp's converter for Llama-family
decoders such as SmolLM2: the Hugging Face tensor names mapped to GGUF's (`gguf.get_tensor_name_map`), the query
and key projections permuted into llama.cpp's rotary layout (interleaved pairs instead of halves), norms kept in
fp32, matrices in fp16 or Q8_0; the byte-level BPE tokenizer as `gpt2` tokens, types and merges, its
pre-tokenizer named as llama.cpp knows it, the special ids and the chat template. Only what can be written
faithfully is: another architecture, or a tokenizer llama.cpp would split differently, is refused with the
reason instead of producing a file that answers differently.

It is loaded back (for `tuneforge export`'s measurement, `tuneforge serve` and predict) by transformers' own GGUF
reader, which dequantizes it and undoes the permutation: the export is scored on the run's validation
questions against the fp32 model, as every export is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import TuneforgeError

GGUF_FILE = "model.gguf"
# The Hugging Face pre-tokenizers llama.cpp reproduces, by the name its vocabulary loader knows them: byte-level BPE
# splitting with GPT-2's pattern (SmolLM2-135M-Instruct's), or that after a step splitting every digit apart
# (llama.cpp's "smollm" pattern).
_PRE_TOKENIZERS = {
    (("ByteLevel", True),): "gpt-2",  # llama.cpp's name ("gpt2" is refused: unknown pre-tokenizer type)
    (("Digits", True), ("ByteLevel", False)): "smollm",
}


def _pre_tokenizer(tokenizer_json: dict) -> str:
    pre = tokenizer_json.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    shape = tuple((s.get("type"), bool(s.get("use_regex", s.get("individual_digits", False)))) for s in steps)
    # llama.cpp adds no space before the first word and normalises nothing: a tokenizer that does would differ
    reshapes = tokenizer_json.get("normalizer") or any(s.get("add_prefix_space") for s in steps)
    if tokenizer_json.get("model", {}).get("type") != "BPE" or shape not in _PRE_TOKENIZERS or reshapes:
        raise TuneforgeError(
            f"this run's tokenizer ({tokenizer_json.get('model', {}).get('type')} model, pre-tokenizer "
            f"{[s[0] for s in shape]}) has no GGUF form that llama.cpp would split the same way",
            where="--format", fix="GGUF export supports byte-level BPE tokenizers (GPT-2 style, SmolLM2); serve "
                                  "or register the run directory itself, which transformers loads as it is")
    return _PRE_TOKENIZERS[shape]


def _vocabulary(tokenizer, writer, n_vocab: int) -> None:
    """Tokens in id order with their types, merges, special ids and chat template, as llama.cpp's converter
    writes a GPT-2-style vocabulary (ids the embedding has beyond the tokenizer become unused [PAD] tokens)."""
    import gguf
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(spec))
    by_id = {i: t for t, i in tokenizer.get_vocab().items()}
    added = {a["id"]: a for a in spec.get("added_tokens", [])}
    tokens, types = [], []
    for i in range(n_vocab):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        else:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.NORMAL if i not in added else
                         gguf.TokenType.CONTROL if added[i].get("special") else gguf.TokenType.USER_DEFINED)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    merges = spec["model"].get("merges", [])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    for name in ("bos", "eos", "unk", "pad"):
        tid = getattr(tokenizer, f"{name}_token_id", None)
        if tid is not None:
            getattr(writer, f"add_{name}_token_id")(tid)
    # Whether encoding adds BOS/EOS around a text, as the tokenizer itself does (SmolLM2's adds neither: its chat
    # template writes <|im_start|>); llama.cpp's default for a gpt2 vocabulary need not agree, so it is written out.
    ids = tokenizer("a")["input_ids"]
    writer.add_add_bos_token(bool(ids) and ids[0] == tokenizer.bos_token_id)
    writer.add_add_eos_token(bool(ids) and ids[-1] == tokenizer.eos_token_id)
    if getattr(tokenizer, "chat_template", None):
        writer.add_chat_template(tokenizer.chat_template)


def _rotary_layout(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp rotates interleaved pairs of each head's dimensions; Hugging Face Llama rotates its two halves.
    The same permutation as llama.cpp's converter (transformers' GGUF reader undoes it)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(model, tokenizer, path: Path, quantization: str) -> None:
    """`quantization`: "F16" (matrices fp16, as llama.cpp's converter writes by default) or "Q8_0" (8-bit blocks
    of 32 with one fp16 scale: about half the size of fp16)."""
    import gguf
    cfg = model.config
    if cfg.model_type != "llama":
        raise TuneforgeError(f"GGUF export writes Llama-family decoders (SmolLM2); this run's model is "
                             f"{cfg.model_type!r}", where="--format",
                             fix="serve or register the run directory itself, which transformers loads as it is")
    rope = cfg.rope_parameters or {}
    if rope.get("rope_type", "default") != "default" or "rope_theta" not in rope:
        raise TuneforgeError(f"GGUF export writes plain rotary positions; this model's are {rope}", where="--format",
                             fix="serve or register the run directory itself, which transformers loads as it is")
    qtype = gguf.GGMLQuantizationType[quantization]
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_head
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(Path(getattr(cfg, "_name_or_path", "") or "tuneforge run").name)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(rope["rope_theta"]))
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if quantization == "F16" else gguf.LlamaFileType.MOSTLY_Q8_0)
    _vocabulary(tokenizer, writer, cfg.vocab_size)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue  # llama.cpp reads the output projection from token_embd when output.weight is absent
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise TuneforgeError(f"no GGUF name for the weight {name}", where="--format",
                                 fix="serve or register the run directory itself")
        w = tensor.detach().float().cpu().numpy()
        if name.endswith("q_proj.weight"):
            w = _rotary_layout(w, n_head)
        elif name.endswith("k_proj.weight"):
            w = _rotary_layout(w, n_kv)
        if w.ndim == 1:  # norms stay fp32, as llama.cpp's converter keeps them
            writer.add_tensor(target, w.astype(np.float32))
        elif quantization == "F16":
            writer.add_tensor(target, w.astype(np.float16))
        else:
            writer.add_tensor(target, gguf.quants.quantize(w, qtype), raw_dtype=qtype)  # shape read from the bytes
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def load_gguf(path: Path, task):
    """The export as transformers reads any GGUF file: dequantized to fp32, the rotary permutation undone."""
    import contextlib
    import io

    import torch
    from transformers import AutoModelForCausalLM
    # its reader draws a bar per load with plain tqdm, which transformers' progress switch does not reach
    with contextlib.redirect_stderr(io.StringIO()):
        model = AutoModelForCausalLM.from_pretrained(str(path), gguf_file=GGUF_FILE, dtype=torch.float32)
    if (path / "generation_config.json").is_file():  # the run's decoding settings, not the reader's defaults
        from transformers import GenerationConfig
        model.generation_config = GenerationConfig.from_pretrained(str(path))
    return model.eval()
