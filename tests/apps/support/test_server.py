"""POST /v1/chat on a real uvicorn server on a loopback port: session ids carry slots and turns, a hand-off
shows up in /v1/candidates, and every malformed request is a 4xx with a message."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from .conftest import make_assistant


class LoopbackServer:
    def __init__(self, app):
        import uvicorn
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound before the thread starts: no port race
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_keep_alive=120))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_bert):
    from tuneforge.apps.support.server import create_app

    from .conftest import FAQ_EN, write_faq
    tmp = tmp_path_factory.mktemp("support-server")
    # threshold 0.9999: only a message identical to an FAQ question is answered (the tiny model is random)
    a = make_assistant(write_faq(tmp / "faq.csv", FAQ_EN), tiny_bert, tmp / "s.db", threshold=0.9999)
    with LoopbackServer(create_app(a)) as s, httpx.Client(base_url=s.url, timeout=60) as client:
        yield client


def test_chat_sessions_keep_slots_and_count_turns(server):
    r = server.post("/v1/chat", json={"session_id": "cust-1", "message": "is the movie good", "slots": {"name": "Ann"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {k: body[k] for k in ("answer", "matched_question", "handoff", "session_id", "turn")} == \
        {"answer": "The movie is very good, Ann!", "matched_question": "is the movie good", "handoff": False,
         "session_id": "cust-1", "turn": 1}
    assert 0.9999 <= body["confidence"] <= 1.0001
    body = server.post("/v1/chat", json={"session_id": "cust-1", "message": "where does mary live"}).json()
    assert body["answer"] == "Mary lives in Paris, Ann." and body["turn"] == 2
    other = server.post("/v1/chat", json={"session_id": "cust-2", "message": "where does mary live"}).json()
    assert other["answer"] == "Mary lives in Paris, friend." and other["turn"] == 1
    new = server.post("/v1/chat", json={"message": "where does john work"}).json()
    assert len(new["session_id"]) == 32 and new["turn"] == 1  # no id: a new session, its id in the reply
    hist = server.get("/v1/sessions/cust-1").json()
    assert hist["slots"] == {"name": "Ann"} and [t["message"] for t in hist["turns"]] == \
        ["is the movie good", "where does mary live"]


def test_handoff_is_logged_as_a_candidate(server):
    body = server.post("/v1/chat", json={"session_id": "cust-3", "message": "do you ship to london"}).json()
    assert body["handoff"] is True and body["matched_question"] is None and body["confidence"] < 0.9999
    cands = server.get("/v1/candidates").json()["candidates"]
    assert "do you ship to london" in [c["question"] for c in cands]


@pytest.mark.parametrize("kwargs, status, words", [
    ({"json": {"session_id": "x"}}, 422, "message"),
    ({"json": {"session_id": "x", "message": "   "}}, 422, "empty"),
    ({"json": {"session_id": "x", "message": "a" * 2001}}, 422, "message"),
    ({"json": {"session_id": "bad id!", "message": "hi"}}, 422, "session_id"),
    ({"json": {"session_id": "x", "message": "hi", "extra": 1}}, 422, "extra"),
    ({"json": {"session_id": "x", "message": "hi", "slots": {"1bad": "v"}}}, 422, "slot name"),
    ({"json": {"session_id": "x", "message": "hi", "slots": {"name": 3}}}, 422, "slots.name"),
    ({"json": ["not", "an", "object"]}, 422, "JSON object"),
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "not valid JSON"),
    ({"content": b"x" * 70_000, "headers": {"content-type": "application/json"}}, 413, "over the limit"),
    ({"content": b'{"message": "\\ud800"}', "headers": {"content-type": "application/json"}}, 422, "unicode"),
])
def test_bad_requests_are_4xx_with_a_message(server, kwargs, status, words):
    r = server.post("/v1/chat", **kwargs)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_unknown_session_and_bad_limit(server):
    assert server.get("/v1/sessions/nobody").status_code == 404
    assert server.get("/v1/candidates", params={"limit": 0}).status_code == 422
    assert server.get("/v1/candidates", params={"limit": "x"}).status_code == 422
    assert server.get("/healthz").json()["faq_entries"] == 4
