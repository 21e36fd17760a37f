"""`tuneforge app support train`: the retriever's training pairs, the threshold chosen on validation, the run
directory it writes (whole or not at all), and the assistant answering from it."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from tuneforge.apps.support.faq import normalise, read_faq
from tuneforge.apps.support.retriever_tuning import (Pair, RetrieverTuning, answer_pairs, choose_threshold,
                                                     handoff_rates, history_pairs, read_validation, variants)
from tuneforge.cli import main
from tuneforge.errors import TuneforgeError

from .conftest import FAQ_EN, write_faq

FAST = dict(epochs=2, batch_size=4, learning_rate=1e-3, variants_per_question=2, bf16=False)


@pytest.fixture(scope="module", autouse=True)
def fp32_everywhere():
    """Training and embedding in fp32 on every CPU kind: the native-bf16 check would otherwise pick the precision
    (and the tiny model's rankings) per machine. Autouse and module-scoped: set before the shared run is built."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("tuneforge.tasks.base.bf16_supported", lambda: False)
        yield


@pytest.fixture
def offtopic(tmp_path):
    p = tmp_path / "offtopic.txt"
    p.write_text("the plot was boring\nlondon is lovely\nit was a terrible cast\n", encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def support_run(tmp_path_factory, tiny_bert):
    from tuneforge.apps.support.support_run import train_support
    tmp = tmp_path_factory.mktemp("support-run")
    faq = write_faq(tmp / "faq.csv", FAQ_EN)
    off = tmp / "off.txt"
    off.write_text("the plot was boring\nlondon is lovely\n", encoding="utf-8")
    out, record = train_support(str(faq), tmp / "run", backbone=str(tiny_bert), tuning=RetrieverTuning(**FAST),
                                offtopic=str(off), progress=False)
    return faq, out, record


@pytest.mark.parametrize("kw", [dict(batch_size=1), dict(epochs=-1), dict(learning_rate=0), dict(max_length=4),
                                dict(scale=0)])
def test_settings_check_themselves(kw):
    with pytest.raises(TuneforgeError):
        RetrieverTuning(**kw)


def test_variants_reword_and_answers_are_literal_text(faq_en):
    entries = read_faq(faq_en)
    vs = variants(entries, "en", 2, seed=3)
    assert vs and all(normalise(p.anchor) != normalise(entries[p.entry].question) for p in vs)
    assert variants(entries, "en", 2, seed=3) == vs  # seeded
    answers = {p.entry: p.anchor for p in answer_pairs(entries)}
    assert answers[0] == "Mary lives in Paris, friend."  # the slot's default, not "{name|friend}"
    assert answers[3] == "The music was not awful {really}."


def test_history_pairs_match_answers_and_count_the_rest(faq_en, tmp_path):
    entries = read_faq(faq_en)
    h = write_faq(tmp_path / "h.csv", [("where is mary living", "mary lives in paris, friend"),
                                       ("who sells shoes", "we do not know")], header=("question", "answer"))
    pairs, info = history_pairs(h, entries)
    assert [(p.anchor, p.entry) for p in pairs] == [("where is mary living", 0)]
    assert info["unmatched_answers"] == 1


@pytest.mark.parametrize("rows,header,where", [
    ([("a message", "no such question")], ("message", "question"), "v.csv:2"),
    ([("a message", "")], ("message", "question"), "v.csv:2"),
    ([("a message", "where does mary live")], ("text", "question"), "v.csv:1"),
])
def test_bad_validation_files_name_the_line(faq_en, tmp_path, rows, header, where):
    v = write_faq(tmp_path / "v.csv", rows, header=header)
    with pytest.raises(TuneforgeError) as e:
        read_validation(v, read_faq(faq_en))
    assert e.value.where.endswith(where)


def test_validation_file_is_read(faq_en, tmp_path):
    v = write_faq(tmp_path / "v.csv", [("mary lives where", "Where does Mary live?")], header=("message", "question"))
    assert read_validation(v, read_faq(faq_en)) == [Pair("mary lives where", 0, "validation")]


def test_threshold_balances_kept_answers_and_handoffs():
    right = np.array([0.9, 0.8, 0.85, 0.4])
    bad = np.array([0.3, 0.5, 0.2, 0.6])
    c = choose_threshold(right, bad)
    assert c["threshold"] == 0.7  # keeps 3/4 right, hands off 4/4 bad: the middle of the gap 0.6 .. 0.8
    assert c["right_kept"] == 0.75 and c["bad_handed_off"] == 1.0
    r = handoff_rates(right, np.array([0.5]), np.array([0.3, 0.2]), c["threshold"])
    # hand-offs at 0.7: the right answer at 0.4, the wrong one, both off-topic
    assert r["offtopic"] == {"precision": round(2 / 3, 4), "recall": 1.0, "n": 2}
    assert r["wrong"]["recall"] == 1.0


def test_the_run_keeps_its_best_validation_epoch(support_run):
    _, out, record = support_run
    curve = record["train"]["curve"]
    assert [c["epoch"] for c in curve] == [0, 1, 2]
    best = max(curve, key=lambda c: c["fused_top1"])["fused_top1"]
    by_weight = record["validation"]["fused_top1_by_dense_weight"]
    assert by_weight["0.5"] == best  # the saved encoder is the chosen epoch's (plain RRF, as the curve measures)
    assert record["validation"]["fused_top1"] == by_weight[str(record["dense_weight"])] == max(by_weight.values())
    assert curve[record["train"]["chosen_epoch"]]["fused_top1"] == best
    assert (out / "retriever" / "config.json").is_file() and (out / "README.md").is_file()
    assert (out / "handoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Hand-off" in (out / "README.md").read_text(encoding="utf-8")
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".run.partial")]


def test_the_tuned_encoder_loads_in_plain_transformers(support_run):
    from transformers import AutoModel, AutoTokenizer
    _, out, _ = support_run
    tok = AutoTokenizer.from_pretrained(out / "retriever")
    assert AutoModel.from_pretrained(out / "retriever")(**tok(["mary"], return_tensors="pt")).last_hidden_state.ndim == 3


def test_the_assistant_answers_with_the_runs_encoder_and_threshold(support_run, tmp_path):
    faq, out, record = support_run
    from tuneforge.apps.support.assistant import Assistant, AssistantOptions
    a = Assistant(AssistantOptions(faq=str(faq), retriever=str(out), db=str(tmp_path / "s.db")))
    assert a.threshold == record["threshold"]
    r = a.reply("where does mary live")
    assert r["alternatives"][0]["question"] == "where does mary live"
    with pytest.raises(TuneforgeError, match="both name the encoder"):
        Assistant(AssistantOptions(faq=str(faq), retriever=str(out), backbone="minilm-l6", db=str(tmp_path / "t.db")))


def test_a_finished_run_is_not_overwritten_and_a_non_run_is_refused(support_run, tiny_bert, tmp_path):
    from tuneforge.apps.support.support_run import load_support_run, train_support
    faq, out, _ = support_run
    before = (out / "support.json").read_text(encoding="utf-8")
    with pytest.raises(TuneforgeError, match="already holds"):
        train_support(str(faq), out, backbone=str(tiny_bert), tuning=RetrieverTuning(**FAST), progress=False)
    assert (out / "support.json").read_text(encoding="utf-8") == before
    with pytest.raises(TuneforgeError, match="not a finished support run"):
        load_support_run(tmp_path)
    (tmp_path / "support.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "retriever").mkdir()
    (tmp_path / "retriever" / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(TuneforgeError, match="damaged"):
        load_support_run(tmp_path)


def test_a_failed_run_leaves_nothing_behind(faq_en, tiny_bert, tmp_path, monkeypatch):
    from tuneforge.apps.support import support_run as sr

    def boom(*a, **k):
        raise RuntimeError("killed")
    monkeypatch.setattr(sr, "tune_retriever", boom)
    off = tmp_path / "off.txt"
    off.write_text("boring\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        sr.train_support(str(faq_en), tmp_path / "run", backbone=str(tiny_bert), offtopic=str(off), progress=False)
    assert not (tmp_path / "run").exists() and not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_train_then_ask_from_the_command_line(capsys, faq_en, tiny_bert, offtopic, tmp_path):
    out = tmp_path / "run"
    rc = main(["app", "support", "train", "--faq", str(faq_en), "--output", str(out), "--backbone", str(tiny_bert),
               "--offtopic", str(offtopic), "--epochs", "1", "--batch-size", "4", "--quiet"])
    assert rc == 0 and f"wrote {out}" in capsys.readouterr().out
    assert json.loads((out / "support.json").read_text(encoding="utf-8"))["train"]["bf16"] is False  # forced
    rc = main(["app", "support", "--faq", str(faq_en), "--retriever", str(out), "--db", str(tmp_path / "s.db"),
               "--ask", "where does john work", "--threshold", "-1"])
    reply = json.loads(capsys.readouterr().out)
    assert rc == 0 and reply["matched_question"] == "where does john work"


@pytest.mark.parametrize("args,words", [
    (["--epochs", "1", "--batch-size", "1"], "--batch-size"),
    (["--history", "missing.csv"], "--history"),
    (["--offtopic", "missing.txt"], "--offtopic"),
])
def test_bad_training_input_is_exit_2(capsys, faq_en, tiny_bert, tmp_path, args, words):
    rc = main(["app", "support", "train", "--faq", str(faq_en), "--output", str(tmp_path / "run"),
               "--backbone", str(tiny_bert), "--quiet", *args])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_cli_options_are_tuning_fields():
    from dataclasses import fields

    from tuneforge.apps.support.cli import RETRIEVER_OPTIONS
    types = {f.name: f.type for f in fields(RetrieverTuning)}
    for o in RETRIEVER_OPTIONS:
        assert types[o.name] in (o.type_.__name__, o.type_)


def test_synthetic_validation_never_holds_a_training_variant(faq_en):
    from tuneforge.apps.support.support_run import synthetic_validation
    entries = read_faq(faq_en)
    cfg = RetrieverTuning(**FAST)
    val = synthetic_validation(entries, "en", cfg)
    trained = {normalise(p.anchor) for e in range(1, cfg.epochs + 1)
               for p in variants(entries, "en", cfg.variants_per_question, cfg.seed * 1000 + e)}
    assert val and not {normalise(p.anchor) for p in val} & trained


def test_length_grouped_batches_hold_every_pair_once_and_pad_little():
    from tuneforge.apps.support.retriever_tuning import length_grouped
    rng = random.Random(0)
    pairs = [Pair("x" * rng.choice([5, 200]), i, "variant") for i in range(256)]
    batches = length_grouped(pairs, 8, random.Random(1))
    assert sorted(p.entry for b in batches for p in b) == list(range(256))
    assert all(len(b) <= 8 for b in batches)
    mixed = sum(len({len(p.anchor) for p in b}) > 1 for b in batches)
    assert mixed <= 2  # one boundary batch per 16-batch window at most


def test_training_lowers_the_loss_on_a_fixed_batch(faq_en, tiny_bert):
    from tuneforge.apps.support.retrieval import Encoder, Retriever
    from tuneforge.apps.support.retriever_tuning import tune_retriever
    entries = read_faq(faq_en)
    retr = Retriever([e.question for e in entries], encoder=Encoder(str(tiny_bert), bf16=False))
    cfg = RetrieverTuning(epochs=30, patience=0, batch_size=4, learning_rate=3e-3, variants_per_question=0,
                          bf16=False)
    val = [Pair(e.question, i, "validation") for i, e in enumerate(entries)]
    out = tune_retriever(retr, entries, "en", cfg, val, [], say=lambda m: None, progress=False)
    losses = [c["train_loss"] for c in out["curve"][1:]]
    assert out["steps"] == 30 and losses[-1] < 0.5 * losses[0]  # the four answer -> question pairs, one batch


def test_a_history_file_that_is_not_utf8_names_its_line(capsys, faq_en, tiny_bert, tmp_path):
    h = tmp_path / "h.csv"
    h.write_bytes("question,answer\nok,fine\n".encode() + "退款,好的\n".encode("gbk"))
    rc = main(["app", "support", "train", "--faq", str(faq_en), "--output", str(tmp_path / "run"),
               "--backbone", str(tiny_bert), "--history", str(h), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{h}:3" in err and "UTF-8" in err


def test_training_stops_when_validation_stops_improving(faq_en, tiny_bert):
    from tuneforge.apps.support.retrieval import Encoder, Retriever
    from tuneforge.apps.support.retriever_tuning import tune_retriever
    entries = read_faq(faq_en)
    retr = Retriever([e.question for e in entries], encoder=Encoder(str(tiny_bert), bf16=False))
    val = [Pair(e.question, i, "validation") for i, e in enumerate(entries)]  # exact questions: 1.0 untuned
    lines = []
    out = tune_retriever(retr, entries, "en", RetrieverTuning(epochs=6, patience=2, batch_size=4, bf16=False), val, [],
                         say=lines.append, progress=False)
    assert [c["epoch"] for c in out["curve"]] == [0, 1, 2] and out["chosen_epoch"] == 0
    assert out["epochs_run"] == 2 and out["stopped_early"]
    assert "stopping after epoch 2" in lines[-1]
