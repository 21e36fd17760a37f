"""paraphrase-MiniLM-L3 ONNX -> Hugging Face BERT: the converted model computes what ONNX Runtime computes
on the shipped file, and the conversion refuses a file that is not the one it knows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tuneforge.backbones import minilm_l3_convert as conv
from tuneforge.backbones.registry import BACKBONES
from tuneforge.errors import TuneforgeError

TEXTS = ["A gorgeous, witty film.", "the plot is thin and the acting is worse than the script",
         "It's not bad at all -- surprisingly moving!"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return conv.convert(conv.source_path(), tmp_path_factory.mktemp("l3") / "paraphrase-minilm-l3",
                        BACKBONES["minilm-l6"].locate())


def test_converted_bert_matches_onnx_runtime(converted):
    import onnxruntime as ort
    from transformers import AutoTokenizer, BertModel

    cfg = json.loads((converted / "config.json").read_text())
    assert (cfg["num_hidden_layers"], cfg["hidden_size"], cfg["num_attention_heads"]) == (3, 384, 12)
    tok = AutoTokenizer.from_pretrained(str(converted))
    batch = tok(TEXTS, padding=True, return_tensors="np")
    sess = ort.InferenceSession(str(conv.source_path()), providers=["CPUExecutionProvider"])
    outputs = [o.name for o in sess.get_outputs()]
    ids, mask = batch["input_ids"].astype(np.int64), batch["attention_mask"].astype(np.int64)
    hidden_ref, pooled_ref = sess.run([outputs[2], outputs[3]], {"input_ids": ids, "attention_mask": mask})

    model = BertModel.from_pretrained(str(converted), add_pooling_layer=False).eval()
    with torch.no_grad():
        hidden = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
    m = torch.from_numpy(mask).unsqueeze(-1).float()
    pooled = (hidden * m).sum(1) / m.sum(1)
    real = mask.astype(bool)  # padded positions are not compared: nothing downstream reads them
    np.testing.assert_allclose(hidden.numpy()[real], hidden_ref[real], atol=2e-4, rtol=1e-3)
    np.testing.assert_allclose(pooled.numpy(), pooled_ref, atol=1e-4, rtol=1e-3)
    # and the sentence embeddings still mean something: the two opposite reviews are not the same vector
    cos = torch.nn.functional.cosine_similarity(pooled[0], pooled[1], dim=0)
    assert cos < 0.9


def test_a_different_file_is_refused(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not an onnx model")
    with pytest.raises(TuneforgeError, match="checksum"):
        conv.convert(fake, tmp_path / "out", BACKBONES["minilm-l6"].locate())
    with pytest.raises(TuneforgeError, match="cannot read"):
        conv.convert(fake, tmp_path / "out", BACKBONES["minilm-l6"].locate(), expected_sha256=None)
    assert not (tmp_path / "out").exists()
