"""`tuneforge app support --serve`: the assistant behind an HTTP chat endpoint (FastAPI + uvicorn).

    POST /v1/chat        {"session_id": "abc", "message": "...", "slots": {"name": "Ann"}}
                         -> {"answer", "confidence", "matched_question", "handoff", "session_id", "turn", ...}
    GET  /v1/sessions/ID the session's turns and slots (what a human agent reads on a hand-off)
    GET  /v1/candidates  handed-off questions, most asked first (the FAQ's missing entries)
    GET  /healthz

The FAQ, the encoder and the intent run load before the port is bound: a bad FAQ fails at start, not at
the first customer. Every malformed request is a 4xx with {"detail": message}.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ...errors import TuneforgeError
from .assistant import MAX_MESSAGE_CHARS, Assistant

SESSION_ID = r"^[A-Za-z0-9._:@-]{1,128}$"


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str | None = Field(None, pattern=SESSION_ID,
                                   description="the conversation; omit it to start one (the reply carries its id)")
    message: str = Field(description="the customer's message", max_length=MAX_MESSAGE_CHARS)
    slots: dict[str, str] = Field(default_factory=dict, max_length=64,
                                  description="slot values for answer templates, kept for the session")


def create_app(assistant: Assistant) -> FastAPI:
    from ...serve.app import BodyLimit
    app = FastAPI(title="tuneforge support assistant",
                  description="FAQ answers by BM25 + dense retrieval; a hand-off to a human below the threshold.")
    app.add_middleware(BodyLimit, max_body=64 * 1024)  # a chat turn is small; refuse a large body unread

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        # without "input": it echoes the request, and an unpaired surrogate in it cannot be encoded as UTF-8
        errors = [{k: v for k, v in e.items() if k != "input"} for e in jsonable_encoder(exc.errors())]
        first = errors[0] if errors else {}
        loc = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        if first.get("type") == "json_invalid":
            msg = "the body is not valid JSON"
        elif first.get("type") == "model_attributes_type" and not loc:
            msg = "the body must be a JSON object, sent with the header Content-Type: application/json"
        elif loc == "session_id" and first.get("type") == "string_pattern_mismatch":
            msg = "session_id: 1-128 characters of letters, digits and . _ : @ -"
        else:
            msg = f"{loc or 'body'}: {first.get('msg', 'invalid request')}"
        return JSONResponse({"detail": msg, "errors": errors}, status_code=422)

    @app.exception_handler(TuneforgeError)
    async def user_error(request: Request, exc: TuneforgeError):
        return JSONResponse({"detail": exc.message()}, status_code=422)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "faq_entries": len(assistant.entries), "language": assistant.lang,
                "backbone": assistant.backbone, "threshold": assistant.threshold}

    @app.post("/v1/chat")
    async def chat(req: ChatRequest):
        for k in req.slots:
            if not k.isidentifier():
                raise TuneforgeError(f"slot name {k!r} is not a name", where="slots",
                                     fix="letters, digits and underscores, not starting with a digit")
        # the model call and SQLite are blocking: off the event loop, so /healthz answers meanwhile
        return await asyncio.to_thread(assistant.reply, req.message, req.session_id, req.slots)

    @app.get("/v1/sessions/{session_id}")
    async def session(session_id: str):
        turns = await asyncio.to_thread(assistant.store.history, session_id)
        if not turns:
            return JSONResponse({"detail": f"no session {session_id!r}"}, status_code=404)
        return {"session_id": session_id, "slots": await asyncio.to_thread(assistant.store.slots, session_id),
                "turns": turns}

    @app.get("/v1/candidates")
    async def candidates(limit: int = 100):
        if not 1 <= limit <= 10_000:
            return JSONResponse({"detail": "limit must be between 1 and 10000"}, status_code=422)
        return {"candidates": await asyncio.to_thread(assistant.store.candidates, limit)}

    return app


def serve(assistant: Assistant, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    import uvicorn
    uvicorn.run(create_app(assistant), host=host, port=port, log_level=log_level)
