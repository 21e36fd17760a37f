"""`tuneforge app support --serve`: the assistant behind an HTTP chat endpoint (FastAPI + uvicorn).

    POST /v1/chat        {"message": "...", "slots": {"name": "Ann"}}          (no session_id: a new conversation)
                         -> {"answer", "confidence", "matched_question", "handoff", "session_id", "session_token",
                             "turn", ...}
    POST /v1/chat        {"session_id": ID, "message": "..."}  + Authorization: Bearer <session_token>
    GET  /v1/sessions/ID the session's turns and slots     + Authorization: Bearer <session_token>, or X-API-Key
    GET  /v1/candidates  handed-off questions, redacted, most asked first (the FAQ's missing entries) + X-API-Key
    GET  /healthz

Trust protocol: session ids are the server's. A turn without session_id starts a conversation; its reply
carries a random session_id and a secret session_token (256 bits, shown once, stored only as its sha256).
Every later turn and the transcript need `Authorization: Bearer <session_token>`; an unknown or
client-invented session_id is refused (404: omit session_id to start one). The operator (a human agent
picking up a hand-off, whoever writes the next FAQ) uses the API key instead, header `X-API-Key` equal to
$TUNEFORGE_API_KEY (`--api-key-env`): it reads any session and the candidate list. With no key set, the
operator endpoints answer 403 saying how to set it. Keys and tokens are compared in constant time.

The FAQ, the encoder and the intent run load before the port is bound: a bad FAQ fails at start, not at
the first customer. Every malformed request is a 4xx with {"detail": message}.
"""

from __future__ import annotations

import asyncio
import hmac
import os

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...errors import TuneforgeError
from ...serve.http import printable  # the server's: the input left out, unencodable characters replaced
from .assistant import MAX_MESSAGE_CHARS, Assistant

SESSION_ID = r"^[A-Za-z0-9._:@-]{1,128}$"
START = "omit session_id to start a new conversation (its reply carries session_id and session_token)"


class ErrorMessage(BaseModel):
    detail: str


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str | None = Field(None, pattern=SESSION_ID,
                                   description="the conversation, as the server issued it; omit it to start one (the reply "
                                               "carries its id and session_token; send the token as "
                                               "Authorization: Bearer <session_token>)")
    message: str = Field(description="the customer's message", max_length=MAX_MESSAGE_CHARS)
    slots: dict[str, str] = Field(default_factory=dict, max_length=64,
                                  description="slot values for answer templates, kept for the session")

    @field_validator("session_id", "message", "slots")
    @classmethod
    def _encodable(cls, v):
        # a lone surrogate ("\ud800" in the JSON) is valid JSON but no text: it cannot be stored or answered
        for s in ([v] if isinstance(v, str) else [*v.keys(), *v.values()] if isinstance(v, dict) else []):
            try:
                s.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("holds an unpaired unicode surrogate (a broken \\uD800-\\uDFFF escape)") from None
        return v


def create_app(assistant: Assistant, api_key_env: str = "TUNEFORGE_API_KEY") -> FastAPI:
    from ...serve.http import BodyLimit
    api_key = os.environ.get(api_key_env, "")
    app = FastAPI(title="tuneforge support assistant",
                  responses={"4XX": {"model": ErrorMessage, "description": "the request cannot be answered: why"}},
                  description="FAQ answers by BM25 + dense retrieval; a hand-off to a human below the threshold.")
    app.add_middleware(BodyLimit, max_body=64 * 1024)  # a chat turn is small; refuse a large body unread

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        # without "input": it echoes the request, and an unpaired surrogate in it cannot be encoded as UTF-8
        errors = printable(jsonable_encoder(exc.errors()))
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
        from .store import UnknownSession
        return JSONResponse({"detail": exc.message()}, status_code=404 if isinstance(exc, UnknownSession) else 422)

    def operator(x_api_key: str | None) -> bool:
        """True with the right X-API-Key; False without one; 403 for a wrong one or none configured."""
        if x_api_key is None:
            return False
        if not api_key:
            raise HTTPException(403, f"operator access is disabled: start the server with the environment variable "
                                     f"{api_key_env} set to an API key, and send it as X-API-Key")
        if not hmac.compare_digest(x_api_key.encode("utf-8", "replace"), api_key.encode("utf-8", "replace")):
            raise HTTPException(403, "wrong API key")
        return True

    def bearer(authorization: str | None) -> str | None:
        if authorization is None:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, "the Authorization header must be: Bearer <session_token>",
                                headers={"WWW-Authenticate": "Bearer"})
        return token.strip()

    async def authorize(session_id: str, authorization: str | None, x_api_key: str | None) -> None:
        if operator(x_api_key):
            if not await asyncio.to_thread(assistant.store.exists, session_id):
                raise HTTPException(404, f"no session {session_id!r}: {START}")
            return
        token = bearer(authorization)
        if token is None:
            raise HTTPException(401, "this session needs its token: header Authorization: Bearer <session_token> "
                                     f"(from the reply that started it), or the operator's X-API-Key; or {START}",
                                headers={"WWW-Authenticate": "Bearer"})
        if not await asyncio.to_thread(assistant.store.token_ok, session_id, token):
            # one answer for an unknown id and a wrong token: no probing which ids exist
            raise HTTPException(404, f"no session {session_id!r} with this session_token: {START}")

    AUTH = Header(None, description="Bearer <session_token>, from the reply that started the session")
    KEY = Header(None, description=f"the operator's API key: ${api_key_env}")

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "faq_entries": len(assistant.entries), "language": assistant.lang,
                "backbone": assistant.backbone, "threshold": assistant.threshold}

    @app.post("/v1/chat")
    async def chat(req: ChatRequest, authorization: str | None = AUTH, x_api_key: str | None = KEY):
        if req.session_id is not None:
            await authorize(req.session_id, authorization, x_api_key)
        for k in req.slots:
            if not k.isidentifier():
                raise TuneforgeError(f"slot name {k!r} is not a name", where="slots",
                                     fix="letters, digits and underscores, not starting with a digit")
        # the model call and SQLite are blocking: off the event loop, so /healthz answers meanwhile
        return await asyncio.to_thread(assistant.reply, req.message, req.session_id, req.slots)

    @app.get("/v1/sessions/{session_id}")
    async def session(session_id: str, authorization: str | None = AUTH, x_api_key: str | None = KEY):
        await authorize(session_id, authorization, x_api_key)
        turns = await asyncio.to_thread(assistant.store.history, session_id)
        if not turns:
            return JSONResponse({"detail": f"no session {session_id!r}"}, status_code=404)
        return {"session_id": session_id, "slots": await asyncio.to_thread(assistant.store.slots, session_id),
                "turns": turns}

    @app.get("/v1/candidates")
    async def candidates(limit: int = 100, x_api_key: str | None = KEY):
        if not operator(x_api_key):
            raise HTTPException(401 if api_key else 403,
                                "the candidate list is for the operator: send header X-API-Key"
                                if api_key else f"operator access is disabled: start the server with the environment "
                                                f"variable {api_key_env} set to an API key, and send it as X-API-Key")
        if not 1 <= limit <= 10_000:
            return JSONResponse({"detail": "limit must be between 1 and 10000"}, status_code=422)
        return {"candidates": await asyncio.to_thread(assistant.store.candidates, limit)}

    return app


def serve(assistant: Assistant, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
          api_key_env: str = "TUNEFORGE_API_KEY") -> None:
    import uvicorn
    uvicorn.run(create_app(assistant, api_key_env), host=host, port=port, log_level=log_level)
