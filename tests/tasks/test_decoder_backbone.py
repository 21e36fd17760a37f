"""A decoder (Llama and Gemma 3 style) as a text-classification backbone: its own last-token head, a pad token when
the tokenizer has none, full tuning and LoRA, and a run that plain transformers loads to the same answers."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from factories import make_config, write_sentiment
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tuneforge.config import load_config
from tuneforge.errors import TuneforgeError
from tuneforge.rundir import load_run
from tuneforge.train.run import train

TEXTS = ["the movie was great", "awful plot and boring cast", "it is not very good"]


def decoder_run(tmp_path, tiny_llama, **train_overrides):
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = {"train": str(write_sentiment(tmp_path / "reviews.csv", 120)), "text_column": "review", "label_column": "stars"}
    return train(load_config(make_config(tmp_path, tiny_llama, "text-classification", data,
                                         **{"epochs": 2, **train_overrides})), progress=False)


@pytest.fixture(params=["llama", "gemma3"])
def decoder(request):
    """The tiny decoder and the pad token its run must use: Llama's tokenizer has none (its end-of-text token
    pads), Gemma's has its own."""
    return request.getfixturevalue(f"tiny_{request.param}"), {"llama": "</s>", "gemma3": "<pad>"}[request.param]


def test_a_decoder_classifies_from_its_last_token_and_loads_in_plain_transformers(tmp_path, decoder):
    backbone, pad = decoder
    out = decoder_run(tmp_path, backbone)
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["train"]["pooling"] == "last"  # resolved from auto: the saved config shows what ran
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n"] > 0 and "last real token" in (out / "README.md").read_text()
    run = load_run(out)
    tok = AutoTokenizer.from_pretrained(str(out))
    assert tok.pad_token == pad and run.model.config.pad_token_id == tok.pad_token_id  # padding and head agree
    plain = AutoModelForSequenceClassification.from_pretrained(str(out)).eval()  # no remote code needed
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        together = plain(**batch).logits
        alone = torch.cat([plain(**tok([t], return_tensors="pt")).logits for t in TEXTS])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)  # padding never reaches the head
    preds = run.predict(TEXTS)
    assert [p["label"] for p in preds] == [run.labels[i] for i in together.argmax(-1).tolist()]


def test_lora_trains_and_saves_the_decoder_head(tmp_path, decoder):
    from tuneforge.methods.peft_adapters import load_adapter_model
    out = decoder_run(tmp_path, decoder[0], method="lora", learning_rate=None, freeze_embeddings=False)
    run = load_run(out)
    tok = run.tokenizer
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        merged = run.model.eval()(**batch).logits
        adapted = load_adapter_model(out).eval()(**batch).logits
    torch.testing.assert_close(merged, adapted, atol=1e-5, rtol=0)  # the trained `score` head is in both


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_encoder_poolings_are_refused_for_a_decoder(tmp_path, tiny_llama, pooling):
    with pytest.raises(TuneforgeError, match="train.pooling") as e:
        decoder_run(tmp_path, tiny_llama, pooling=pooling)
    assert "last" in e.value.fix


def test_auto_never_picks_setfit_for_a_decoder_and_setfit_is_refused(tmp_path, tiny_llama):
    """60 balanced examples per class would get SetFit with an encoder; a decoder has no sentence embedding for it."""
    out = decoder_run(tmp_path / "auto", tiny_llama, method="auto")
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["method"] == "full"
    choices = {c["key"]: c["why"] for c in json.loads((out / "metrics.json").read_text())["train"]["auto_choices"]}
    assert "is a decoder" in choices["train.method"]  # the recorded reason is the real one
    with pytest.raises(TuneforgeError, match="is a decoder") as e:
        decoder_run(tmp_path / "setfit", tiny_llama, method="setfit")
    assert "lora" in e.value.fix


def test_a_decoder_run_exports_to_onnx_with_the_same_answers(tmp_path, tiny_llama):
    """The last-token head finds its token through pad_token_id inside the graph: padded batches must agree."""
    from tuneforge.export import export_run, load_predictor
    out = decoder_run(tmp_path, tiny_llama, epochs=1)
    path, info = export_run(out, "onnx", force=True)
    assert info["metrics"]["delta_points"]["macro_f1"] == 0
    exported, run = load_predictor(path).predict(TEXTS), load_run(out).predict(TEXTS)
    for a, b in zip(exported, run):
        assert a["label"] == b["label"]
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-4)
