"""POST /v1/chat/completions through the official `openai` client against a real server on loopback: the same
answers as `tuneforge predict`, streamed or whole, with the limits, refusals, metrics and request log of predict."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from factories import LiveServer

QUESTION = "mary is the plot ?"


@pytest.fixture(scope="module")
def server(qa_run, tiny_runs, tmp_path_factory):
    from tuneforge.serve.app import ServeOptions
    from tuneforge.server import create_app
    from tuneforge.store.registry import Registry
    reg = tmp_path_factory.mktemp("chat-registry")
    Registry(reg).add("faq", qa_run, stage="production")
    Registry(reg).add("sentiment", tiny_runs[0], stage="production")
    with LiveServer(create_app(ServeOptions(registry=str(reg), poll_s=0, max_chars=200, max_texts=4)),
                    ready_path="/readyz") as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-checked", max_retries=0, timeout=120)


def ask(client, content: str = QUESTION, **kw):
    return client.chat.completions.create(model="faq", messages=[{"role": "user", "content": content}], **kw)


def test_an_answer_is_what_predict_generates(client, qa_run):
    from tuneforge.rundir import load_run
    expected = load_run(qa_run).predict([QUESTION])[0]["generated"]  # the run's settings: greedy, 8 new tokens
    r = ask(client)
    assert r.object == "chat.completion" and r.model == "faq" and r.id.startswith("chatcmpl-")
    assert r.choices[0].message.role == "assistant" and r.choices[0].message.content == expected
    assert r.choices[0].finish_reason in ("stop", "length") and 1 <= r.usage.completion_tokens <= 8
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_max_tokens_cuts_the_answer_and_says_so(client):
    r = ask(client, max_tokens=2)
    assert r.usage.completion_tokens == 2 and r.choices[0].finish_reason == "length"


def test_streamed_pieces_make_the_whole_answer(client):
    whole = ask(client).choices[0].message.content
    chunks = list(ask(client, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.strip() == whole and sum(1 for c in chunks if c.choices[0].delta.content) >= 2  # pieces, not one
    assert chunks[-1].choices[0].finish_reason in ("stop", "length") and all(c.id == chunks[0].id for c in chunks)


def test_concurrent_conversations_get_their_own_answers(client):
    questions = [QUESTION, "john very the music ?", "it is the cast ?", QUESTION]
    alone = [ask(client, q).choices[0].message.content for q in questions]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda q: ask(client, q).choices[0].message.content, questions))
    assert together == alone and alone[0] != alone[1]


@pytest.mark.parametrize("kw, error, needle", [
    ({"model": "sentiment"}, openai.UnprocessableEntityError, "does not write answers"),
    ({"model": "nope"}, openai.NotFoundError, "no model named"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
     openai.UnprocessableEntityError, "must end with the user's message"),
    ({"messages": [{"role": "user", "content": "x" * 201}]}, openai.APIStatusError, "the limit is 200"),
    ({"messages": [{"role": "user", "content": "hi"}] * 5}, openai.APIStatusError, "the limit is 4"),
    ({"messages": [{"role": "user", "content": "  "}]}, openai.UnprocessableEntityError, "only whitespace"),
    ({"n": 2}, openai.UnprocessableEntityError, "n"),
    ({"max_tokens": 100000}, openai.UnprocessableEntityError, "max_tokens"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, openai.UnprocessableEntityError, "tools"),
])
def test_bad_requests_are_refused_with_a_reason(client, kw, error, needle):
    args = {"model": "faq", "messages": [{"role": "user", "content": QUESTION}], **kw}
    with pytest.raises(error) as e:
        client.chat.completions.create(**args)
    assert 400 <= e.value.status_code < 500 and needle in str(e.value.body)


def test_answers_are_counted_and_logged_hashed(server, client):
    from tuneforge.store.db import open_database
    from tuneforge.store.requestlog import read_rows
    secret = "mary the plot ? call 555 0100"
    ask(client, secret)
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'model="faq"' in metrics and 'status="200"' in metrics
    state = server.app.state.serve
    state.requestlog.flush()
    rows = read_rows(open_database(state.opts.registry + "/registry.db"), "faq")
    assert rows and all(secret not in str(vars(r)) for r in rows)
