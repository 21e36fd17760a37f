"""GGUF export of a text-generation run (export/gguf_model.py): what llama.cpp users load. Read back by
transformers' own GGUF reader, the file must hold the run's weights (rotary layout included), its tokenizer and its
chat template; what cannot be written faithfully is refused, not approximated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from factories import ANSWERS, make_config, run_cli, write_qa
from tuneforge.config import load_config
from tuneforge.export import load_predictor
from tuneforge.export.gguf_model import GGUF_FILE

QUESTIONS = ["mary is the plot ?", "john very the music ?", "it is not a the cast ?"]


@pytest.fixture(scope="module")
def bpe_qa_run(tmp_path_factory) -> Path:
    """A text-generation run of the tiny byte-level-BPE Llama (grouped-query attention: 4 heads, 2 for keys) that
    has learnt factories.ANSWERS."""
    from conftest import build_tiny_bpe_llama
    from tuneforge.train.run import train
    tmp = tmp_path_factory.mktemp("gguf")
    backbone = build_tiny_bpe_llama(tmp / "backbone")
    cfg = load_config(make_config(tmp, backbone, "text-generation", {"train": str(write_qa(tmp / "qa.jsonl", 300, 0))},
                                  epochs=10, max_length=48, early_stopping_patience=0))
    cfg.generate.max_new_tokens = 8
    return train(cfg, progress=False)


def test_gguf_holds_the_runs_model_tokenizer_and_template(bpe_qa_run, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    out = tmp_path / "gguf"
    r = run_cli("export", str(bpe_qa_run), "--format", "gguf", "--output", str(out))
    assert r.returncode == 0, r.stderr
    info = json.loads((out / "export.json").read_text())
    assert info["format"] == "gguf" and info["main_metric"] == "rouge_l" and GGUF_FILE in info["files"]
    assert abs(info["metrics"]["delta_points"]["rouge_l"]) < 1  # fp16 matrices: the same answers
    # plain transformers, given only the GGUF file: the same tokens, the same template, the same next-token logits
    run_tok = AutoTokenizer.from_pretrained(bpe_qa_run)
    tok = AutoTokenizer.from_pretrained(out, gguf_file=GGUF_FILE)
    prompt = run_tok.apply_chat_template([{"role": "user", "content": QUESTIONS[0]}], tokenize=False,
                                         add_generation_prompt=True)
    assert tok(prompt)["input_ids"] == run_tok(prompt)["input_ids"]
    import gguf  # transformers does not read the template back; llama.cpp does, from this field
    fields = gguf.GGUFReader(str(out / GGUF_FILE)).fields
    assert fields["tokenizer.chat_template"].contents() == run_tok.chat_template
    assert fields["general.architecture"].contents() == "llama" and fields["tokenizer.ggml.pre"].contents() == "gpt-2"
    ours, theirs = (AutoModelForCausalLM.from_pretrained(bpe_qa_run),
                    AutoModelForCausalLM.from_pretrained(out, gguf_file=GGUF_FILE, dtype=torch.float32))
    ids = run_tok(prompt, return_tensors="pt")
    with torch.no_grad():
        a, b = ours(**ids).logits, theirs(**ids).logits
    assert torch.allclose(a, b, atol=2e-2), float((a - b).abs().max())  # fp16 rounding, not a scrambled layout
    # served or predicted from the export directory: the run's answers
    expected = [p["generated"] for p in load_predictor(bpe_qa_run).predict(QUESTIONS)]
    assert [p["generated"] for p in load_predictor(out).predict(QUESTIONS)] == expected
    assert set(expected) <= set(ANSWERS.values())  # the run learnt: a wrong export could not match by chance


def test_q8_0_is_about_half_the_size_and_keeps_the_answers(bpe_qa_run, tmp_path):
    from tuneforge.export import export_run
    f16, _ = export_run(bpe_qa_run, "gguf", tmp_path / "f16", update_card=False)
    q8, info = export_run(bpe_qa_run, "gguf-q8_0", tmp_path / "q8", update_card=False)
    ratio = (q8 / GGUF_FILE).stat().st_size / (f16 / GGUF_FILE).stat().st_size
    assert 0.45 < ratio < 0.75, ratio  # 8.5 bits a weight against 16, plus the fp32 norms and the vocabulary
    assert info["metrics"]["delta_points"]["rouge_l"] > -1


@pytest.mark.parametrize("args,needle", [
    (["--format", "auto"], "name one: gguf, gguf-q8_0"),
])
def test_auto_names_the_decoder_formats(bpe_qa_run, tmp_path, args, needle):
    r = run_cli("export", str(bpe_qa_run), *args, "--output", str(tmp_path / "x"))
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()


def test_a_tokenizer_llama_cpp_would_split_differently_is_refused(qa_run, tmp_path):
    """conftest's tiny Llama has a word-level tokenizer: GGUF has no such vocabulary type."""
    r = run_cli("export", str(qa_run), "--format", "gguf", "--output", str(tmp_path / "x"))
    assert r.returncode == 2 and "no GGUF form" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()


def test_a_classifier_run_is_not_exported_as_gguf(tmp_path, tiny_bert):
    from factories import write_sentiment
    from tuneforge.train.run import train
    run = train(load_config(make_config(tmp_path, tiny_bert, "text-classification",
                                        {"train": str(write_sentiment(tmp_path / "r.csv", 60)),
                                         "text_column": "review", "label_column": "stars"}, epochs=1)), progress=False)
    r = run_cli("export", str(run), "--format", "gguf")
    assert r.returncode == 2 and "a decoder that generates text" in r.stderr and "onnx-int8" in r.stderr


def test_the_server_answers_from_a_gguf_export_through_the_openai_client(bpe_qa_run, tmp_path):
    """A GGUF export registered and served: /v1/chat/completions (the official client) answers as the run does."""
    import openai

    from factories import LiveServer
    from tuneforge.export import export_run
    from tuneforge.serve.app import ServeOptions
    from tuneforge.server import create_app
    from tuneforge.store.registry import Registry
    out, _ = export_run(bpe_qa_run, "gguf", tmp_path / "gguf", update_card=False)
    Registry(tmp_path / "reg").add("faq", out, stage="production")
    expected = load_predictor(bpe_qa_run).predict(QUESTIONS[:1])[0]["generated"]
    with LiveServer(create_app(ServeOptions(registry=str(tmp_path / "reg"), poll_s=0)), ready_path="/readyz") as s:
        client = openai.OpenAI(base_url=f"{s.url}/v1", api_key="not-checked", max_retries=0, timeout=120)
        r = client.chat.completions.create(model="faq", messages=[{"role": "user", "content": QUESTIONS[0]}])
    assert r.choices[0].message.content == expected
