"""Zero-shot classification on tiny random models: the embedding path on the seeded tiny BERT, the
label-likelihood path on a tiny random Llama with a word-level tokenizer and a chat template built here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tuneforge.cli import main
from tuneforge.config import ZeroShotConfig, load_config
from tuneforge.errors import TuneforgeError
from tuneforge.methods import zero_shot as zsl
from tuneforge.methods.zero_shot_embed import EmbeddingSimilarity, needs_e5_prefixes
from tuneforge.methods.zero_shot_llm import LabelLikelihood

WORDS = "good great bad awful movie plot the was a very not text label answer positive negative n/a".split()
CHAT = ("{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
        "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide Llama and a word-level tokenizer with a chat template, like SmolLM2's shape."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    path = tmp_path_factory.mktemp("tiny-llama")
    vocab = {w: i for i, w in enumerate(["[UNK]", "<|im_start|>", "<|im_end|>", "user", "assistant", "system",
                                         ":", ".", ",", "?"] + WORDS)}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Whitespace()  # splits "positive," into "positive" ","
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", eos_token="<|im_end|>",
                                  pad_token="<|im_end|>", bos_token="<|im_start|>")
    tok.chat_template = CHAT
    tok.save_pretrained(path)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                      tie_word_embeddings=True, eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<|im_end|>"])
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(path)
    return path


# ------------------------------------------------------------------ embedding similarity

def test_embedding_picks_the_label_whose_description_is_the_text(tiny_bert):
    desc = {"positive": "a very good movie", "negative": "the plot was awful"}
    clf = EmbeddingSimilarity(["positive", "negative"], str(tiny_bert), descriptions=desc, bf16=False)
    preds = zsl.predict(clf, ["the plot was awful", "a very good movie"])
    assert [p["label"] for p in preds] == ["negative", "positive"]  # cosine 1 with its own description
    for p in preds:
        assert set(p["probabilities"]) == {"positive", "negative"}
        assert abs(sum(p["probabilities"].values()) - 1) < 1e-4


def test_embedding_default_descriptions_come_from_the_template(tiny_bert):
    clf = EmbeddingSimilarity(["good", "bad"], str(tiny_bert), template="it was {label} .",
                              descriptions={"bad": "awful"}, bf16=False)
    assert clf.descriptions == ["it was good .", "awful"]
    # batching and length-sorting must not change a text's embedding
    texts = ["good", "the plot was not very good at all , a bad movie", "bad"]
    together = clf.embed(texts)
    alone = torch.cat([clf.embed([t]) for t in texts])
    assert torch.allclose(together, alone, atol=1e-5)


def test_e5_gets_query_prefixes(tiny_sp_bert, tmp_path):
    import shutil
    e5_dir = tmp_path / "tiny-e5"
    shutil.copytree(tiny_sp_bert, e5_dir)
    assert needs_e5_prefixes("multilingual-e5-small", "/x") and not needs_e5_prefixes("minilm-l6", "/x")
    clf = EmbeddingSimilarity(["positive", "negative"], str(e5_dir), bf16=False)
    assert clf.prefix == "query: "
    # the label vectors were embedded with the prefix: they equal a prefixed embedding of the description
    assert torch.allclose(clf.label_vecs[0], clf.embed(["query: This text is positive."])[0], atol=1e-5)


# ------------------------------------------------------------------ label likelihood

def _reference_score(clf: LabelLikelihood, text: str, j: int) -> float:
    """One unpadded sequence, scored the slow obvious way."""
    prompt, ans = clf._prompt_ids(text), clf.answers[j]
    ids = torch.tensor([prompt + ans])
    with torch.no_grad():
        logp = clf.model(input_ids=ids).logits[0].log_softmax(-1)
    return sum(logp[len(prompt) - 1 + k, t].item() for k, t in enumerate(ans)) / len(ans)


def test_llm_batched_scores_match_one_at_a_time(tiny_llama):
    clf = LabelLikelihood(["positive", "negative"], str(tiny_llama), verbalizers={"negative": "not good"},
                          calibrate=False, batch_size=3, bf16=False)  # fp32: exact comparison
    assert clf.answers[1][:2] == clf.tok("not good", add_special_tokens=False)["input_ids"]
    assert clf.answers[0][-1] == clf.tok.eos_token_id  # the answer is closed by the end-of-turn token
    texts = ["good", "the plot was awful , a very bad movie", "great"]  # different lengths: padding in batches
    got = clf._scores(texts)
    for i, t in enumerate(texts):
        for j in range(2):
            assert got[i, j].item() == pytest.approx(_reference_score(clf, t, j), abs=1e-4)


def test_llm_prompt_is_chat_templated_and_names_the_labels(tiny_llama):
    clf = LabelLikelihood(["positive", "negative"], str(tiny_llama), calibrate=False,
                          template="text : {text} . label ? {labels}")
    ids = clf._prompt_ids("good movie")
    words = clf.tok.convert_ids_to_tokens(ids)
    assert words[:2] == ["<|im_start|>", "user"] and words[-2:] == ["<|im_start|>", "assistant"]
    assert "good" in words and "positive" in words and "negative" in words
    clf.max_length = 64  # an over-long text is cut, never the instruction or the chat markers around it
    words = clf.tok.convert_ids_to_tokens(clf._prompt_ids("good movie " * 200))
    assert len(words) < 64 and words[:3] == ["<|im_start|>", "user", "text"] and words[-1] == "assistant"


def test_llm_calibration_makes_the_content_free_input_uniform(tiny_llama):
    clf = LabelLikelihood(["positive", "negative"], str(tiny_llama), calibrate=True)
    raw = LabelLikelihood(["positive", "negative"], str(tiny_llama), calibrate=False)
    assert clf.probabilities(["N/A"])[0] == pytest.approx([0.5, 0.5], abs=1e-5)
    assert raw.probabilities(["N/A"])[0] != pytest.approx([0.5, 0.5], abs=1e-3)  # a random LM has a prior


# ------------------------------------------------------------------ options, config, CLI

def test_labels_parsing_rejects_empty_duplicate_and_single():
    assert zsl.parse_labels(" positive , negative ") == ["positive", "negative"]
    for bad in ("positive,,negative", "positive,positive", "positive", ""):
        with pytest.raises(TuneforgeError):
            zsl.parse_labels(bad)
    assert zsl.parse_pairs(['positive=a "good" one'], "--describe") == {"positive": 'a "good" one'}
    with pytest.raises(TuneforgeError):
        zsl.parse_pairs(["positive"], "--describe")


def test_config_section_is_validated_with_file_and_line(tmp_path):
    cfg = tmp_path / "zs.yaml"
    cfg.write_text("data:\n  train: t.csv\nzero_shot:\n  labels: [a, b]\n  method: nli\n", encoding="utf-8")
    with pytest.raises(TuneforgeError) as e:
        load_config(cfg)
    assert e.value.where == f"{cfg}:5" and "nli" in e.value.what
    with pytest.raises(TuneforgeError) as e:
        load_config(cfg, ["zero_shot.method=llm", "zero_shot.template=no placeholder"])
    assert "{text}" in e.value.what
    with pytest.raises(TuneforgeError) as e:
        load_config(cfg, ["zero_shot.method=embedding", "zero_shot.descriptions={c: x}"])
    assert "'c'" in e.value.what
    assert load_config(cfg, ["zero_shot.method=llm"]).zero_shot.method == "llm"


def _write_polarity(path: Path, n: int = 6) -> Path:
    rows = ["text,label"] + [f"a very good movie {i},positive" for i in range(n)] + \
           [f"the plot was awful {i},negative" for i in range(n)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("args, needle", [
    (["--labels", "positive,,negative", "--text", "x"], "empty label"),
    (["--labels", "positive,positive", "--text", "x"], "twice"),
    (["--labels", "positive,negative", "--method", "nli", "--text", "x"], "--method is 'nli'"),
    (["--labels", "positive,negative", "--input", "/nonexistent/in.txt"], "not found"),
    (["--labels", "positive,negative", "--data", "/nonexistent/d.csv"], "not found"),
    (["--labels", "positive,negative", "--describe", "neutral=meh", "--text", "x"], "'neutral'"),
    (["--labels", "positive,negative", "--text", "x", "--input", "y.txt"], "exactly one"),
    (["--text", "x"], "no labels"),
])
def test_cli_bad_input_exits_2_with_one_paragraph(args, needle, capsys):
    assert main(["zero-shot", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and "Traceback" not in err


def test_cli_predicts_json_lines_and_evaluates(tiny_bert, tmp_path, capsys):
    texts = tmp_path / "in.txt"
    texts.write_text("a very good movie\nthe plot was awful\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    common = ["zero-shot", "--labels", "positive,negative", "--backbone", str(tiny_bert),
              "--describe", "positive=a very good movie", "--describe", "negative=the plot was awful"]
    assert main([*common, "--input", str(texts), "--output", str(out)]) == 0
    preds = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
    assert [p["label"] for p in preds] == ["positive", "negative"]
    assert set(preds[0]) == {"text", "label", "probabilities"}

    data = _write_polarity(tmp_path / "labeled.csv")
    metrics = tmp_path / "m.json"
    assert main([*common, "--data", str(data), "--output", str(metrics)]) == 0
    m = json.loads(metrics.read_text(encoding="utf-8"))
    assert m["n"] == 12 and 0 <= m["accuracy"] <= 1 and m["baseline_majority"]["accuracy"] == 0.5
    assert main(["zero-shot", "--labels", "good,bad", "--backbone", str(tiny_bert), "--data", str(data)]) == 2
    assert "gold label 'positive'" in capsys.readouterr().err  # file labels must be among --labels


def test_config_scores_its_test_split_with_labels_from_training_data(tiny_llama, tmp_path):
    data = _write_polarity(tmp_path / "d.csv", n=10)
    cfg_path = tmp_path / "zs.yaml"
    cfg_path.write_text(f"data:\n  train: {data}\nzero_shot:\n  method: llm\n  backbone: {tiny_llama}\n",
                        encoding="utf-8")
    res, labels = zsl.evaluate_config(load_config(cfg_path))
    assert labels == ["negative", "positive"]
    assert res["n"] == 2 and len(res["predictions"]) == 2  # 10% of 20 rows, the split `tuneforge train` uses
    assert res["baseline_majority"]["label"] in labels
    assert ZeroShotConfig().method == "embedding"
