"""Decoders packaged as GGUF files (SmolLM2, Gemma 3), expanded once into a plain fp32 Hugging Face directory in the
tuneforge model cache. Transformers de-quantizes GGUF on every load (15 s to minutes here); a saved directory loads
in seconds and is what training, export and plain `transformers` read."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from ..errors import TuneforgeError


def expand_gguf(src: Path, gguf_file: str, out: Path) -> Path:
    """`src/gguf_file` de-quantized to fp32 and saved with its tokenizer as `out` (atomically). Returns `out`."""
    try:
        import gguf  # noqa: F401  (transformers needs it to read GGUF)
    except ImportError:
        raise TuneforgeError(f"reading {gguf_file} needs the `gguf` package", fix="pip install gguf==0.19.0") from None
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(src), gguf_file=gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=gguf_file, dtype=torch.float32)
    # save_pretrained refuses a model loaded from GGUF (its quantizer flags it unserializable) although
    # the weights are plain fp32 by now: move them into a fresh model of the same config, built on the
    # meta device so no time goes into a random initialisation that would be overwritten anyway.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict(), assign=True)
    model.tie_weights()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)  # atomic: a killed conversion never leaves a half-written cache entry
    return out


def expanded(out: Path) -> bool:
    return (out / "config.json").is_file() and (out / "model.safetensors").is_file()
