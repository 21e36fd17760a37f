"""POST /v1/chat on a real uvicorn server on a loopback port: server-issued session ids and tokens carry slots
and turns, no session reads or writes another, a hand-off shows up redacted in /v1/candidates (operator key
only), and every malformed request is a 4xx with a message."""

from __future__ import annotations


import httpx
import pytest

from factories import LiveServer

from .conftest import make_assistant


LoopbackServer = LiveServer  # a real uvicorn server on a loopback socket (tests/factories.py)


KEY = "support-operator-key"
OP = {"X-API-Key": KEY}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_bert):
    from tuneforge.apps.support.server import create_app

    from .conftest import FAQ_EN, write_faq
    tmp = tmp_path_factory.mktemp("support-server")
    # threshold 0.9999: only a message identical to an FAQ question is answered (the tiny model is random)
    a = make_assistant(write_faq(tmp / "faq.csv", FAQ_EN), tiny_bert, tmp / "s.db", threshold=0.9999)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNEFORGE_API_KEY", KEY)
        app = create_app(a)
    with LoopbackServer(app) as s, httpx.Client(base_url=s.url, timeout=60) as client:
        client.db_path = tmp / "s.db"
        yield client


def start(server, message="where does john work", **kw) -> dict:
    r = server.post("/v1/chat", json={"message": message, **kw})
    assert r.status_code == 200, r.text
    return r.json()


def test_chat_sessions_keep_slots_and_count_turns(server):
    body = start(server, "is the movie good", slots={"name": "Ann"})
    sid, token = body["session_id"], body["session_token"]
    assert len(sid) == 32 and len(token) >= 40  # the server's id, and a secret shown once
    assert {k: body[k] for k in ("answer", "matched_question", "handoff", "turn")} == \
        {"answer": "The movie is very good, Ann!", "matched_question": "is the movie good", "handoff": False, "turn": 1}
    assert 0.9999 <= body["confidence"] <= 1.0001
    r = server.post("/v1/chat", json={"session_id": sid, "message": "where does mary live"}, headers=bearer(token))
    body = r.json()
    assert body["answer"] == "Mary lives in Paris, Ann." and body["turn"] == 2 and "session_token" not in body
    other = start(server, "where does mary live")
    assert other["answer"] == "Mary lives in Paris, friend." and other["turn"] == 1 and other["session_id"] != sid
    for headers in (bearer(token), OP):  # the customer with the token, the operator with the API key
        hist = server.get(f"/v1/sessions/{sid}", headers=headers).json()
        assert hist["slots"] == {"name": "Ann"} and [t["message"] for t in hist["turns"]] == \
            ["is the movie good", "where does mary live"]
    import sqlite3
    stored = sqlite3.connect(server.db_path).execute("SELECT token_hash FROM support_sessions WHERE session_id = ?",
                                                     (sid,)).fetchone()[0]
    assert stored != token and token not in stored and len(stored) == 64  # only its sha256


def test_a_client_chosen_session_id_is_refused(server):
    for headers in ({}, bearer("made-up"), OP):
        r = server.post("/v1/chat", json={"session_id": "1", "message": "where does mary live"}, headers=headers)
        assert r.status_code in (401, 404), r.text
        assert "omit session_id" in r.json()["detail"]
    assert server.get("/v1/sessions/1", headers=OP).status_code == 404


def test_one_session_cannot_read_or_write_another(server):
    a, b = start(server), start(server)
    url = f"/v1/sessions/{a['session_id']}"
    assert server.get(url).status_code == 401  # no credential at all
    for headers in (bearer(b["session_token"]), bearer("x" * 43), {"Authorization": "Basic abc"},
                    {"X-API-Key": "wrong"}):
        assert server.get(url, headers=headers).status_code in (401, 403, 404), headers
        r = server.post("/v1/chat", json={"session_id": a["session_id"], "message": "hi"}, headers=headers)
        assert r.status_code in (401, 403, 404) and r.json()["detail"], r.text
    assert server.get(url, headers=OP).json()["turns"][0]["turn"] == 1  # and nothing was written to it
    assert len(server.get(url, headers=OP).json()["turns"]) == 1


