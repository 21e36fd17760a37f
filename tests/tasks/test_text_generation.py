"""Text generation (instruction tuning) on a tiny random Llama: reading chats, answer-only loss, training full and
LoRA, the untuned baseline, ROUGE-L/chrF, generation through predict, plain transformers and the server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tuneforge.config import load_config
from tuneforge.data.splits import read_file
from tuneforge.errors import TuneforgeError
from tuneforge.tasks.base import get_task
from tuneforge.tasks.text_generation import IGNORE, answer_scores

from factories import ANSWERS, make_config, run_cli, write_qa

TASK = "text-generation"


def read(tmp_path: Path, backbone: Path, name: str, text: str, **data):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    cfg = load_config(make_config(tmp_path, backbone, TASK, {"train": str(f), **data}))
    return read_file(cfg, str(f)), f


def test_prompts_conversations_and_question_answer_tables_are_read(tmp_path, tiny_llama):
    (examples, _), _ = read(tmp_path, tiny_llama, "a.jsonl",
                            '{"prompt": "is the plot good ?", "response": "the plot was boring", "system": "be brief"}\n'
                            '{"messages": [{"role": "user", "content": "the cast ?"}, {"role": "assistant", '
                            '"content": "great"}, {"role": "user", "content": "and the music ?"}, '
                            '{"role": "assistant", "content": "lovely"}]}\n')
    assert [m["role"] for m in examples[0].messages] == ["system", "user", "assistant"]
    assert examples[1].text == "and the music ?" and examples[1].response == "lovely"
    (rows, _), _ = read(tmp_path, tiny_llama, "b.csv", "question,answer\nis the cast good ?,the cast was great\n")
    assert rows[0].messages == [{"role": "user", "content": "is the cast good ?"},
                                {"role": "assistant", "content": "the cast was great"}]


@pytest.mark.parametrize("line, needle", [
    ('{"messages": [{"role": "user", "content": "hi"}]}', "last message is not the assistant"),
    ('{"messages": [{"role": "assistant", "content": "hi"}]}', "no user message"),
    ('{"messages": [{"role": "bot", "content": "hi"}]}', "messages[0]"),
    ('{"prompt": "hi", "response": ""}', "non-empty strings"),
    ('{"question": "hi"}', "no `messages` list"),
    ('["hi", "there"]', "not a JSON object"),
])
def test_a_bad_chat_line_is_named_by_line(tmp_path, tiny_llama, line, needle):
    good = '{"prompt": "the plot ?", "response": "boring"}\n'
    with pytest.raises(TuneforgeError) as e:
        read(tmp_path, tiny_llama, "c.jsonl", good + line + "\n")
    assert needle in e.value.what and e.value.where.endswith("c.jsonl:2")
    (examples, stats), _ = read(tmp_path, tiny_llama, "d.jsonl", good + line + "\n", bad_rows="skip")
    assert len(examples) == 1 and stats.dropped == {"malformed line": 1}


def test_a_table_without_prompt_and_answer_columns_is_refused(tmp_path, tiny_llama):
    with pytest.raises(TuneforgeError) as e:
        read(tmp_path, tiny_llama, "e.csv", "q,a\nhi,there\n")
    assert "found: a, q" in e.value.what and "question,answer" in e.value.fix


def test_the_loss_counts_the_answer_only_and_truncation_keeps_it(tiny_llama, tmp_path):
    from transformers import AutoTokenizer
    task = get_task(TASK)
    tok = task.load_processor(str(tiny_llama))
    (examples, _), _ = read(tmp_path, tiny_llama, "f.jsonl", '{"prompt": "is the plot good ?", '
                                                             '"response": "the plot was boring"}\n')
    feat = task.encode(tok, examples, [], 64)[0]
    answer = AutoTokenizer.from_pretrained(tiny_llama)(" the plot was boring", add_special_tokens=False)["input_ids"]
    n_prompt = len(feat["input_ids"]) - len(answer) - 1
    assert feat["labels"][:n_prompt] == [IGNORE] * n_prompt
    assert feat["labels"][n_prompt:] == answer + [tok.eos_token_id]  # the model learns the answer, then to stop
    short = task.encode(tok, examples, [], 8)[0]
    assert len(short["input_ids"]) == 8 and short["labels"][-4:] == answer[:4]  # the answer's start survives


def test_answer_scores_read_chinese_per_character():
    same, half, none = answer_scores(["退货要七天内", "退货要", "the cast"], ["退货要七天内", "退货要七天内", "退货要七天内"])
    assert same["rouge_l"] == pytest.approx(1.0) and same["chrf"] == pytest.approx(1.0)
    assert 0.5 < half["rouge_l"] < 1 and 0 < half["chrf"] < 1  # three of six characters, in order
    assert none["rouge_l"] == 0.0


def test_fine_tuning_beats_the_untuned_backbone_on_held_out_questions(qa_run):
    m = json.loads((qa_run / "metrics.json").read_text())
    assert set(m["test"]) >= {"loss", "perplexity", "rouge_l", "chrf", "n"}
    base = m["baseline_untuned"]["test"]
    assert m["test"]["loss"] < base["loss"] - 1 and m["test"]["rouge_l"] > base["rouge_l"] + 0.3
    assert "baseline_tfidf" not in m and "baseline_majority" not in m
    rows = [json.loads(l) for l in (qa_run / "test_predictions.jsonl").read_text().splitlines()]
    assert rows and all(r["reference"] in ANSWERS.values() and "generated" in r for r in rows)
    assert (qa_run / "baseline_untuned_predictions.jsonl").is_file()
    assert json.loads((qa_run / "generation_config.json").read_text())["max_new_tokens"] == 8
    assert "Sample answers" in (qa_run / "report.txt").read_text()
    card = (qa_run / "README.md").read_text()
    assert "ROUGE-L" in card and "answer tokens only" in card and "apply_chat_template" in card


def test_predict_generates_as_plain_transformers_does(qa_run):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tuneforge.rundir import load_run
    question = "mary is the plot ?"
    ours = load_run(qa_run).predict([question, "john very the music ?"])
    assert [p["text"] for p in ours] == [question, "john very the music ?"]
    tok = AutoTokenizer.from_pretrained(qa_run)
    model = AutoModelForCausalLM.from_pretrained(qa_run)
    ids = tok(f"User: {question}\nAssistant:", return_tensors="pt")  # the card's layout for a template-less base
    with torch.no_grad():
        out = model.generate(**ids, pad_token_id=tok.eos_token_id)  # generation_config.json: greedy, 8 new tokens
    assert tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip() == ours[0]["generated"]


def test_export_refuses_a_classifier_format_for_a_decoder(qa_run):
    r = run_cli("export", str(qa_run), "--format", "onnx")
    assert r.returncode == 2 and "gguf, gguf-q8_0" in r.stderr and "Traceback" not in r.stderr


def test_lora_keeps_its_adapter_and_learns(tmp_path, tiny_llama):
    from tuneforge.train.run import train
    cfg = load_config(make_config(tmp_path, tiny_llama, TASK, {"train": str(write_qa(tmp_path / "qa.jsonl", 200, 1))},
                                  method="lora", epochs=3, max_length=32, early_stopping_patience=0))
    cfg.generate.eval_limit = 0  # loss only: no answers to generate
    out = train(cfg, progress=False)
    m = json.loads((out / "metrics.json").read_text())
    assert (out / "adapter" / "adapter_config.json").is_file() and "rouge_l" not in m["test"]
    assert m["test"]["loss"] < m["baseline_untuned"]["test"]["loss"]


def test_served_answers_and_the_run_page(qa_run, tmp_path):
    from factories import LiveServer
    from tuneforge.dashboard.runs import detail
    from tuneforge.serve.app import ServeOptions
    from tuneforge.server import create_app
    from tuneforge.store.db import open_database
    from tuneforge.store.registry import Registry
    from tuneforge.store.requestlog import read_rows
    Registry(tmp_path / "registry").add("faq", qa_run, stage="production")
    with LiveServer(create_app(ServeOptions(registry=str(tmp_path / "registry"), poll_s=0)), ready_path="/readyz") as s:
        r = httpx.post(f"{s.url}/v1/models/faq/predict", json={"texts": ["mary is the plot ?"]}, timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["predictions"][0]["generated"]
        s.app.state.serve.requestlog.flush()
        rows = read_rows(open_database(tmp_path / "registry" / "registry.db"), "faq")
    assert len(rows) == 1 and rows[0].label is None and rows[0].confidence is None  # drift watches lengths only
    page = detail("faq", qa_run)
    assert page["main_metric"] == "loss" and page["errors"] is None


def test_config_refuses_augmenting_chats_and_bad_generation_settings(tmp_path, tiny_llama):
    data = {"train": str(write_qa(tmp_path / "qa.jsonl", 20, 2))}
    for override, key in ((["data.augment.per_example=2"], "data.augment.per_example"),
                          (["generate.top_p=0"], "generate.top_p"), (["generate.max_new_tokens=0"], "generate.max_new_tokens")):
        with pytest.raises(TuneforgeError) as e:
            load_config(make_config(tmp_path, tiny_llama, TASK, data), override)
        assert key in e.value.what
