"""Decoding conversations together (tasks/decoding.py): each row's answer is what it gets alone, each stops at its
own limit or end, and its pieces make its whole answer."""

from __future__ import annotations

import pytest

from tuneforge.tasks.base import get_task
from tuneforge.tasks.decoding import Sampling

QUESTIONS = ["mary is the plot ?", "john very the music ?", "it is not a the cast ?"]


@pytest.fixture(scope="module")
def loaded(qa_run):
    from tuneforge.rundir import load_run
    return load_run(qa_run)


def chat(run, questions, limits, on_piece=None):
    return get_task("text-generation").chat(run.model, run.tokenizer, [[{"role": "user", "content": q}] for q in questions],
                                           limits, Sampling(), 32, False, on_piece)


def test_a_row_answers_the_same_alone_or_with_company(loaded):
    alone = [chat(loaded, [q], [8])[0] for q in QUESTIONS]
    together = chat(loaded, QUESTIONS, [8, 8, 8])
    assert [r["text"] for r in together] == [r["text"] for r in alone]
    assert [r["completion_tokens"] for r in together] == [r["completion_tokens"] for r in alone]
    assert len({r["text"] for r in alone}) > 1  # the questions get different answers: the rows are not mixed up


def test_each_row_stops_at_its_own_limit_and_streams_its_own_pieces(loaded):
    pieces: dict[int, list[str]] = {0: [], 1: [], 2: []}
    res = chat(loaded, QUESTIONS, [1, 8, 3], on_piece=lambda row, text: pieces[row].append(text))
    assert res[0]["completion_tokens"] == 1 and res[0]["finish_reason"] == "length"
    assert res[2]["completion_tokens"] <= 3
    assert res[1]["finish_reason"] in ("stop", "length") and res[1]["completion_tokens"] <= 8
    for row in range(3):
        assert "".join(pieces[row]).strip() == res[row]["text"]
    assert len(pieces[1]) >= 2  # pieces as the tokens come, not one at the end


def test_predict_and_evaluation_answer_as_the_chat_route_does(loaded):
    """One decoder for every path: `predict` (and the run's evaluation, through the same `generate`) answers each
    question as the server's chat route does, a question longer than train.max_length cut the same way."""
    long_question = " ".join(["the music is not a plot and"] * 40) + " mary is the plot ?"
    questions = QUESTIONS + [long_question]
    assert len(loaded.tokenizer(long_question)["input_ids"]) > loaded.cfg.train.max_length
    served = get_task("text-generation").chat(loaded.model, loaded.tokenizer,
                                              [[{"role": "user", "content": q}] for q in questions], [8] * 4,
                                              Sampling(), loaded.cfg.train.max_length, False)
    predicted = loaded.predict(questions, batch_size=2)
    assert [p["generated"] for p in predicted] == [r["text"] for r in served]
