"""Head+tail truncation (tasks/truncation.py): a long text keeps its first quarter and its end, a short one is left
alone, and a run trained that way reads the same tokens when it is loaded again to predict."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from tuneforge.tasks import truncation

FILLER = "the movie was and the plot was and the cast was "


@pytest.fixture(scope="module")
def tok(tiny_bert):
    return AutoTokenizer.from_pretrained(str(tiny_bert))


def test_a_long_text_keeps_its_first_quarter_and_its_end(tok):
    text = "good " + FILLER * 10 + "terrible"
    (cut,) = truncation.head_and_tail(tok, [text], 32)
    assert cut.startswith("good the movie") and cut.endswith("terrible")
    truncation.set_mode(tok, "head+tail")
    try:
        ids = truncation.tokenize(tok, [text], 32)["input_ids"][0]
    finally:
        truncation.set_mode(tok, "head")
    words = tok.convert_ids_to_tokens(ids)
    assert len(ids) == 32 and words[:2] == ["[CLS]", "good"] and words[-2:] == ["terrible", "[SEP]"]
    assert words.index("[SEP]") == 31  # one text: the cut does not add a second segment
    head_only = tok.convert_ids_to_tokens(truncation.tokenize(tok, [text], 32)["input_ids"][0])
    assert "terrible" not in head_only and len(head_only) == 32  # the mode decides; head is plain truncation


def test_a_text_within_the_limit_is_left_alone(tok):
    text = "good " + FILLER
    assert truncation.head_and_tail(tok, [text], 64) == [text]


def test_a_run_on_long_texts_chooses_head_and_tail_and_reads_their_ends(tmp_path, tiny_bert):
    from factories import make_config, write_long_reviews

    from tuneforge.config import load_config
    from tuneforge.rundir import load_run
    from tuneforge.train.run import train
    data = write_long_reviews(tmp_path / "long.csv", 160, seed=0, filler=FILLER * 4)
    cfg = load_config(make_config(tmp_path, tiny_bert, "text-classification", {"train": str(data)},
                                  epochs=4, truncation="auto", baseline=False, decision_bias="none"))
    out = train(cfg, progress=False)
    m = json.loads((out / "metrics.json").read_text())
    choice = {c["key"]: c for c in m["train"]["auto_choices"]}["train.truncation"]
    assert choice["value"] == "head+tail" and "100.0%" in choice["why"]
    assert m["test"]["accuracy"] >= 0.9  # the label is in the last word only: a head cut would be at chance
    assert "first quarter and its end" in (out / "README.md").read_text()
    run = load_run(out)
    texts = [f"{FILLER * 4} {w}" for w in ("great", "lovely", "awful", "terrible")]
    assert [p["label"] for p in run.predict(texts)] == ["pos", "pos", "neg", "neg"]


def test_sentencepiece_pieces_cut_at_their_boundaries(tiny_sp_bert):
    """e5's kind of tokenizer (Unigram pieces, Metaspace), where the joined parts re-tokenize into more pieces than
    they held apart: the cut still keeps the first and the last words and fits the budget."""
    sp = AutoTokenizer.from_pretrained(str(tiny_sp_bert))
    text = "good " + FILLER * 10 + " terrible"
    (cut,) = truncation.head_and_tail(sp, [text], 32)
    assert cut.startswith(text[:1]) and cut.endswith(text[-1]) and len(cut) < len(text)
    truncation.set_mode(sp, "head+tail")
    ids = truncation.tokenize(sp, [text], 32)["input_ids"][0]
    assert len(ids) <= 32 and sp.decode(ids, skip_special_tokens=True).replace(" ", "").endswith(text[-1])