def test_handoff_is_logged_as_a_redacted_candidate_for_the_operator(server):
    msg = "do you ship to london, my card 4111 1111 1111 1111 was charged, mail ann@example.com"
    body = start(server, msg)
    assert body["handoff"] is True and body["matched_question"] is None and body["confidence"] < 0.9999
    assert server.get("/v1/candidates").status_code == 401
    assert server.get("/v1/candidates", headers={"X-API-Key": "nope"}).status_code == 403
    assert server.get("/v1/candidates", headers=bearer(body["session_token"])).status_code == 401
    cands = server.get("/v1/candidates", headers=OP).json()["candidates"]
    assert "do you ship to london, my card [BANK_CARD] was charged, mail [EMAIL]" in [c["question"] for c in cands]
    import sqlite3
    raw = sqlite3.connect(server.db_path).execute("SELECT question FROM support_candidates").fetchall()
    assert not [q for (q,) in raw if "4111" in q or "ann@" in q]  # stored redacted, not only listed so


def test_operator_endpoints_are_closed_without_a_configured_key(tmp_path, tiny_bert, faq_en, monkeypatch):
    from fastapi.testclient import TestClient

    from tuneforge.apps.support.server import create_app
    monkeypatch.delenv("TUNEFORGE_API_KEY", raising=False)
    with TestClient(create_app(make_assistant(faq_en, tiny_bert, tmp_path / "s.db"))) as c:
        for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": "anything"}):
            r = c.get("/v1/candidates", headers=headers)
            assert r.status_code == 403 and "TUNEFORGE_API_KEY" in r.json()["detail"], r.text


@pytest.mark.parametrize("kwargs, status, words", [
    ({"json": {}}, 422, "message"),
    ({"json": {"message": "   "}}, 422, "empty"),
    ({"json": {"message": "a" * 2001}}, 422, "message"),
    ({"json": {"session_id": "bad id!", "message": "hi"}}, 422, "session_id"),
    ({"json": {"message": "hi", "extra": 1}}, 422, "extra"),
    ({"json": {"message": "hi", "slots": {"1bad": "v"}}}, 422, "slot name"),
    ({"json": {"message": "hi", "slots": {"name": 3}}}, 422, "slots.name"),
    ({"json": ["not", "an", "object"]}, 422, "JSON object"),
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "not valid JSON"),
    ({"content": b"x" * 70_000, "headers": {"content-type": "application/json"}}, 413, "over the limit"),
    ({"content": b'{"message": "\\ud800"}', "headers": {"content-type": "application/json"}}, 422, "unicode"),
    # a lone surrogate anywhere: an extra field's value or name, a slot's name or value, the session id
    ({"content": b'{"message": "hi", "x": "\\ud800"}', "headers": {"content-type": "application/json"}}, 422, "x"),
    ({"content": b'{"message": "hi", "\\ud800": 1}', "headers": {"content-type": "application/json"}}, 422, ""),
    ({"content": b'{"message": "hi", "slots": {"\\udc00x": "v"}}', "headers": {"content-type": "application/json"}},
     422, "slots"),
    ({"content": b'{"message": "hi", "slots": {"a": "\\ud800"}}', "headers": {"content-type": "application/json"}},
     422, "slots"),
    ({"content": b'{"session_id": "\\ud800", "message": "hi"}', "headers": {"content-type": "application/json"}},
     422, "session_id"),
])
def test_bad_requests_are_4xx_with_a_message(server, kwargs, status, words):
    r = server.post("/v1/chat", **kwargs)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_unknown_session_and_bad_limit(server):
    assert server.get("/v1/sessions/nobody", headers=OP).status_code == 404
    assert server.get("/v1/candidates", params={"limit": 0}, headers=OP).status_code == 422
    assert server.get("/v1/candidates", params={"limit": "x"}, headers=OP).status_code == 422
    assert server.get("/healthz").json()["faq_entries"] == 4
