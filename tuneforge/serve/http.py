"""What tuneforge's HTTP apps share (the prediction server, the dashboard, the applications): the body limit
that refuses an oversized request before reading it whole, the 422 that names the field without echoing
the caller's input, and the API-key check of admin endpoints."""

from __future__ import annotations

import hmac
import os

from fastapi import Header, HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class ErrorMessage(BaseModel):
    detail: str = Field(description="what is wrong and how to fix it")
    errors: list[dict] | None = Field(None, description="for a malformed body: every validation error")


CLOSE = {"Connection": "close"}  # with a 413 the body is left unread: uvicorn closes rather than drain it


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the limit. An HTTPException, so FastAPI's body
    parsing lets it through (anything else becomes its own 400) and the app's handler answers 413."""


class BodyLimit:
    """413 for an oversized body, never read whole (plain ASGI: no per-request middleware overhead): with a
    Content-Length over the limit before a byte is read; sent chunked (no Content-Length), as soon as the
    bytes received pass the limit, the rest left unread."""

    def __init__(self, app, max_body: int, why: str = "--max-texts x --max-chars"):
        self.app, self.max_body, self.why = app, max_body, why

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length" and (not value.isdigit() or int(value) > self.max_body):
                msg = (f"request body of {value.decode(errors='replace')} bytes is over the limit of "
                       f"{self.max_body} bytes ({self.why})")
                await JSONResponse({"detail": msg}, status_code=413, headers=CLOSE)(scope, receive, send)
                return
        received, started = 0, False

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(413, f"request body is over the limit of {self.max_body} bytes "
                                            f"({self.why}); refused after {received} bytes", headers=CLOSE)
            return message

        async def watched(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as e:  # read outside FastAPI's handlers (e.g. a plain Starlette route)
            if started:
                raise
            await JSONResponse({"detail": e.detail}, status_code=413, headers=CLOSE)(scope, receive, send)


def printable(x):
    """A validation error as JSON can carry it: the caller's input left out (it may be huge, and a lone
    surrogate in it cannot be encoded), any unencodable character (a key, a loc) replaced by '?'."""
    if isinstance(x, str):
        return x.encode("utf-8", "replace").decode("utf-8")
    if isinstance(x, dict):
        return {printable(k): printable(v) for k, v in x.items() if k != "input"}
    if isinstance(x, (list, tuple)):
        return [printable(v) for v in x]
    return x


def validation_error(exc: RequestValidationError) -> JSONResponse:
    """The 422 for a malformed request: {"detail": one sentence, "errors": every validation error}."""
    errors = printable(jsonable_encoder(exc.errors()))
    first = errors[0] if errors else {}
    loc = [str(x) for x in first.get("loc", ()) if x != "body"]
    if first.get("type") == "json_invalid":
        msg = (f"the body is not valid JSON (at character {loc[0] if loc else '?'}: "
               f"{first.get('ctx', {}).get('error', 'decode error')})")
    elif first.get("type") == "model_attributes_type" and not loc:
        # FastAPI parses JSON only when told: the usual cause is a missing header (curl -d sends a form)
        msg = "the body must be a JSON object, sent with the header Content-Type: application/json"
    else:
        msg = f"{'.'.join(loc) or 'body'}: {first.get('msg', 'invalid request')}"
    return JSONResponse({"detail": msg, "errors": errors}, status_code=422)


def admin_guard(api_key_env: str):
    """A FastAPI dependency: the request carries X-API-Key equal to $api_key_env (read once, at start-up); with
    the variable unset, admin endpoints are off (403)."""
    expected = os.environ.get(api_key_env, "")

    def check(x_api_key: str | None = Header(None, description=f"must equal ${api_key_env}")) -> None:
        if not expected:
            raise HTTPException(403, f"admin endpoints are disabled: start the server with the environment "
                                     f"variable {api_key_env} set to an API key")
        if not x_api_key:
            raise HTTPException(401, "missing X-API-Key header", headers={"WWW-Authenticate": "X-API-Key"})
        if not hmac.compare_digest(x_api_key.encode(), expected.encode()):  # constant time: no key guessing by timing
            raise HTTPException(403, "wrong API key")
    return check
